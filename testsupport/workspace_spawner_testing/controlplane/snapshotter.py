"""A test snapshot controller for the real control plane, over the Kubernetes API only.

What kubernetes-csi's snapshot-controller and a CSI driver with snapshots do together,
for the control plane's host-path volumes
(https://kubernetes.io/docs/concepts/storage/volume-snapshots/):

- a VolumeSnapshot of a bound claim: the claim's PersistentVolume directory
  (``spec.hostPath.path``) is copied (``cp -a``: modes, owners, times, links, any name)
  into ``DATA/snapshots/<content>``, a VolumeSnapshotContent is created, and the
  snapshot's status says ``readyToUse: true`` with ``boundVolumeSnapshotContentName``,
  ``creationTime`` and ``restoreSize``; of a missing or unbound claim, or with a missing
  VolumeSnapshotClass, ``status.error`` instead, as the real controller writes it;
- a deleted VolumeSnapshot: its content and copy go (deletionPolicy Delete);
- a claim whose ``spec.dataSource`` is a ready VolumeSnapshot: kube-controller-manager's
  in-tree host-path provisioner refuses a dataSource ("Only CSI plugin can provision a
  claim with a datasource", pv_controller.go), so this stands in for the CSI
  provisioner: it copies the snapshot into a new directory under /tmp/hostpath_pv (where
  the host-path deleter removes it with the claim) and creates a PersistentVolume
  pre-bound to the claim (``claimRef``), which the PV controller then binds.

It polls (a few lists every 0.2 s) rather than watches: a test bed with a handful of
objects. Run by :class:`~.cluster.ControlPlane` as one more server process:
``python -m workspace_spawner_testing.controlplane.snapshotter --kubeconfig K --data D``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import time
import urllib.error
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .cluster import HOSTPATH_PV_ROOT, Client
from .snapshot_crds import GROUP

__all__ = ["Snapshotter", "DRIVER", "DEFAULT_SNAPSHOT_CLASS", "snapshot_class"]

log = logging.getLogger("snapshotter")
DRIVER = "hostpath.testbed.workspace-spawner"
DEFAULT_SNAPSHOT_CLASS = "standard-snapshots"  # the emulator's too
_V1 = f"/apis/{GROUP}/v1"
_MERGE = "application/merge-patch+json"


def snapshot_class(name: str = DEFAULT_SNAPSHOT_CLASS) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {
            "name": name,
            "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"},
        },
        "driver": DRIVER,
        "deletionPolicy": "Delete",
    }


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Snapshotter:
    def __init__(self, client: Client, *, data: Path) -> None:
        self.client = client
        self.data = data

    # -- the loop ---------------------------------------------------------------------

    def run_forever(self, *, interval: float = 0.2) -> None:
        while True:
            try:
                self.reconcile()
            except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
                # URLError (HTTPError) is an OSError: the API away, a conflict; tried again
                log.warning("reconcile failed (retrying): %s", e)
            time.sleep(interval)

    def reconcile(self) -> None:
        snapshots = self.client.request("GET", f"{_V1}/volumesnapshots")["items"]
        for snapshot in snapshots:
            status = snapshot.get("status") or {}
            if not status.get("readyToUse") and not status.get("error"):
                self.take(snapshot)
        self.collect(snapshots)
        self.restore_claims(snapshots)

    # -- snapshots --------------------------------------------------------------------

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            return self.client.request("GET", path)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def _status(self, snapshot: dict[str, Any], status: dict[str, Any]) -> None:
        meta = snapshot["metadata"]
        self.client.request(
            "PATCH",
            f"{_V1}/namespaces/{meta['namespace']}/volumesnapshots/{meta['name']}/status",
            {"status": status},
            content_type=_MERGE,
        )

    def _error(self, snapshot: dict[str, Any], message: str) -> None:
        log.info("snapshot %s: %s", snapshot["metadata"]["name"], message)
        self._status(snapshot, {"readyToUse": False, "error": {"message": message, "time": _now()}})

    def take(self, snapshot: dict[str, Any]) -> None:
        meta, spec = snapshot["metadata"], snapshot.get("spec") or {}
        class_name = spec.get("volumeSnapshotClassName") or DEFAULT_SNAPSHOT_CLASS
        if self._get(f"{_V1}/volumesnapshotclasses/{class_name}") is None:
            self._error(
                snapshot,
                "Failed to get snapshot class with error "
                f'volumesnapshotclass.snapshot.storage.k8s.io "{class_name}" not found',
            )
            return
        claim_name = (spec.get("source") or {}).get("persistentVolumeClaimName", "")
        claim = self._get(
            f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{claim_name}"
        )
        volume = self._volume_of(claim)
        if volume is None:
            self._error(
                snapshot,
                f"Failed to create snapshot: the source claim {claim_name} is not bound "
                "(or does not exist)",
            )
            return
        content = f"snapcontent-{meta['uid']}"
        target = self.data / "snapshots" / content
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["cp", "-a", "--", f"{volume['spec']['hostPath']['path']}/.", str(target)], check=True
        )
        self._create_content(snapshot, content=content, class_name=class_name, volume=volume)
        self._status(
            snapshot,
            {
                "boundVolumeSnapshotContentName": content,
                "creationTime": _now(),
                "readyToUse": True,
                "restoreSize": volume["spec"]["capacity"]["storage"],
            },
        )
        log.info("snapshot %s/%s ready: %s", meta["namespace"], meta["name"], content)

    def _volume_of(self, claim: dict[str, Any] | None) -> dict[str, Any] | None:
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            return None
        volume = self._get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
        return volume if volume and "hostPath" in volume["spec"] else None

    def _create_content(
        self, snapshot: dict[str, Any], *, content: str, class_name: str, volume: dict[str, Any]
    ) -> None:
        meta = snapshot["metadata"]
        body = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": content},
            "spec": {
                "deletionPolicy": "Delete",
                "driver": DRIVER,
                "source": {"volumeHandle": volume["metadata"]["name"]},
                "volumeSnapshotClassName": class_name,
                "volumeSnapshotRef": {
                    "kind": "VolumeSnapshot",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        try:
            self.client.request("POST", f"{_V1}/volumesnapshotcontents", body)
        except urllib.error.HTTPError as e:
            if e.code != 409:  # made by an earlier pass
                raise

    def collect(self, snapshots: list[dict[str, Any]]) -> None:
        """Contents whose VolumeSnapshot is gone go, with their copy (deletionPolicy Delete)."""
        alive = {s["metadata"]["uid"] for s in snapshots}
        for content in self.client.request("GET", f"{_V1}/volumesnapshotcontents")["items"]:
            ref = content["spec"].get("volumeSnapshotRef") or {}
            if content["spec"].get("driver") != DRIVER or ref.get("uid") in alive:
                continue
            name = content["metadata"]["name"]
            try:
                self.client.request("DELETE", f"{_V1}/volumesnapshotcontents/{name}")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
            shutil.rmtree(self.data / "snapshots" / name, ignore_errors=True)

    # -- restores -----------------------------------------------------------------------

    def restore_claims(self, snapshots: list[dict[str, Any]]) -> None:
        ready = {
            (s["metadata"]["namespace"], s["metadata"]["name"]): s["status"]
            for s in snapshots
            if (s.get("status") or {}).get("readyToUse")
        }
        volumes = self.client.request("GET", "/api/v1/persistentvolumes")["items"]
        claimed = {((v["spec"].get("claimRef") or {}).get("uid")) for v in volumes}
        for claim in self.client.request("GET", "/api/v1/persistentvolumeclaims")["items"]:
            meta, spec = claim["metadata"], claim["spec"]
            source = spec.get("dataSource") or {}
            if (
                source.get("kind") != "VolumeSnapshot"
                or source.get("apiGroup") != GROUP
                or (claim.get("status") or {}).get("phase") == "Bound"
                or meta["uid"] in claimed
            ):
                continue
            status = ready.get((meta["namespace"], source.get("name")))
            if status is not None:
                self._provision(claim, content=status["boundVolumeSnapshotContentName"])

    def _provision(self, claim: dict[str, Any], *, content: str) -> None:
        meta, spec = claim["metadata"], claim["spec"]
        path = HOSTPATH_PV_ROOT / f"restored-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        subprocess.run(
            ["cp", "-a", "--", f"{self.data / 'snapshots' / content}/.", str(path)], check=True
        )
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"pvc-{meta['uid']}"},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": spec.get("storageClassName") or "",
                "hostPath": {"path": str(path), "type": ""},
                "claimRef": {
                    "kind": "PersistentVolumeClaim",
                    "apiVersion": "v1",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        try:
            self.client.request("POST", "/api/v1/persistentvolumes", body)
        except urllib.error.HTTPError as e:
            shutil.rmtree(path, ignore_errors=True)
            if e.code != 409:
                raise
            return
        log.info(
            "claim %s/%s restored from %s into %s", meta["namespace"], meta["name"], content, path
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    Snapshotter(Client.from_kubeconfig(args.kubeconfig), data=args.data).run_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
