"""The spawner's half of a restore: from the next start it mounts the claim a restore made.

``workspace-admin restore`` marks the claim the server's state names as replaced
(workspace_spawner.volumes.restore); the spawner follows the mark, only to a claim
that is this user's and this volume's, and saves the new name in its state.
"""

from __future__ import annotations

import asyncio

import pytest
from test_claim_ownership import claims_mounted
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

NS = "jupyterhub"
RESTORED = "claim-alice--restored--20261201t230000z"


def claim(emulator, name: str, *, owner: str = "alice", volume: str = "home", **annotations):
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {
                    "component": "singleuser-storage",
                    USERNAME_LABEL: owner,
                    VOLUME_NAME_LABEL: volume,
                },
                "annotations": {RAW_USERNAME_ANNOTATION: owner, **annotations},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
    )


def replaced(emulator, name: str, *, by: str) -> None:
    emulator.patch(
        "persistentvolumeclaims",
        name,
        {
            "metadata": {
                "labels": {REPLACED_LABEL: "true"},
                "annotations": {REPLACED_BY_ANNOTATION: by},
            }
        },
        NS,
    )


async def test_the_next_start_mounts_the_restored_claim_and_saves_its_name(make_spawner, emulator):
    first = make_spawner()
    await asyncio.wait_for(first.start(), 30)
    await first.stop(now=True)
    state = first.get_state()
    claim(emulator, RESTORED, **{RESTORED_FROM_ANNOTATION: "claim-alice-reset-20261201t220000z"})
    replaced(emulator, "claim-alice", by=RESTORED)
    spawner = make_spawner(state=state)
    await asyncio.wait_for(spawner.start(), 30)
    assert claims_mounted(emulator, spawner) == {RESTORED}
    saved = spawner.get_state()
    assert saved["pvc_name"] == RESTORED and saved["workspace_pvcs"]["home"] == RESTORED
    assert any(
        "restored by an administrator from the snapshot claim-alice-reset-20261201t220000z" in m
        for m in messages(spawner)
    )
    await spawner.stop(now=True)
    # the old claim is left as it is: the admin deletes it (restore --confirm, purge)
    assert emulator.get("PersistentVolumeClaim", "claim-alice", NS) is not None


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
    make_spawner, emulator, target, refused
):
    claim(emulator, "claim-alice")
    if target is not None:
        claim(emulator, **target)
    replaced(emulator, "claim-alice", by=target["name"] if target else RESTORED)
    spawner = make_spawner()
    with pytest.raises(KubeError, match=refused):
        await asyncio.wait_for(spawner.start(), 30)
    assert emulator.get("Pod", spawner.pod_name, NS) is None
