"""The spawner's half of a restore: from the next start it mounts the claim a restore made.

``workspace-admin restore`` marks the claim the server's state names as replaced
(workspace_spawner.volumes.restore); the spawner follows the mark, only to a claim
that is this user's and this volume's, and saves the new name in its state. Through
the Kubernetes API only: the emulator and make test-cluster run these.
"""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client
from test_volumes_lifecycle import messages

from workspace_spawner.constants import (
    RAW_USERNAME_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    REPLACED_LABEL,
    RESTORED_FROM_ANNOTATION,
    USERNAME_LABEL,
    VOLUME_NAME_LABEL,
)
from workspace_spawner.kube import KubeError

RESTORED = "claim-alice--restored--20261201t230000z"


async def claim(kube, name: str, *, owner: str = "alice", volume: str = "home", **annotations):
    """A claim as the spawner (or a restore) labels it, made by the admin."""
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "labels": {
                "component": "singleuser-storage",
                USERNAME_LABEL: owner,
                VOLUME_NAME_LABEL: volume,
            },
            "annotations": {RAW_USERNAME_ANNOTATION: owner, **annotations},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    async with kube.api_client(admin=True) as api:
        await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(kube.namespace, body)


async def replaced(kube, name: str, *, by: str) -> None:
    patch = {
        "metadata": {
            "labels": {REPLACED_LABEL: "true"},
            "annotations": {REPLACED_BY_ANNOTATION: by},
        }
    }
    async with kube.api_client(admin=True) as api:
        await client.CoreV1Api(api).patch_namespaced_persistent_volume_claim(
            name, kube.namespace, patch
        )


async def read(kube, kind: str, name: str):
    async with kube.api_client(admin=True) as api:
        core = client.CoreV1Api(api)
        read = (
            core.read_namespaced_pod
            if kind == "pod"
            else core.read_namespaced_persistent_volume_claim
        )
        try:
            return api.sanitize_for_serialization(await read(name, kube.namespace))
        except client.exceptions.ApiException as e:
            if e.status == 404:
                return None
            raise


def claims_mounted(pod) -> set[str]:
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }


async def test_the_next_start_mounts_the_restored_claim_and_saves_its_name(make_spawner, kube):
    first = make_spawner(storage_capacity="1Gi")
    await asyncio.wait_for(first.start(), 60)
    await first.stop(now=True)
    state = first.get_state()
    await claim(kube, RESTORED, **{RESTORED_FROM_ANNOTATION: "claim-alice-reset-20261201t220000z"})
    await replaced(kube, "claim-alice", by=RESTORED)
    spawner = make_spawner(state=state, storage_capacity="1Gi")
    await asyncio.wait_for(spawner.start(), 60)
    assert claims_mounted(await read(kube, "pod", spawner.pod_name)) == {RESTORED}
    saved = spawner.get_state()
    assert saved["pvc_name"] == RESTORED and saved["workspace_pvcs"]["home"] == RESTORED
    assert any(
        "restored by an administrator from the snapshot claim-alice-reset-20261201t220000z" in m
        for m in messages(spawner)
    )
    await spawner.stop(now=True)
    # the old claim is left as it is: the admin deletes it (restore --confirm, purge)
    assert await read(kube, "pvc", "claim-alice") is not None


@pytest.mark.parametrize(
    ("target", "refused"),
    [
        # a mark pointing at another user's claim: never mounted
        ({"name": "claim-bob", "owner": "bob"}, "that claim belongs to bob"),
        # at another of the user's volumes
        (
            {"name": "claim-alice--data", "volume": "data"},
            "holds the workspace volume 'data', not 'home'",
        ),
        # at nothing: the old data is not mounted silently instead
        (None, f"restored into the claim {RESTORED}, which does not exist"),
    ],
    ids=["another-user", "another-volume", "missing"],
)
async def test_a_mark_to_a_claim_that_is_not_this_volumes_fails_the_start(
    make_spawner, kube, target, refused
):
    await claim(kube, "claim-alice")
    if target is not None:
        await claim(kube, **target)
    await replaced(kube, "claim-alice", by=target["name"] if target else RESTORED)
    spawner = make_spawner(storage_capacity="1Gi")
    with pytest.raises(KubeError, match=refused):
        await asyncio.wait_for(spawner.start(), 60)
    assert await read(kube, "pod", spawner.pod_name) is None


@pytest.mark.parametrize("retention", ["0", "7d"], ids=["deleted", "kept"])
async def test_a_user_deleted_before_the_swap_takes_the_restored_claim_along(
    make_spawner, kube, retention
):
    from workspace_spawner.constants import DELETED_LABEL

    await claim(kube, "claim-alice")
    await claim(kube, RESTORED)
    await replaced(kube, "claim-alice", by=RESTORED)
    await claim(kube, "claim-bob", owner="bob")
    await claim(kube, "claim-carol", owner="carol")
    await replaced(kube, "claim-carol", by="claim-bob")  # a mark at another user's claim
    await make_spawner(storage_capacity="1Gi", volume_retention=retention).delete_forever()
    await make_spawner("carol", storage_capacity="1Gi", volume_retention=retention).delete_forever()
    for name in ("claim-alice", RESTORED, "claim-carol"):
        if retention == "0":
            deadline = asyncio.get_running_loop().time() + 30
            while await read(kube, "pvc", name) is not None:
                assert asyncio.get_running_loop().time() < deadline, name
                await asyncio.sleep(0.1)
        else:
            assert (await read(kube, "pvc", name))["metadata"]["labels"][DELETED_LABEL] == "true"
    bob = await read(kube, "pvc", "claim-bob")
    assert bob is not None and bob["metadata"].get("deletionTimestamp") is None
    assert DELETED_LABEL not in bob["metadata"]["labels"]
