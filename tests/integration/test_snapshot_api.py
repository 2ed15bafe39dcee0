"""The VolumeSnapshot API the spawner and workspace-admin use, on the emulator and the real
control plane (its CRDs and test snapshot controller, controlplane/snapshotter.py).

As the hub's ServiceAccount (the shipped RBAC): a snapshot of a bound claim becomes
readyToUse, a failing one says why, and a claim made from a ready snapshot binds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from test_controlplane import wait_for

from workspace_spawner.kube.snapshots import snapshot_api_served

GROUP, VERSION = "snapshot.storage.k8s.io", "v1"


def pvc_body(name: str, *, snapshot: str | None = None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if snapshot:
        spec["dataSource"] = {"apiGroup": GROUP, "kind": "VolumeSnapshot", "name": snapshot}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }


def snapshot_body(name: str, *, claim: str, snapshot_class: str = "standard-snapshots") -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name},
        "spec": {
            "volumeSnapshotClassName": snapshot_class,
            "source": {"persistentVolumeClaimName": claim},
        },
    }


class Api:
    def __init__(self, api, namespace: str) -> None:
        self.core, self.custom, self.ns = (
            client.CoreV1Api(api),
            client.CustomObjectsApi(api),
            namespace,
        )

    async def claim(self, name: str, *, snapshot: str | None = None) -> None:
        await self.core.create_namespaced_persistent_volume_claim(
            self.ns, pvc_body(name, snapshot=snapshot)
        )

    async def bound(self, name: str):
        pvc = await self.core.read_namespaced_persistent_volume_claim(name, self.ns)
        return pvc if pvc.status.phase == "Bound" else None

    async def snapshot(self, name: str, **kwargs) -> None:
        await self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.ns, "volumesnapshots", snapshot_body(name, **kwargs)
        )

    async def settled(self, name: str):
        found = await self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.ns, "volumesnapshots", name
        )
        status = found.get("status") or {}
        return status if status.get("readyToUse") or status.get("error") else None


async def test_a_snapshot_of_a_bound_claim_becomes_ready_and_a_claim_restores_from_it(kube):
    async with kube.api_client() as api:
        assert await snapshot_api_served(api=client.CoreV1Api(api))
        hub = Api(api, kube.namespace)
        await hub.claim("snap-source")
        await wait_for(lambda: hub.bound("snap-source"))
        await hub.snapshot("snap-1", claim="snap-source")
        status = await wait_for(lambda: hub.settled("snap-1"))
        assert status["readyToUse"] is True, status
        assert status["boundVolumeSnapshotContentName"] and status["creationTime"]
        assert status["restoreSize"] == "1Gi"
        await hub.claim("snap-restored", snapshot="snap-1")
        restored = await wait_for(lambda: hub.bound("snap-restored"))
        assert restored.spec.data_source.name == "snap-1"


@pytest.mark.parametrize(
    ("claim", "snapshot_class", "error"),
    [
        ("no-such-claim", "standard-snapshots", "the source claim no-such-claim is not bound"),
        ("snap-source2", "no-such-class", '"no-such-class" not found'),
    ],
    ids=["missing-claim", "missing-class"],
)
async def test_a_snapshot_that_cannot_be_taken_says_why(kube, claim, snapshot_class, error):
    async with kube.api_client() as api:
        hub = Api(api, kube.namespace)
        if claim == "snap-source2":
            await hub.claim(claim)
            await wait_for(lambda: hub.bound(claim))
        await hub.snapshot("snap-bad", claim=claim, snapshot_class=snapshot_class)
        status = await wait_for(lambda: hub.settled("snap-bad"))
        assert status["readyToUse"] is False and error in status["error"]["message"]


@pytest.mark.real_cluster
async def test_on_the_real_control_plane_the_restored_volume_holds_the_snapshots_files(kube):
    # the emulator's pod runner checks the same (test_storage_podrunner.py, root only)
    async with kube.api_client(admin=True) as api:
        admin = Api(api, kube.namespace)
        await admin.claim("data-source")
        source = await wait_for(lambda: admin.bound("data-source"))
        pv = await admin.core.read_persistent_volume(source.spec.volume_name)
        home = Path(pv.spec.host_path.path)
        (home / "notebooks").mkdir(parents=True, exist_ok=True)
        (home / "notebooks" / "a.ipynb").write_bytes(os.urandom(2048))
        (home / "link").symlink_to("notebooks/a.ipynb")
        before = {
            p.relative_to(home): p.read_bytes()
            for p in home.rglob("*")
            if p.is_file() and not p.is_symlink()
        }
        await admin.snapshot("data-snap", claim="data-source")
        assert (await wait_for(lambda: admin.settled("data-snap")))["readyToUse"] is True
        (home / "notebooks" / "a.ipynb").write_text("after the reset")
        await admin.claim("data-restored", snapshot="data-snap")
        restored = await wait_for(lambda: admin.bound("data-restored"))
        pv = await admin.core.read_persistent_volume(restored.spec.volume_name)
        copy = Path(pv.spec.host_path.path)
        after = {
            p.relative_to(copy): p.read_bytes()
            for p in copy.rglob("*")
            if p.is_file() and not p.is_symlink()
        }
        assert after == before
        assert os.readlink(copy / "link") == "notebooks/a.ipynb"
