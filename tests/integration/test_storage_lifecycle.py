"""Storage lifecycle on the emulator: usage, retention of deleted users, snapshots before resets."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from test_volumes_lifecycle import messages, start, wait_until
from traitlets import TraitError

from workspace_spawner.constants import (
    DELETED_AT_ANNOTATION,
    DELETED_LABEL,
    DELETED_USERNAME_LABEL,
    PURGE_AFTER_ANNOTATION,
    USAGE_ANNOTATION,
    USERNAME_LABEL,
)

NS = "jupyterhub"
GI = 1024**3
SUMMARY = "The volume is ready; nothing to copy"


def usage_line(*, size: int, used: int, available: int) -> str:
    return f"workspace-spawner-usage: size={size} used={used} available={available}\n"


def said(emulator, spawner, *, used: int, size: int = 10 * GI) -> None:
    """The setup-volume container's termination message: the summary and the usage line."""
    message = SUMMARY + "\n" + usage_line(size=size, used=used, available=size - used)
    emulator.kubelet.set_termination_message(NS, spawner.pod_name, "setup-volume", message)


def usage_of(emulator, name: str = "claim-alice") -> dict | None:
    pvc = emulator.get("PersistentVolumeClaim", name, NS)
    raw = (pvc["metadata"].get("annotations") or {}).get(USAGE_ANNOTATION)
    return json.loads(raw) if raw else None


# -- usage ------------------------------------------------------------------------------------


