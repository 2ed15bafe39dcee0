"""A test snapshot controller: VolumeSnapshots become readyToUse, claims restore from them.

What kubernetes-csi's snapshot-controller and a CSI driver do together, reduced to
what the spawner sees (https://kubernetes.io/docs/concepts/storage/volume-snapshots/):

- a VolumeSnapshot of a bound claim gets a VolumeSnapshotContent and, after
  ``seconds``, ``status.readyToUse: true`` with ``boundVolumeSnapshotContentName``,
  ``creationTime`` and ``restoreSize``; of a missing or unbound claim, or with a
  missing VolumeSnapshotClass, ``status.error`` instead, as the real controller;
- a claim whose ``spec.dataSource`` is a VolumeSnapshot stays Pending until the
  snapshot is ready, and is then filled from it before it binds;
- deleting a VolumeSnapshot deletes its content (deletionPolicy Delete).

``data`` copies the files (the pod runner keeps real directories per claim);
without it only the objects are emulated. Tests make snapshots fail or hang with
:meth:`SnapshotController.fail` and :meth:`SnapshotController.hold`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from .apiserver import ApiServer, now_iso
from .errors import ApiError
from .events import record_event
from .store import Change

DEFAULT_SNAPSHOT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"
_GROUP = "snapshot.storage.k8s.io"


class SnapshotData(Protocol):
    """Where the files of claims and snapshots are, for a kubelet that keeps them."""

    def snapshot(self, *, namespace: str, claim: str, content: str) -> None: ...

    def restore(self, *, content: str, namespace: str, claim: str) -> None: ...

    def remove(self, *, content: str) -> None: ...


class SnapshotController:
    def __init__(
        self, api: ApiServer, *, data: SnapshotData | None = None, seconds: float = 0.02
    ) -> None:
        self.api = api
        self.data = data
        self.seconds = seconds
        self.snapshots = api.registry.lookup("volumesnapshots")
        self.contents = api.registry.lookup("volumesnapshotcontents")
        self.classes = api.registry.lookup("volumesnapshotclasses")
        self.pvcs = api.registry.lookup("persistentvolumeclaims")
        self.failure: str | None = None
        self.held = False
        self._timers: list[asyncio.TimerHandle] = []
        api.store.listeners.append(self.on_change)
        # the provisioner asks before binding a claim restored from a snapshot
        api.bind_checks.append(self.prepare_restore)

    # -- faults -----------------------------------------------------------------------

    def fail(self, message: str | None) -> None:
        """Every snapshot taken from now on fails with ``message`` (None: they succeed again)."""
        self.failure = message

    def hold(self, held: bool = True) -> None:
        """Snapshots taken from now on never become ready (the driver hangs)."""
        self.held = held

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # -- the controller ---------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        if change.kind.key != self.snapshots.key:
            return
        meta = change.obj["metadata"]
        if change.type == "DELETED":
            self._delete_content(change.obj)
        elif change.type == "ADDED":
            self._timers.append(
                asyncio.get_running_loop().call_later(
                    self.seconds, self.reconcile, meta["namespace"], meta["name"]
                )
            )

    def _class(self, name: str | None) -> dict | None:
        for sc in self.api.store.items(self.classes):
            annotations = sc["metadata"].get("annotations") or {}
            if sc["metadata"]["name"] == name or (
                name is None and annotations.get(DEFAULT_SNAPSHOT_CLASS_ANNOTATION) == "true"
            ):
                return sc
        return None

    def _error(self, snapshot: dict, message: str) -> None:
        snapshot["status"] = {"readyToUse": False, "error": {"message": message, "time": now_iso()}}
        self.api.write(self.snapshots, snapshot)
        record_event(
            self.api,
            involved=snapshot,
            reason="SnapshotCreationFailed",
            message=message,
            type_="Warning",
            component="snapshot-controller",
        )

    def reconcile(self, namespace: str, name: str) -> None:
        snapshot = self.api.store.get(self.snapshots, namespace, name)
        if snapshot is None or (snapshot.get("status") or {}).get("readyToUse") or self.held:
            return
        spec = snapshot.get("spec") or {}
        class_name = spec.get("volumeSnapshotClassName")
        sc = self._class(class_name)
        if sc is None:
            self._error(
                snapshot,
                "Failed to get snapshot class with error "
                f'volumesnapshotclass.snapshot.storage.k8s.io "{class_name}" not found',
            )
            return
        claim = (spec.get("source") or {}).get("persistentVolumeClaimName")
        pvc = self.api.store.get(self.pvcs, namespace, claim or "")
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            self._error(
                snapshot,
                f"Failed to create snapshot: the source claim {claim} is not "
                "bound (or does not exist)",
            )
            return
        if self.failure is not None:
            self._error(snapshot, self.failure)
            return
        content_name = f"snapcontent-{snapshot['metadata']['uid']}"
        if self.data is not None:
            self.data.snapshot(namespace=namespace, claim=claim, content=content_name)
        size = ((pvc.get("status") or {}).get("capacity") or {}).get("storage", "0")
        created = now_iso()
        try:
            self.api.create(
                self.contents,
                {
                    "apiVersion": f"{_GROUP}/v1",
                    "kind": "VolumeSnapshotContent",
                    "metadata": {"name": content_name},
                    "spec": {
                        "deletionPolicy": sc.get("deletionPolicy", "Delete"),
                        "driver": sc.get("driver", ""),
                        "source": {"volumeHandle": pvc["spec"].get("volumeName", "")},
                        "volumeSnapshotClassName": sc["metadata"]["name"],
                        "volumeSnapshotRef": {
                            "kind": "VolumeSnapshot",
                            "namespace": namespace,
                            "name": name,
                            "uid": snapshot["metadata"]["uid"],
                        },
                    },
                },
            )
        except ApiError:
            pass  # already there: made by an earlier pass
        snapshot["status"] = {
            "boundVolumeSnapshotContentName": content_name,
            "creationTime": created,
            "readyToUse": True,
            "restoreSize": size,
        }
        self.api.write(self.snapshots, snapshot)

    def _delete_content(self, snapshot: dict) -> None:
        content = (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName")
        if not content or self.api.store.get(self.contents, "", content) is None:
            return
        self.api.store.remove(self.contents, "", content)
        if self.data is not None:
            self.data.remove(content=content)

    def prepare_restore(self, pvc: dict) -> str | None:
        """Before the provisioner binds ``pvc``: fill it from its snapshot, or say why not yet."""
        source = (pvc.get("spec") or {}).get("dataSource") or {}
        if source.get("kind") != "VolumeSnapshot" or source.get("apiGroup") != _GROUP:
            return None
        namespace = pvc["metadata"]["namespace"]
        snapshot = self.api.store.get(self.snapshots, namespace, source.get("name", ""))
        status = (snapshot or {}).get("status") or {}
        if not status.get("readyToUse"):
            return f'volumesnapshot "{source.get("name")}" is not ready to use (or does not exist)'
        if self.data is not None:
            self.data.restore(
                content=status["boundVolumeSnapshotContentName"],
                namespace=namespace,
                claim=pvc["metadata"]["name"],
            )
        return None


__all__ = ["SnapshotController", "SnapshotData", "DEFAULT_SNAPSHOT_CLASS_ANNOTATION"]
