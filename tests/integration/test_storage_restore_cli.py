"""workspace-admin restore against a real JupyterHub and the emulator's snapshot controller.

The command line runs through its entry point (``main(argv)``), the hub's REST API
gives the server's state, and the hub's own spawner takes the restored claim at the
next start. The data itself is checked byte for byte on the pod runner
(test_storage_restore_data.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

# launch_hub: test_admin_cli's hub, here with an extra volume and a retention period
from test_admin_cli import (
    NAMESPACE,
    SPAWNER_CONFIG,
    Hub,
    _make_pvc,
    _stderr,
    _wait_bound,
    launch_hub,
)

from workspace_spawner.constants import (
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
from workspace_spawner.volumes.retention import iso, parse_iso

pytestmark = [
    pytest.mark.emulator_only(
        reason="the hub fixture runs JupyterHub on the emulator (stub kubelet or pod runner)"
    ),
    pytest.mark.slow,
]

# appended to SPAWNER_CONFIG, a str.format template: braces doubled
EXTRA_CONFIG = """
c.WorkspaceSpawner.workspace_volumes = {{"data": {{"mount_path": "/data", "capacity": "1Gi"}}}}
c.WorkspaceSpawner.volume_retention = "1h"
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    from workspace_spawner_testing.emulator.httpstub import SingleuserStubEmulator

    emulator = SingleuserStubEmulator(namespace_finalize_seconds=0.05).start_in_thread()
    yield from launch_hub(
        tmp_path_factory.mktemp("restore-hub"),
        emulator,
        spawner_config=SPAWNER_CONFIG + EXTRA_CONFIG,
    )


def take_snapshot(
    at: Hub,
    name: str,
    *,
    claim: str,
    user: str | None,
    volume: str = "home",
    snapshot_class: str = "standard-snapshots",
):
    """A ready VolumeSnapshot of ``claim``, labelled as the spawner labels its own."""
    labels = {"app.kubernetes.io/managed-by": "workspace-spawner", VOLUME_NAME_LABEL: volume}
    if user is not None:
        labels[USERNAME_LABEL] = user
    at.emulator.create(
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "volumeSnapshotClassName": snapshot_class,
                "source": {"persistentVolumeClaimName": claim},
            },
        }
    )
    deadline = time.monotonic() + 10
    while not (at.emulator.get("volumesnapshots", name, NAMESPACE).get("status") or {}):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def started_and_stopped(at: Hub, name: str) -> dict[str, Any]:
    """The user, after one start and stop: the server's state names the claims."""
    at.add_users(name)
    at.start(name)
    return at.stop(name)["servers"][""]["state"]


def claims(at: Hub, user: str) -> dict[str, dict[str, Any]]:
    pvcs = at.emulator.list(
        "persistentvolumeclaims", NAMESPACE, label_selector=f"{USERNAME_LABEL}={user}"
    )
    return {p["metadata"]["name"]: p for p in pvcs}


def expire(at: Hub, name: str) -> None:
    """As if volume_retention had passed since the restore."""
    past = iso(datetime.now(timezone.utc) - timedelta(minutes=1))
    at.emulator.patch(
        "persistentvolumeclaims",
        name,
        {"metadata": {"annotations": {PURGE_AFTER_ANNOTATION: past}}},
        NAMESPACE,
    )


def restored_name(result) -> str:
    (row,) = result.json
    return row["pvc"]


