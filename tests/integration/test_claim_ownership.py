"""A claim found by name is mounted only if it is the user's own, or nobody's (issue 11)."""

from __future__ import annotations

import asyncio

import pytest

from workspace_spawner.kube import KubeError

NS = "jupyterhub"


def make_claim(emulator, name: str, *, label: str | None = None, owner: str | None = None) -> None:
    meta: dict = {"name": name, "namespace": NS, "labels": {}, "annotations": {}}
    if label is not None:
        meta["labels"]["hub.jupyter.org/username"] = label
    if owner is not None:
        meta["annotations"]["hub.jupyter.org/username"] = owner
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
    )


def claims_mounted(emulator, spawner) -> set[str]:
    pod = emulator.get("Pod", spawner.pod_name, NS)
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }


@pytest.mark.parametrize(
    "username, label, owner, refused_for",
    [
        # made by KubeSpawner 7 for bob: label and raw-name annotation
        ("alice", "bob", "bob", "bob"),
        # made by KubeSpawner < 7 for bob: the label only
        ("alice", "bob", None, "the user whose name label is 'bob'"),
        # the label fits but the annotation names someone else
        ("alice", "alice", "Alice", "Alice"),
    ],
)
async def test_a_claim_labelled_for_another_user_is_never_mounted(
    make_spawner, emulator, username, label, owner, refused_for
):
    make_claim(emulator, f"claim-{username}", label=label, owner=owner)
    spawner = make_spawner(username)
    with pytest.raises(KubeError) as e:
        await asyncio.wait_for(spawner.start(), 30)
    message = str(e.value)
    assert f"claim claim-{username} in {NS}" in message
    assert f"belongs to {refused_for}" in message
    assert "An admin can" in message and "pvc_name_template" in message
    assert emulator.list("Pod", NS) == []
    assert "workspace_pvcs" not in spawner.get_state()


@pytest.mark.parametrize(
    "username, label, owner",
    [
        # made by an admin by hand
        ("alice", None, None),
        # KubeSpawner 7's own labels
        ("alice", "alice", "alice"),
        # KubeSpawner < 7: the "escape" slug of alice-x is alice-2dx
        ("alice-x", "alice-2dx", None),
    ],
)
async def test_an_unlabelled_or_own_claim_is_adopted(
    make_spawner, emulator, username, label, owner
):
    make_claim(emulator, f"claim-{username}", label=label, owner=owner)
    spawner = make_spawner(username)
    await asyncio.wait_for(spawner.start(), 30)
    assert f"claim-{username}" in claims_mounted(emulator, spawner)
    assert len(emulator.list("PersistentVolumeClaim", NS)) == 1
    await spawner.stop(now=True)


async def test_the_saved_name_wins_but_is_still_checked(make_spawner, emulator):
    make_claim(emulator, "home-of-alice", label="alice", owner="alice")
    saved = {"workspace_pvcs": {"home": "home-of-alice"}, "pvc_name": "home-of-alice"}
    spawner = make_spawner("alice", state=saved)
    await asyncio.wait_for(spawner.start(), 30)
    assert claims_mounted(emulator, spawner) == {"home-of-alice"}
    await spawner.stop(now=True)
    # the claim was handed to bob since: alice's saved name no longer gives her a home
    emulator.patch(
        "PersistentVolumeClaim",
        "home-of-alice",
        {
            "metadata": {
                "labels": {"hub.jupyter.org/username": "bob"},
                "annotations": {"hub.jupyter.org/username": "bob"},
            }
        },
        NS,
    )
    again = make_spawner("alice", state=spawner.get_state())
    with pytest.raises(
        KubeError, match="claim home-of-alice in jupyterhub, but that claim belongs to bob"
    ):
        await asyncio.wait_for(again.start(), 30)


async def test_a_user_named_alice_datasets_never_gets_alices_datasets(make_spawner, emulator):
    """Either the names no longer collide (issue 12's ``--`` separator) and alice-datasets
    gets a claim of their own, or they do and the start is refused: never alice's files."""
    volumes = {"datasets": {"mount_path": "/home/jovyan/datasets", "capacity": "1Gi"}}
    alice = make_spawner("alice", workspace_volumes=volumes)
    await asyncio.wait_for(alice.start(), 30)
    alices = set(alice.get_state()["workspace_pvcs"].values())
    await alice.stop(now=True)

    other = make_spawner("alice-datasets")
    try:
        await asyncio.wait_for(other.start(), 30)
    except KubeError as e:
        assert "claim claim-alice-datasets in jupyterhub, but that claim belongs to alice" in str(e)
    else:
        assert not claims_mounted(emulator, other) & alices
        await other.stop(now=True)
    for name in alices:
        claim = emulator.get("PersistentVolumeClaim", name, NS)
        assert claim["metadata"]["annotations"]["hub.jupyter.org/username"] == "alice"
