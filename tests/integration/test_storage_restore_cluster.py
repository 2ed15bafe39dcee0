"""workspace-admin restore on the real control plane: its requests as the hub's ServiceAccount.

The command line runs through its entry point against a real JupyterHub, with the
shipped RBAC only (helm-values/), and kube-apiserver's validation of the claim it makes;
the test snapshot controller (controlplane/snapshotter.py) copies the files. The users
never start a server here: the test bed's node agent runs no container to answer the
hub's HTTP check, so the swap at the next start is tested in test_storage_restore_spawner.py.
"""

from __future__ import annotations

import os
import time
import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_admin_cli import Hub, _stderr, hub_process

from workspace_spawner.constants import (
    RAW_USERNAME_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    USERNAME_LABEL,
    VOLUME_NAME_LABEL,
)

pytestmark = pytest.mark.real_cluster

HELM_VALUES = Path(__file__).resolve().parents[2] / "helm-values"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, object, str]]:
    from workspace_spawner_testing.controlplane import Client, grant_hub

    admin = Client.from_kubeconfig(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"])
    namespace = f"wsrestore-{uuid.uuid4().hex[:8]}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    grant_hub(admin, helm_values=HELM_VALUES, namespace=namespace)
    hub_kubeconfig = Path(os.environ["WORKSPACE_SPAWNER_TEST_KUBECONFIG"])
    try:
        for hub in hub_process(
            tmp_path_factory.mktemp("restore-cluster-hub"),
            hub_kubeconfig=hub_kubeconfig,
            cli_kubeconfig=hub_kubeconfig,  # the hub's ServiceAccount: the shipped rights
            namespace=namespace,
        ):
            yield hub, admin, namespace
    finally:
        try:
            admin.request("DELETE", f"/api/v1/namespaces/{namespace}")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise


def wait_for(get, ok, *, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not ok(value := get()):
        assert time.monotonic() < deadline, value
        time.sleep(0.1)
    return value


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_restore_makes_the_claim_from_the_snapshot_with_the_shipped_rights(real):
    hub, admin, ns = real
    hub.add_users("rc-u")
    pvcs = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    admin.request(
        "POST",
        pvcs,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": "claim-rc-u",
                "labels": {
                    "component": "singleuser-storage",
                    USERNAME_LABEL: "rc-u",
                    VOLUME_NAME_LABEL: "home",
                },
                "annotations": {RAW_USERNAME_ANNOTATION: "rc-u"},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    old = wait_for(
        lambda: admin.request("GET", f"{pvcs}/claim-rc-u"),
        lambda c: c["status"].get("phase") == "Bound",
    )
    home = Path(
        admin.request("GET", f"/api/v1/persistentvolumes/{old['spec']['volumeName']}")["spec"][
            "hostPath"
        ]["path"]
    )
    (home / "work").mkdir()
    (home / "work" / "notes.txt").write_bytes(os.urandom(1024))
    snapshotted = files(home)
    snapshots = f"/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots"
    admin.request(
        "POST",
        snapshots,
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": "rc-snap", "labels": {USERNAME_LABEL: "rc-u"}},
            "spec": {
                "volumeSnapshotClassName": "standard-snapshots",
                "source": {"persistentVolumeClaimName": "claim-rc-u"},
            },
        },
    )
    wait_for(
        lambda: admin.request("GET", f"{snapshots}/rc-snap"),
        lambda s: (s.get("status") or {}).get("readyToUse"),
    )
    (home / "work" / "notes.txt").write_text("after the reset")
    now = files(home)

    dry = hub.run("restore", "rc-u", "--snapshot", "rc-snap", "--dry-run")
    assert dry.returncode == 0, _stderr(dry)
    assert [p["metadata"]["name"] for p in admin.request("GET", pvcs)["items"]] == ["claim-rc-u"]

    result = hub.run("restore", "rc-u", "--snapshot", "rc-snap", "--json")
    assert result.returncode == 0, _stderr(result)
    (row,) = result.json
    new = admin.request("GET", f"{pvcs}/{row['pvc']}")
    assert new["status"]["phase"] == "Bound"
    copy = Path(
        admin.request("GET", f"/api/v1/persistentvolumes/{new['spec']['volumeName']}")["spec"][
            "hostPath"
        ]["path"]
    )
    assert files(copy) == snapshotted
    assert files(home) == now
    marked = admin.request("GET", f"{pvcs}/claim-rc-u")
    assert marked["metadata"]["annotations"][REPLACED_BY_ANNOTATION] == row["pvc"]