def test_restore_makes_a_claim_from_the_snapshot_and_the_next_start_mounts_it(hub: Hub):
    state = started_and_stopped(hub, "rs-happy")
    assert state["pvc_name"] == "claim-rs-happy"
    old_before = hub.pvc("claim-rs-happy")
    take_snapshot(hub, "rs-happy-snap", claim="claim-rs-happy", user="rs-happy")
    hub.emulator.clear_requests()

    result = hub.run("restore", "rs-happy", "--snapshot", "rs-happy-snap", "--json")
    assert result.returncode == 0, _stderr(result)
    new = restored_name(result)
    assert new.startswith("claim-rs-happy--restored--")
    made = hub.pvc(new)
    assert made["status"]["phase"] == "Bound"
    assert made["spec"]["dataSource"] == {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": "rs-happy-snap",
    }
    assert made["spec"]["accessModes"] == old_before["spec"]["accessModes"]
    assert made["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert made["metadata"]["labels"] == old_before["metadata"]["labels"]
    annotations = made["metadata"]["annotations"]
    assert annotations[RESTORED_FROM_ANNOTATION] == "rs-happy-snap"
    assert annotations[RAW_USERNAME_ANNOTATION] == "rs-happy"
    # the old claim is kept, marked with what replaced it, when, why, and until when
    old = hub.pvc("claim-rs-happy")
    assert old["metadata"]["uid"] == old_before["metadata"]["uid"]
    assert old["metadata"]["labels"][REPLACED_LABEL] == "true"
    marks = old["metadata"]["annotations"]
    assert marks[REPLACED_BY_ANNOTATION] == new
    assert "rs-happy-snap" in marks[REPLACED_REASON_ANNOTATION]
    replaced_at = parse_iso(marks[REPLACED_AT_ANNOTATION])
    assert parse_iso(marks[PURGE_AFTER_ANNOTATION]) - replaced_at == timedelta(hours=1)
    # exactly: the new claim made, the old one marked; nothing deleted
    assert [(w.verb, w.resource, w.name) for w in hub.cli_writes()] == [
        ("create", "persistentvolumeclaims", new),
        ("patch", "persistentvolumeclaims", "claim-rs-happy"),
    ]
    rows = {p["name"]: p for p in hub.run("list", "rs-happy", "--json").json[0]["pvcs"]}
    assert rows["claim-rs-happy"]["replaced_by"] == new and rows[new]["replaced_by"] is None
    assert "Bound, replaced" in hub.run("list", "rs-happy").stdout
    # the state is unchanged until the next start: --confirm keeps the old claim
    result = hub.run("restore", "rs-happy", "--confirm")
    assert result.returncode == 0, _stderr(result)
    assert "kept PVC claim-rs-happy: the server's saved state still names it" in result.stdout
    assert hub.pvc("claim-rs-happy") is not None

    # the next start mounts the new claim and the hub saves its name in the state
    running = hub.start("rs-happy")
    assert running["servers"][""]["state"]["pvc_name"] == new
    assert running["servers"][""]["state"]["workspace_pvcs"]["home"] == new
    pod = hub.emulator.get("pods", "jupyter-rs-happy", NAMESPACE)
    mounted = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert new in mounted and "claim-rs-happy" not in mounted
    hub.stop("rs-happy")
    # now --confirm deletes the old claim, logged
    result = hub.run("restore", "rs-happy", "--confirm")
    assert result.returncode == 0, _stderr(result)
    assert f"rs-happy: delete PVC claim-rs-happy in {NAMESPACE}, replaced by {new}" in result.stdout
    assert hub.pvc("claim-rs-happy") is None and hub.pvc(new) is not None


def test_dry_run_shows_the_plan_and_changes_nothing(hub: Hub):
    started_and_stopped(hub, "rs-dry")
    take_snapshot(hub, "rs-dry-snap", claim="claim-rs-dry", user="rs-dry")
    before = claims(hub, "rs-dry")
    hub.emulator.clear_requests()
    result = hub.run("restore", "rs-dry", "--snapshot", "rs-dry-snap", "--dry-run")
    assert result.returncode == 0, _stderr(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("rs-dry: would create PVC claim-rs-dry--restored--")
    assert "from VolumeSnapshot rs-dry-snap" in lines[0]
    assert lines[1].startswith("rs-dry: would mark PVC claim-rs-dry as replaced by")
    assert hub.cli_writes() == []
    assert claims(hub, "rs-dry") == before


def test_a_running_server_is_refused(hub: Hub):
    started_and_stopped(hub, "rs-run")
    take_snapshot(hub, "rs-run-snap", claim="claim-rs-run", user="rs-run")
    hub.start("rs-run")
    hub.emulator.clear_requests()
    result = hub.run("restore", "rs-run", "--snapshot", "rs-run-snap")
    assert result.returncode == 1
    assert "the server is running: a restore needs it stopped" in result.stderr
    assert "workspace-admin stop rs-run" in result.stderr
    assert hub.cli_writes() == []
    hub.stop("rs-run")


def _another_users(at: Hub) -> None:
    take_snapshot(at, "rs-bob-snap", claim="claim-rs-bob", user="rs-bob")


def _forged_label(at: Hub) -> None:
    # labelled as the victim's, but of the other user's claim: the claim decides
    take_snapshot(at, "rs-forged-snap", claim="claim-rs-bob", user="rs-alice")


def _gone_and_unlabelled(at: Hub) -> None:
    take_snapshot(at, "rs-gone-snap", claim="claim-rs-gone", user=None)


def _failed(at: Hub) -> None:
    take_snapshot(
        at, "rs-failed-snap", claim="claim-rs-alice", user="rs-alice", snapshot_class="gone"
    )


def _other_volume(at: Hub) -> None:
    take_snapshot(at, "rs-data-snap", claim="claim-rs-alice--data", user="rs-alice", volume="data")


@pytest.mark.parametrize(
    ("setup", "snapshot", "said"),
    [
        (
            None,
            "no-such-snap",
            "no VolumeSnapshot no-such-snap in jupyterhub: workspace-admin snapshots rs-alice",
        ),
        (
            _another_users,
            "rs-bob-snap",
            "belongs to another user (label hub.jupyter.org/username=rs-bob)",
        ),
        (
            _forged_label,
            "rs-forged-snap",
            "taken of the claim claim-rs-bob, which is not rs-alice's",
        ),
        (_gone_and_unlabelled, "rs-gone-snap", "cannot be told to be rs-alice's"),
        (_other_volume, "rs-data-snap", "holds the volume 'data', not 'home': pass --volume data"),
        (
            _failed,
            "rs-failed-snap",
            "VolumeSnapshot rs-failed-snap is failed: Failed to get snapshot class",
        ),
    ],
    ids=["unknown", "another-user", "forged-label", "gone-unlabelled", "other-volume", "failed"],
)
def test_a_snapshot_that_is_not_this_users_volume_is_refused(hub: Hub, setup, snapshot, said):
    if hub.pvc("claim-rs-alice") is None:
        started_and_stopped(hub, "rs-alice")
        started_and_stopped(hub, "rs-bob")
    if setup is not None and hub.emulator.get("volumesnapshots", snapshot, NAMESPACE) is None:
        setup(hub)
    before = claims(hub, "rs-alice")
    hub.emulator.clear_requests()
    result = hub.run("restore", "rs-alice", "--snapshot", snapshot)
    assert result.returncode == 1, _stderr(result)
    assert said in result.stderr, result.stderr
    assert hub.cli_writes() == []
    assert claims(hub, "rs-alice") == before


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        # the new claim is made and Bound, then the old one cannot be marked: undone
        ({"verb": "patch", "resource": "persistentvolumeclaims"}, "patch PVC claim-rs-fault-patch"),
        # the new claim is not made at all
        ({"verb": "create", "resource": "persistentvolumeclaims"}, "create PVC"),
        # the new claim is made, then the wait for it to bind fails: deleted again
        ({"verb": "list", "resource": "events", "count": 50}, "list the events of PVC"),
    ],
    ids=["mark-fails", "create-fails", "wait-fails"],
)
def test_a_fault_mid_restore_leaves_the_claims_and_the_state_as_they_were(hub: Hub, fault, said):
    user = f"rs-fault-{fault['verb']}"
    state = started_and_stopped(hub, user)
    take_snapshot(hub, f"{user}-snap", claim=f"claim-{user}", user=user)
    before = claims(hub, user)
    hub.emulator.clear_requests()
    hub.emulator.inject_fault(status=500, namespace=NAMESPACE, **fault)
    result = hub.run("restore", user, "--snapshot", f"{user}-snap")
    hub.emulator.faults.clear()
    assert result.returncode == 1, _stderr(result)
    assert said in result.stderr, result.stderr
    after = claims(hub, user)
    assert set(after) == set(before)
    for name, pvc in before.items():
        assert after[name]["metadata"]["labels"] == pvc["metadata"]["labels"]
        assert after[name]["metadata"].get("annotations") == pvc["metadata"].get("annotations")
    assert hub.user(user)["servers"][""]["state"] == state