@pytest.mark.emulator_only
@pytest.mark.parametrize(
    ("used", "warn_percent", "warned"),
    [
        (1 * GI, 90, False),
        (9 * GI + GI // 2, 90, True),  # 95%
        (9 * GI + GI // 2, 0, False),  # the warning is off
        (6 * GI, 50, True),
    ],
)
async def test_the_usage_goes_on_the_claim_and_a_full_volume_warns(
    make_spawner, emulator, used, warn_percent, warned
):
    spawner = make_spawner(volume_usage_warn_percent=warn_percent)
    said(emulator, spawner, used=used)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    await start(spawner)
    await wait_until(lambda: usage_of(emulator) is not None)
    usage = usage_of(emulator)
    assert {k: usage[k] for k in ("size", "used", "available")} == {
        "size": 10 * GI,
        "used": used,
        "available": 10 * GI - used,
    }
    measured = datetime.fromisoformat(usage["measured"].replace("Z", "+00:00"))
    assert before <= measured <= datetime.now(timezone.utc)
    await wait_until(lambda: SUMMARY in messages(spawner))
    # the usage line is for the spawner, never shown
    assert not any("workspace-spawner-usage" in m for m in messages(spawner))
    warnings = [m for m in messages(spawner) if "full" in m]
    if warned:
        (warning,) = warnings
        assert f"{-(-used * 100 // (10 * GI))}% full" in warning
        assert "workspace-admin expand" in warning and "claim-alice" in warning
    else:
        assert warnings == []
    await spawner.stop(now=True)


@pytest.mark.emulator_only
async def test_without_the_right_to_patch_the_claim_the_server_still_starts(
    make_spawner, emulator, caplog
):
    spawner = make_spawner()
    said(emulator, spawner, used=GI)
    emulator.inject_fault(verb="patch", resource="persistentvolumeclaims", status=403, count=5)
    with caplog.at_level(logging.WARNING):
        await start(spawner)
        await wait_until(lambda: SUMMARY in messages(spawner))
    assert usage_of(emulator) is None
    assert "not recording the usage on PVC claim-alice" in caplog.text
    await spawner.stop(now=True)


async def test_usage_warn_percent_is_a_percentage(make_spawner):
    with pytest.raises(TraitError):
        make_spawner(volume_usage_warn_percent=120)


# -- retention --------------------------------------------------------------------------------


def pvc(emulator, name: str) -> dict | None:
    return emulator.get("PersistentVolumeClaim", name, NS)


VOLUMES = {"data": {"mount_path": "/data", "capacity": "1Gi"}}


@pytest.mark.parametrize(
    ("setting", "seconds"), [("7d", 7 * 86400), ("12h", 43200), ("1w2d", 9 * 86400)]
)
async def test_a_deleted_user_s_claims_are_kept_labelled_and_detached(
    make_spawner, emulator, setting, seconds
):
    spawner = make_spawner(volume_retention=setting, workspace_volumes=VOLUMES)
    await start(spawner)
    await spawner.stop(now=True)
    deleted = datetime.now(timezone.utc).replace(microsecond=0)
    await make_spawner(
        state=spawner.get_state(), volume_retention=setting, workspace_volumes=VOLUMES
    ).delete_forever()
    for name in ("claim-alice", "claim-alice--data"):
        kept = pvc(emulator, name)
        assert kept is not None, name
        labels, annotations = kept["metadata"]["labels"], kept["metadata"]["annotations"]
        assert labels[DELETED_LABEL] == "true"
        assert USERNAME_LABEL not in labels
        assert labels[DELETED_USERNAME_LABEL] == "alice"
        at = datetime.fromisoformat(annotations[DELETED_AT_ANNOTATION].replace("Z", "+00:00"))
        until = datetime.fromisoformat(annotations[PURGE_AFTER_ANNOTATION].replace("Z", "+00:00"))
        assert deleted - timedelta(seconds=2) <= at <= datetime.now(timezone.utc)
        assert until - at == timedelta(seconds=seconds)
    # no longer found as the user's
    assert (
        emulator.list("PersistentVolumeClaim", NS, label_selector="hub.jupyter.org/username=alice")
        == []
    )


async def test_without_retention_the_claims_go_at_once(make_spawner, emulator):
    spawner = make_spawner(workspace_volumes=VOLUMES)
    await start(spawner)
    await spawner.stop(now=True)
    await make_spawner(state=spawner.get_state(), workspace_volumes=VOLUMES).delete_forever()
    for name in ("claim-alice", "claim-alice--data"):
        await wait_until(lambda name=name: pvc(emulator, name) is None)


async def test_a_user_created_again_gets_the_data_back(make_spawner, emulator):
    spawner = make_spawner(volume_retention="7d", workspace_volumes=VOLUMES)
    await start(spawner)
    await spawner.stop(now=True)
    uids = {n: pvc(emulator, n)["metadata"]["uid"] for n in ("claim-alice", "claim-alice--data")}
    await make_spawner(
        state=spawner.get_state(), volume_retention="7d", workspace_volumes=VOLUMES
    ).delete_forever()
    # a new hub user of the same name: no state
    again = make_spawner(volume_retention="7d", workspace_volumes=VOLUMES)
    await start(again)
    for name, uid in uids.items():
        back = pvc(emulator, name)
        assert back["metadata"]["uid"] == uid
        assert back["metadata"]["labels"][USERNAME_LABEL] == "alice"
        assert DELETED_LABEL not in back["metadata"]["labels"]
        assert DELETED_USERNAME_LABEL not in back["metadata"]["labels"]
        assert PURGE_AFTER_ANNOTATION not in back["metadata"]["annotations"]
    assert any("your files are back" in m for m in messages(again))
    await again.stop(now=True)


@pytest.mark.emulator_only
async def test_a_failed_label_is_retried_and_nothing_is_deleted(make_spawner, emulator):
    spawner = make_spawner(volume_retention="1d")
    await start(spawner)
    await spawner.stop(now=True)
    emulator.inject_fault(verb="patch", resource="persistentvolumeclaims", status=503, count=2)
    emulator.clear_requests()
    await make_spawner(state=spawner.get_state(), volume_retention="1d").delete_forever()
    assert pvc(emulator, "claim-alice")["metadata"]["labels"][DELETED_LABEL] == "true"
    assert not [
        r
        for r in emulator.requests
        if r.verb == "delete" and r.resource == "persistentvolumeclaims"
    ]


@pytest.mark.parametrize("bad", ["7 days", "-1d", "d", "1.5h", "7d junk"])
async def test_a_bad_retention_fails_at_configuration_with_the_fix(make_spawner, bad):
    with pytest.raises(TraitError, match="volume_retention: .* such as 7d"):
        make_spawner(volume_retention=bad)


async def test_retention_zero_is_the_default(make_spawner):
    assert make_spawner().volume_retention == "0"
    assert make_spawner(volume_retention="0d").volume_retention_seconds == 0


@pytest.mark.emulator_only
async def test_a_named_server_sharing_the_claim_keeps_it_untouched(make_spawner, emulator):
    spawner = make_spawner(volume_retention="7d")
    await start(spawner)
    await spawner.stop(now=True)
    emulator.clear_requests()
    await make_spawner(servername="gpu", volume_retention="7d").delete_forever()
    assert DELETED_LABEL not in pvc(emulator, "claim-alice")["metadata"]["labels"]
    assert emulator.count_writes(resource="persistentvolumeclaims") == 0


# -- snapshots before resets --------------------------------------------------------------


def setup_volume_contract(container: dict) -> tuple[int, str]:
    """What setup-volume.sh does on a volume with .delete-volume (tests/e2e run the script)."""
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    taken = env["WORKSPACE_SNAPSHOT_TAKEN"]
    if env["WORKSPACE_SNAPSHOT_BEFORE_RESET"] == "1" and not taken:
        return 3, "workspace-spawner-snapshot-needed: .delete-volume was found\n"
    if taken == "-":
        return 0, SUMMARY + "\n"
    return (
        0,
        "Resetting the volume: .delete-volume was found: 3 files, 10 bytes from /home/jovyan "
        "in 0 s\n",
    )


def snapshots(emulator) -> list[dict]:
    return emulator.list("volumesnapshots", NS)


def setup_env(emulator, spawner) -> dict[str, str]:
    pod = emulator.get("Pod", spawner.pod_name, NS)
    (setup,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "setup-volume"]
    return {e["name"]: e.get("value", "") for e in setup["env"]}


# The snapshot-before-reset flow needs setup-volume's termination message ("snapshot
# needed"): the emulator's kubelet stand-in gives it (kubelet.run_init_with); the real
# tier's node agent runs no container. The snapshot API itself runs on both tiers
# (test_snapshot_api.py), the script for real in tests/e2e/test_storage_lifecycle_script.py.
SNAPSHOT_FLOW = pytest.mark.emulator_only(
    reason="setup-volume's stand-in (kubelet.run_init_with); the node agent runs no container"
)


@pytest.fixture
def first_start_in_hub():
    """Each test is a new hub process: the snapshot API not checked yet."""
    from workspace_spawner import WorkspaceSpawner

    WorkspaceSpawner.reset_caches()
    yield
    WorkspaceSpawner.reset_caches()


@SNAPSHOT_FLOW
async def test_a_reset_waits_for_a_ready_snapshot_of_the_stopped_volume(
    make_spawner, emulator, first_start_in_hub
):
    spawner = make_spawner(volume_snapshot_class="standard-snapshots")
    emulator.kubelet.run_init_with(NS, spawner.pod_name, "setup-volume", setup_volume_contract)
    await start(spawner)
    (snapshot,) = snapshots(emulator)
    name = snapshot["metadata"]["name"]
    assert name.startswith("claim-alice-reset-")
    assert snapshot["spec"] == {
        "volumeSnapshotClassName": "standard-snapshots",
        "source": {"persistentVolumeClaimName": "claim-alice"},
    }
    labels = snapshot["metadata"]["labels"]
    assert (
        labels[USERNAME_LABEL] == "alice"
        and labels["workspace-spawner.jupyter.org/volume"] == "home"
    )
    assert snapshot["status"]["readyToUse"] is True
    # the pod that reset the volume was told which snapshot holds the old content
    assert setup_env(emulator, spawner)["WORKSPACE_SNAPSHOT_TAKEN"] == name
    await wait_until(lambda: any(m.startswith("Resetting the volume") for m in messages(spawner)))
    said = messages(spawner)
    assert said.index(
        "Your workspace volume is to be reset (.delete-volume was found): "
        "taking a snapshot of it first"
    ) < said.index(f"Snapshot {name} is ready: resetting the volume")
    assert not any("could not be prepared" in m for m in said)
    # the snapshot was ready before the pod that resets was created
    pod_creates = [r for r in emulator.requests if r.resource == "pods" and r.verb == "create"]
    ready_at = datetime.fromisoformat(
        snapshot["status"]["creationTime"].replace("Z", "+00:00")
    ).timestamp()
    assert len(pod_creates) == 2 and pod_creates[1].time >= ready_at - 1
    await spawner.stop(now=True)


@SNAPSHOT_FLOW
async def test_the_newest_snapshots_are_kept(make_spawner, emulator, first_start_in_hub):
    taken = []
    for i in range(4):
        spawner = make_spawner(volume_snapshot_class="standard-snapshots", volume_snapshots_keep=2)
        emulator.kubelet.run_init_with(NS, spawner.pod_name, "setup-volume", setup_volume_contract)
        await start(spawner)
        taken.append(setup_env(emulator, spawner)["WORKSPACE_SNAPSHOT_TAKEN"])
        await spawner.stop(now=True)
        if i == 0:
            # an admin's own snapshot of the claim: never the spawner's to delete
            emulator.create(
                {
                    "apiVersion": "snapshot.storage.k8s.io/v1",
                    "kind": "VolumeSnapshot",
                    "metadata": {
                        "name": "by-hand",
                        "namespace": NS,
                        "labels": {USERNAME_LABEL: "alice"},
                    },
                    "spec": {"source": {"persistentVolumeClaimName": "claim-alice"}},
                }
            )
        await asyncio.sleep(1.05)  # names and creationTimestamps count seconds
    assert len(set(taken)) == 4
    assert sorted(s["metadata"]["name"] for s in snapshots(emulator)) == [
        "by-hand",
        *sorted(taken)[-2:],
    ]


@SNAPSHOT_FLOW
@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("fail", "VolumeSnapshot claim-alice-reset-.*: the driver broke"),
        ("hold", "was not ready to use after 1 s"),
        ("no class", "VolumeSnapshotClass 'missing' of volume_snapshot_class does not exist"),
        ("no api", "does not serve the VolumeSnapshot API"),
    ],
)
async def test_a_failed_snapshot_stops_the_reset_and_says_why(
    make_spawner, emulator, first_start_in_hub, caplog, fault, why
):
    import re

    snapshot_class = "missing" if fault == "no class" else "standard-snapshots"
    if fault == "no api":
        emulator.reset(snapshots=False)
        emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    spawner = make_spawner(volume_snapshot_class=snapshot_class, volume_snapshot_timeout=1)
    if fault == "fail":
        emulator.snapshotter.fail("the driver broke")
    elif fault == "hold":
        emulator.snapshotter.hold()
    emulator.kubelet.run_init_with(NS, spawner.pod_name, "setup-volume", setup_volume_contract)
    with caplog.at_level(logging.ERROR):
        await start(spawner)
    # the server runs, with the files as they were: the script was told there is no snapshot
    assert setup_env(emulator, spawner)["WORKSPACE_SNAPSHOT_TAKEN"] == "-"
    (warning,) = [m for m in messages(spawner) if "NOT reset" in m]
    assert re.search(why, warning), warning
    assert "tried again at the next start" in warning
    assert not any(m.startswith("Resetting the volume") for m in messages(spawner))
    if fault != "no api":
        assert snapshots(emulator) == []  # the failed or unready snapshot is not left behind
    if fault in ("no class", "no api"):
        # the first start in the hub already named the problem in the log
        assert re.search(why, caplog.text)
    await spawner.stop(now=True)


