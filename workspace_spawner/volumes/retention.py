"""Retention: a deleted user's claims are kept, labelled, for ``volume_retention``, then purged.

JupyterHub calls ``Spawner.delete_forever()`` when a user is deleted (by an admin, or
by jupyterhub-idle-culler with ``--cull-users``); KubeSpawner then deletes the claim
and, with the usual ``reclaimPolicy: Delete``, the data. With a retention period the
claim stays instead, *detached* from the user: the label
:data:`~workspace_spawner.constants.DELETED_LABEL` marks it, the username label moves
to :data:`~workspace_spawner.constants.DELETED_USERNAME_LABEL` (so label selectors
for the user's live volumes no longer match it), and the annotation
:data:`~workspace_spawner.constants.PURGE_AFTER_ANNOTATION` says when
``workspace-admin purge`` may delete it. A user of the same name who starts again
before then adopts the claim by its name, which takes the marks off.

Pure functions: claims (dicts) and times in, patches and answers out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ..constants import (
    DELETED_AT_ANNOTATION,
    DELETED_LABEL,
    DELETED_USERNAME_LABEL,
    PURGE_AFTER_ANNOTATION,
    USERNAME_LABEL,
)

__all__ = [
    "parse_duration",
    "format_duration",
    "iso",
    "parse_iso",
    "retain_patch",
    "reclaim_patch",
    "is_retained",
    "purge_after",
    "is_expired",
]

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int) -> int:
    """Seconds in a duration such as ``7d``, ``12h``, ``1w2d``, ``90m`` or ``0``."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    value = str(text).strip().lower()
    if value.isdigit():
        return int(value)
    pos, total = 0, 0
    for match in _DURATION.finditer(value):
        if value[pos : match.start()].strip():
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not value or pos == 0 or value[pos:].strip():
        raise ValueError(
            f"{text!r} is not a duration: write a number with a unit, such as 7d, 12h, 1w2d or "
            "90m (s, m, h, d, w), or 0 for no retention"
        )
    return total


def format_duration(seconds: int) -> str:
    """``7d``, ``1d12h``, ``90s``: the largest units first."""
    if seconds <= 0:
        return "0"
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def iso(moment: datetime) -> str:
    """``2026-12-01T19:53:00Z``: the form Kubernetes writes timestamps in."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def retain_patch(pvc: dict[str, Any], *, now: datetime, retention: int) -> dict[str, Any]:
    """The strategic merge patch that marks ``pvc`` deleted, purgeable from ``now + retention``."""
    labels = (pvc.get("metadata") or {}).get("labels") or {}
    new_labels: dict[str, Any] = {DELETED_LABEL: "true", USERNAME_LABEL: None}
    if labels.get(USERNAME_LABEL):
        new_labels[DELETED_USERNAME_LABEL] = labels[USERNAME_LABEL]
    return {
        "metadata": {
            "labels": new_labels,
            "annotations": {
                DELETED_AT_ANNOTATION: iso(now),
                PURGE_AFTER_ANNOTATION: iso(now + timedelta(seconds=retention)),
            },
        }
    }


def reclaim_patch(pvc: dict[str, Any], *, username_label: str) -> dict[str, Any]:
    """The patch that gives a retained claim back to its user: the marks off, the label back."""
    return {
        "metadata": {
            "labels": {
                DELETED_LABEL: None,
                DELETED_USERNAME_LABEL: None,
                USERNAME_LABEL: username_label or None,
            },
            "annotations": {DELETED_AT_ANNOTATION: None, PURGE_AFTER_ANNOTATION: None},
        }
    }


def is_retained(pvc: dict[str, Any]) -> bool:
    return ((pvc.get("metadata") or {}).get("labels") or {}).get(DELETED_LABEL) == "true"


def purge_after(pvc: dict[str, Any]) -> datetime | None:
    """When the retained claim may be purged; None if not retained or the time is unreadable."""
    if not is_retained(pvc):
        return None
    return parse_iso(
        ((pvc.get("metadata") or {}).get("annotations") or {}).get(PURGE_AFTER_ANNOTATION)
    )


def is_expired(pvc: dict[str, Any], *, now: datetime) -> bool:
    """Retained and past its purge time. A claim whose time is missing or unreadable never is:
    a mark written by hand badly must not delete data."""
    moment = purge_after(pvc)
    return moment is not None and moment <= now