def test_an_extra_volume_is_restored_with_volume(hub: Hub):
    state = started_and_stopped(hub, "rs-extra")
    data = state["workspace_pvcs"]["data"]
    assert data == "claim-rs-extra--data"
    take_snapshot(hub, "rs-extra-data-snap", claim=data, user="rs-extra", volume="data")
    result = hub.run("restore", "rs-extra", "--snapshot", "rs-extra-data-snap", "--json")
    assert result.returncode == 1 and "pass --volume data" in result.stderr
    result = hub.run(
        "restore", "rs-extra", "--snapshot", "rs-extra-data-snap", "--volume", "data", "--json"
    )
    assert result.returncode == 0, _stderr(result)
    new = restored_name(result)
    assert new.startswith("claim-rs-extra--data--restored--")
    assert hub.pvc(new)["metadata"]["labels"][VOLUME_NAME_LABEL] == "data"
    assert hub.pvc("claim-rs-home") is None  # nothing else touched
    assert REPLACED_LABEL not in hub.pvc("claim-rs-extra")["metadata"]["labels"]
    running = hub.start("rs-extra")
    saved = running["servers"][""]["state"]["workspace_pvcs"]
    assert saved == {"home": "claim-rs-extra", "data": new}
    hub.stop("rs-extra")


def test_a_second_restore_before_the_next_start_replaces_the_first(hub: Hub):
    started_and_stopped(hub, "rs-twice")
    take_snapshot(hub, "rs-twice-snap", claim="claim-rs-twice", user="rs-twice")
    first = restored_name(hub.run("restore", "rs-twice", "--snapshot", "rs-twice-snap", "--json"))
    time.sleep(1.05)  # the names count seconds
    result = hub.run("restore", "rs-twice", "--snapshot", "rs-twice-snap", "--json")
    assert result.returncode == 0, _stderr(result)
    second = restored_name(result)
    assert second != first
    # both the state's claim and the first restore point at the second
    for name in ("claim-rs-twice", first):
        assert hub.pvc(name)["metadata"]["annotations"][REPLACED_BY_ANNOTATION] == second
    running = hub.start("rs-twice")
    assert running["servers"][""]["state"]["pvc_name"] == second
    hub.stop("rs-twice")