@SNAPSHOT_FLOW
async def test_an_admins_request_stays_when_its_snapshot_fails(
    make_spawner, emulator, first_start_in_hub
):
    from test_volumes_lifecycle import make_pvc

    from workspace_spawner.constants import RESET_REQUEST_ANNOTATION

    make_pvc(
        emulator, "claim-alice", annotations={RESET_REQUEST_ANNOTATION: "2026-12-01T20:00:00Z"}
    )
    spawner = make_spawner(volume_snapshot_class="standard-snapshots")
    emulator.snapshotter.fail("no space for snapshots")

    def contract(container: dict) -> tuple[int, str]:
        env = {e["name"]: e.get("value", "") for e in container["env"]}
        assert env["WORKSPACE_RESET_REQUEST"] == "2026-12-01T20:00:00Z"
        if not env["WORKSPACE_SNAPSHOT_TAKEN"]:
            return 3, "workspace-spawner-snapshot-needed: an administrator asked for it\n"
        return 0, SUMMARY + "\n"

    emulator.kubelet.run_init_with(NS, spawner.pod_name, "setup-volume", contract)
    await start(spawner)
    await wait_until(lambda: SUMMARY in messages(spawner))
    await asyncio.sleep(0.5)
    annotations = pvc(emulator, "claim-alice")["metadata"]["annotations"]
    assert annotations[RESET_REQUEST_ANNOTATION] == "2026-12-01T20:00:00Z"
    await spawner.stop(now=True)
