"""Snapshots before resets: the VolumeSnapshot manifests and how to read them (pure).

How a reset gets its snapshot first: only ``setup-volume`` sees a user's
``.delete-volume`` (it is inside the volume), so with ``volume_snapshot_class`` set
the script refuses a reset that has no snapshot yet: it changes nothing and exits
with the line ``workspace-spawner-snapshot-needed: <why>`` as its termination
message. The spawner then removes the pod (so nothing writes to the volume), takes a
``snapshot.storage.k8s.io/v1`` VolumeSnapshot of the claim, waits until it is
``readyToUse``, and starts the pod again with the snapshot's name in
``WORKSPACE_SNAPSHOT_TAKEN``; the script then resets. When the snapshot fails or
times out, the pod starts with :data:`NO_SNAPSHOT` there instead: the script does no
reset (the marker or request stays for the next start), the volume is as it was, and
the spawn page says why.
https://kubernetes.io/docs/concepts/storage/volume-snapshots/
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..constants import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    SNAPSHOT_OF_ANNOTATION,
    SNAPSHOT_REASON_ANNOTATION,
    USERNAME_LABEL,
    VOLUME_NAME_LABEL,
)
from ..kube.selectors import label_selector

__all__ = [
    "SNAPSHOT_NEEDED_PREFIX",
    "NO_SNAPSHOT",
    "snapshot_needed_reason",
    "snapshot_env",
    "snapshot_name",
    "make_snapshot",
    "snapshot_selector",
    "snapshot_state",
    "snapshots_to_prune",
    "snapshot_rows",
]

# the termination message of setup-volume when a reset waits for a snapshot
SNAPSHOT_NEEDED_PREFIX = "workspace-spawner-snapshot-needed:"
# WORKSPACE_SNAPSHOT_TAKEN when no snapshot could be taken: no reset at this start
NO_SNAPSHOT = "-"


def snapshot_needed_reason(message: str) -> str | None:
    """The reset's reason when ``message`` is setup-volume asking for a snapshot, else None."""
    message = message.strip()
    if not message.startswith(SNAPSHOT_NEEDED_PREFIX):
        return None
    return message[len(SNAPSHOT_NEEDED_PREFIX) :].strip() or "a reset was asked for"


def snapshot_env(*, required: bool, taken: str) -> dict[str, str]:
    """The script's settings (setup-volume.sh): whether a reset needs a snapshot, the one taken."""
    return {
        "WORKSPACE_SNAPSHOT_BEFORE_RESET": "1" if required else "",
        "WORKSPACE_SNAPSHOT_TAKEN": taken,
    }


def snapshot_name(pvc_name: str, *, now: datetime) -> str:
    """``<claim>-reset-<UTC time>``: a DNS subdomain, unique per claim and second, sortable."""
    suffix = "-reset-" + now.strftime("%Y%m%dt%H%M%Sz")
    return pvc_name[: 253 - len(suffix)].rstrip("-.") + suffix


def make_snapshot(
    *, pvc: dict[str, Any], name: str, snapshot_class: str, reason: str
) -> dict[str, Any]:
    """The VolumeSnapshot of ``pvc``, labelled with its user and volume as the claim is."""
    meta = pvc["metadata"]
    labels = meta.get("labels") or {}
    return {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {
            "name": name,
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                **{k: labels[k] for k in (USERNAME_LABEL, VOLUME_NAME_LABEL) if labels.get(k)},
            },
            "annotations": {
                SNAPSHOT_OF_ANNOTATION: meta["name"],
                SNAPSHOT_REASON_ANNOTATION: reason,
            },
        },
        "spec": {
            "volumeSnapshotClassName": snapshot_class,
            "source": {"persistentVolumeClaimName": meta["name"]},
        },
    }


def snapshot_selector(*, username_label: str) -> str:
    """The label selector of a user's snapshots taken by the spawner."""
    return label_selector({MANAGED_BY_LABEL: MANAGED_BY_VALUE, USERNAME_LABEL: username_label})


def snapshot_state(snapshot: dict[str, Any] | None) -> tuple[str, str]:
    """("ready" | "failed" | "pending" | "gone", the error message)."""
    if snapshot is None:
        return "gone", "the VolumeSnapshot was deleted"
    status = snapshot.get("status") or {}
    if status.get("readyToUse") is True:
        return "ready", ""
    error = status.get("error") or {}
    if error.get("message"):
        return "failed", error["message"]
    return "pending", ""


def _of(snapshot: dict[str, Any]) -> str:
    return ((snapshot.get("metadata") or {}).get("annotations") or {}).get(
        SNAPSHOT_OF_ANNOTATION, ""
    )


def snapshots_to_prune(snapshots: list[dict[str, Any]], *, pvc_name: str, keep: int) -> list[str]:
    """The names of ``pvc_name``'s snapshots beyond the newest ``keep`` (ready ones count)."""
    mine = [s for s in snapshots if _of(s) == pvc_name and snapshot_state(s)[0] == "ready"]
    mine.sort(
        key=lambda s: (s["metadata"].get("creationTimestamp") or "", s["metadata"]["name"]),
        reverse=True,
    )
    return [s["metadata"]["name"] for s in mine[keep:]]


def snapshot_rows(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``workspace-admin snapshots`` shows, newest first."""
    rows = []
    for s in snapshots:
        meta, status = s["metadata"], s.get("status") or {}
        state, error = snapshot_state(s)
        rows.append(
            {
                "name": meta["name"],
                "pvc": _of(s)
                or ((s.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName", ""),
                "volume": (meta.get("labels") or {}).get(VOLUME_NAME_LABEL, ""),
                "state": state,
                "error": error,
                "size": status.get("restoreSize") or "",
                "created": status.get("creationTime") or meta.get("creationTimestamp") or "",
                "reason": (meta.get("annotations") or {}).get(SNAPSHOT_REASON_ANNOTATION, ""),
                "class": (s.get("spec") or {}).get("volumeSnapshotClassName") or "",
            }
        )
    rows.sort(key=lambda r: (r["created"], r["name"]), reverse=True)
    return rows