def test_purge_deletes_replaced_claims_only_when_expired_and_no_longer_looked_up(hub: Hub):
    started_and_stopped(hub, "rs-purge")
    take_snapshot(hub, "rs-purge-snap", claim="claim-rs-purge", user="rs-purge")
    new = restored_name(hub.run("restore", "rs-purge", "--snapshot", "rs-purge-snap", "--json"))
    # within volume_retention (1h): kept
    assert "claim-rs-purge" not in hub.run("purge").stdout
    expire(hub, "claim-rs-purge")
    # expired, but the next start still looks it up (the state names it): kept
    result = hub.run("purge")
    assert result.returncode == 0, _stderr(result)
    assert (
        "kept PVC claim-rs-purge: replaced by a restore, but the user's next start" in result.stdout
    )
    assert hub.pvc("claim-rs-purge") is not None
    hub.start("rs-purge")
    hub.stop("rs-purge")
    result = hub.run("purge", "--dry-run")
    assert (
        "rs-purge: would delete PVC claim-rs-purge in jupyterhub (1Gi, replaced by a restore)"
        in result.stdout
    )
    hub.emulator.clear_requests()
    result = hub.run("purge")
    assert result.returncode == 0, _stderr(result)
    assert hub.pvc("claim-rs-purge") is None and hub.pvc(new) is not None
    assert [(w.verb, w.name) for w in hub.cli_writes()] == [("delete", "claim-rs-purge")]


def test_a_never_started_user_with_a_claim_restores_by_the_derived_name(hub: Hub):
    hub.add_users("rs-fresh")
    _make_pvc(hub, "claim-rs-fresh", "rs-fresh")
    _wait_bound(hub, "claim-rs-fresh")
    take_snapshot(hub, "rs-fresh-snap", claim="claim-rs-fresh", user="rs-fresh")
    result = hub.run("restore", "rs-fresh", "--snapshot", "rs-fresh-snap", "--json")
    assert result.returncode == 0, _stderr(result)
    new = restored_name(result)
    # no saved state: the name the next start derives is looked up, so purge keeps it
    expire(hub, "claim-rs-fresh")
    assert "kept PVC claim-rs-fresh" in hub.run("purge").stdout
    running = hub.start("rs-fresh")
    assert running["servers"][""]["state"]["pvc_name"] == new
    hub.stop("rs-fresh")
