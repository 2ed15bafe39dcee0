"""Restore from a snapshot: a new claim made from a VolumeSnapshot takes the old one's place.

``workspace-admin restore USER --snapshot NAME`` (the server stopped) makes a claim whose
``spec.dataSource`` is the snapshot, so the provisioner fills it with the snapshot's data
(https://kubernetes.io/docs/concepts/storage/persistent-volumes/#volume-snapshot-and-restore-volume-from-snapshot-support),
waits until it is bound, and only then marks the claim the server's state names as
replaced by it (:data:`~workspace_spawner.constants.REPLACED_BY_ANNOTATION`). The hub's
REST API cannot write a server's state, so the swap goes through it the only way there
is: at the next start the spawner reads the claim its state names, finds the mark,
mounts the new claim instead (after the ownership checks every claim gets) and saves
its name in the state. The old claim stays, marked, until ``restore --confirm`` or
``purge`` deletes it; both do so only once the saved state no longer names it.

Pure functions: claims and snapshots (dicts) in, manifests, patches and answers out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ..constants import (
    PURGE_AFTER_ANNOTATION,
    RAW_USERNAME_ANNOTATION,
    REPLACED_AT_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    REPLACED_LABEL,
    REPLACED_REASON_ANNOTATION,
    RESTORED_FROM_ANNOTATION,
    USERNAME_LABEL,
    VOLUME_NAME_LABEL,
)
from ..kube.snapshots import SNAPSHOT_GROUP
from ..quantity import QuantityError, parse_bytes
from .manifests import MAX_PVC_NAME, fit_name
from .ownership import claim_owner, foreign_claim_message
from .retention import iso, parse_iso

__all__ = [
    "restored_claim_name",
    "restore_size",
    "make_restored_pvc",
    "replaced_patch",
    "marks_as_in",
    "replacement",
    "is_replaced",
    "replaced_expired",
    "snapshot_refusal",
]

# `<claim>--restored--<UTC time>`: "--" is never in a KubeSpawner safe slug, so no user's
# derived claim name is ever one of these; a restore of a restored claim replaces the time
_RESTORED = re.compile(r"^(?P<base>.+)--restored--\d{8}t\d{6}z$")


def restored_claim_name(current: str, *, now: datetime) -> str:
    """The name of a claim restored in place of ``current``: ``<base>--restored--<time>``."""
    match = _RESTORED.match(current)
    base = match.group("base") if match else current
    return fit_name(f"{base}--restored--{now:%Y%m%dt%H%M%Sz}", max_length=MAX_PVC_NAME)


def restore_size(*, requested: str, snapshot_size: str) -> str:
    """The larger of the old claim's request and the snapshot's ``restoreSize``.

    A claim made from a snapshot must ask for at least its restoreSize, or the
    provisioner refuses it.
    """
    try:
        if snapshot_size and parse_bytes(snapshot_size) > parse_bytes(requested):
            return snapshot_size
    except QuantityError:
        return requested
    return requested


def make_restored_pvc(
    *, old: dict[str, Any], name: str, snapshot: str, size: str
) -> dict[str, Any]:
    """The new claim: the old one's labels, owner, class, modes, filled from ``snapshot``."""
    meta, spec = old["metadata"], old.get("spec") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != REPLACED_LABEL}
    annotations = {RESTORED_FROM_ANNOTATION: snapshot}
    owner = (meta.get("annotations") or {}).get(RAW_USERNAME_ANNOTATION)
    if owner:
        annotations[RAW_USERNAME_ANNOTATION] = owner
    new_spec: dict[str, Any] = {
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "resources": {"requests": {"storage": size}},
        "dataSource": {"apiGroup": SNAPSHOT_GROUP, "kind": "VolumeSnapshot", "name": snapshot},
    }
    for key in ("storageClassName", "volumeMode"):
        if spec.get(key):
            new_spec[key] = spec[key]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": new_spec,
    }


def replaced_patch(*, by: str, now: datetime, reason: str, retention: int) -> dict[str, Any]:
    """The merge patch that marks a claim replaced by ``by``, purgeable from now + retention."""
    return {
        "metadata": {
            "labels": {REPLACED_LABEL: "true"},
            "annotations": {
                REPLACED_BY_ANNOTATION: by,
                REPLACED_AT_ANNOTATION: iso(now),
                REPLACED_REASON_ANNOTATION: reason,
                PURGE_AFTER_ANNOTATION: iso(now + timedelta(seconds=max(retention, 0))),
            },
        }
    }


def marks_as_in(pvc: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that puts a claim's restore marks back as they are in ``pvc``."""
    meta = pvc.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    keys = replaced_patch(by="", now=datetime.now(timezone.utc), reason="", retention=0)
    return {
        "metadata": {
            "labels": {k: labels.get(k) for k in keys["metadata"]["labels"]},
            "annotations": {k: annotations.get(k) for k in keys["metadata"]["annotations"]},
        }
    }


def is_replaced(pvc: dict[str, Any]) -> bool:
    return ((pvc.get("metadata") or {}).get("labels") or {}).get(REPLACED_LABEL) == "true"


def replacement(pvc: dict[str, Any]) -> str | None:
    """The claim a restore put in this one's place, or None."""
    if not is_replaced(pvc):
        return None
    return ((pvc["metadata"].get("annotations") or {}).get(REPLACED_BY_ANNOTATION)) or None


def replaced_expired(pvc: dict[str, Any], *, now: datetime) -> bool:
    """Replaced and past its purge time (a missing or unreadable time never is)."""
    if not is_replaced(pvc):
        return False
    moment = parse_iso((pvc["metadata"].get("annotations") or {}).get(PURGE_AFTER_ANNOTATION))
    return moment is not None and moment <= now


def _is_positively_theirs(pvc: dict[str, Any], *, username: str, slugs: set[str]) -> bool:
    raw, label = claim_owner(pvc)
    return raw == username if raw is not None else label in slugs


def snapshot_refusal(
    *,
    snapshot: dict[str, Any],
    source: dict[str, Any] | None,
    username: str,
    slugs: set[str],
    volume: str,
) -> str | None:
    """Why ``snapshot`` must not be restored into ``username``'s ``volume``; None if it may.

    A user never gets another's data: the claim the snapshot was taken of must be this
    user's (its owner marks, as the spawner checks them), or, when that claim is gone,
    the snapshot's own username label must be this user's. The volume must match too.
    """
    meta, spec = snapshot["metadata"], snapshot.get("spec") or {}
    name = meta["name"]
    claim = (spec.get("source") or {}).get("persistentVolumeClaimName")
    if not claim:
        return (
            f"VolumeSnapshot {name} was not taken of a claim (no spec.source."
            "persistentVolumeClaimName), so whose data it holds cannot be told: restore it "
            "by hand if you are sure"
        )
    label = (meta.get("labels") or {}).get(USERNAME_LABEL)
    if label is not None and label not in slugs:
        return f"VolumeSnapshot {name} belongs to another user (label {USERNAME_LABEL}={label})"
    if source is not None:
        foreign = foreign_claim_message(source, username=username, slugs=slugs, volume=volume)
        if foreign is not None or not _is_positively_theirs(source, username=username, slugs=slugs):
            return (
                f"VolumeSnapshot {name} was taken of the claim {claim}, which is not "
                f"{username}'s: it is never restored into {username}'s volume"
            )
    elif label is None:
        return (
            f"VolumeSnapshot {name} was taken of the claim {claim}, which no longer exists, and "
            f"has no {USERNAME_LABEL} label, so it cannot be told to be {username}'s"
        )
    for what, obj in (("VolumeSnapshot", snapshot), ("its claim", source or {})):
        other = ((obj.get("metadata") or {}).get("labels") or {}).get(VOLUME_NAME_LABEL)
        if other and other != volume:
            return (
                f"{what} {name if obj is snapshot else claim} holds the volume {other!r}, "
                f"not {volume!r}: pass --volume {other}"
            )
    return None
