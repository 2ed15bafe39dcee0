"""Which init containers failed, and what they said, from a pod's status."""

from __future__ import annotations

import pytest

from workspace_spawner.initcontainers import (
    failed_init_containers,
    init_container_state,
    init_container_status,
    termination_text,
)

DONE = {"state": {"terminated": {"exitCode": 0, "message": "done: ok"}}}
FAILED = {
    "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "ERROR: no space\n"}}
}
# restartPolicy Always: the kubelet restarts it with back-off, the failure in lastState
BACKING_OFF = {
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
}
RUNNING_AGAIN = {"state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}


def pod(**statuses: dict) -> dict:
    return {"status": {"initContainerStatuses": [{"name": n, **s} for n, s in statuses.items()]}}


@pytest.mark.parametrize(
    "given, expected",
    [
        (None, []),
        ({"status": {}}, []),
        (pod(a={"state": {"running": {}}}), []),
        (pod(a=DONE, b={"state": {"waiting": {"reason": "PodInitializing"}}}), []),
        (pod(a=DONE, b=FAILED), [("b", FAILED["state"]["terminated"])]),
        (pod(a=BACKING_OFF), [("a", BACKING_OFF["lastState"]["terminated"])]),
        (pod(a=RUNNING_AGAIN), [("a", {"exitCode": 1})]),
        (
            pod(a=FAILED, b=BACKING_OFF),
            [("a", FAILED["state"]["terminated"]), ("b", BACKING_OFF["lastState"]["terminated"])],
        ),
    ],
)
def test_failed_init_containers(given, expected):
    assert failed_init_containers(given) == expected


@pytest.mark.parametrize(
    "terminated, text",
    [
        ({"exitCode": 1, "message": "  ERROR: no space\n"}, "ERROR: no space"),
        ({"exitCode": 137, "reason": "OOMKilled", "message": ""}, "OOMKilled, exit code 137"),
        ({"exitCode": 2}, "Error, exit code 2"),
    ],
)
def test_termination_text(terminated, text):
    assert termination_text(terminated) == text


def _pod(state=None, last=None):
    status = {"name": "setup-volume", "state": state or {}}
    if last:
        status["lastState"] = last
    return {
        "status": {"initContainerStatuses": [{"name": "other", "state": {"running": {}}}, status]}
    }


@pytest.mark.parametrize(
    "pod, expected",
    [
        (None, ("", "")),
        ({"status": {}}, ("", "")),
        (_pod({"waiting": {"reason": "PodInitializing"}}), ("waiting", "")),
        (_pod({"running": {"startedAt": "t"}}), ("running", "")),
        (
            _pod({"terminated": {"exitCode": 0, "message": "Copying ...: 3 files\n"}}),
            ("done", "Copying ...: 3 files"),
        ),
        (_pod({"terminated": {"exitCode": 0}}), ("done", "")),
        (_pod({"terminated": {"exitCode": 1, "message": "ERROR: x"}}), ("failed", "ERROR: x")),
        (_pod({"terminated": {"exitCode": 2, "reason": "Error"}}), ("failed", "Error")),
        (
            _pod(
                {"waiting": {"reason": "CrashLoopBackOff"}},
                {"terminated": {"exitCode": 1, "message": "ERROR: y"}},
            ),
            ("failed", "ERROR: y"),
        ),
    ],
)
def test_init_container_state(pod, expected):
    """The one parser every feature's container goes through (was volumes' own)."""
    state = init_container_state(init_container_status(pod, "setup-volume"))
    assert (state.phase, state.message or _reason(state)) == expected


def _reason(state) -> str:
    return state.terminated.get("reason", "") if state.phase == "failed" else ""


# -- the observer: what the spawn page shows, and what fails the start ---------------------

SETUP_RUNNING = {"state": {"running": {}}}
SETUP_DONE = {"state": {"terminated": {"exitCode": 0, "message": "Copied 3 files"}}}
SETUP_FAILED = {"state": {"terminated": {"exitCode": 1, "message": "ERROR: no space"}}}
SNAPSHOT_FIRST = {
    "state": {
        "terminated": {
            "exitCode": 3,
            "message": "workspace-spawner-snapshot-needed: the reset marker",
        }
    }
}


def setup_pod(status: dict, uid: str = "u1") -> dict:
    return {
        "metadata": {"name": "jupyter-alice", "uid": uid},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "setup-volume", **status}],
            "containerStatuses": [],
        },
    }


def setup_spawner(make_spawner, **traits):
    spawner = make_spawner(**traits)
    spawner._volume_setup = {"created": True, "request": "", "request_backup": "", "snapshot": ""}
    return spawner


def shown(spawner) -> list[str]:
    return [e["message"] for e in spawner._progress_log.events]


async def test_each_phase_is_shown_once(make_spawner):
    spawner = setup_spawner(make_spawner)
    for status in (SETUP_RUNNING, SETUP_RUNNING, SETUP_DONE, SETUP_DONE):
        assert spawner.is_pod_running(setup_pod(status)) is False
    assert shown(spawner) == ["Copying the image's files into the new volume", "Copied 3 files"]
    # the next start's pod (another uid) is followed afresh
    spawner.is_pod_running(setup_pod(SETUP_RUNNING, uid="u2"))
    assert shown(spawner)[-1] == "Copying the image's files into the new volume"


async def test_a_failure_fails_every_look_and_is_shown_once(make_spawner):
    from workspace_spawner.volumes.mixin import VolumeSetupFailed

    spawner = setup_spawner(make_spawner)
    for _ in range(2):
        with pytest.raises(VolumeSetupFailed, match="could not be prepared: no space"):
            spawner.is_pod_running(setup_pod(SETUP_FAILED))
    assert shown(spawner) == [
        "The workspace volume could not be prepared: ERROR: no space "
        "(kubectl logs jupyter-alice -c setup-volume)"
    ]


async def test_a_request_for_a_snapshot_is_not_shown_as_a_failure(make_spawner):
    from workspace_spawner.volumes.lifecycle import SnapshotBeforeReset

    spawner = setup_spawner(make_spawner, volume_snapshot_class="csi-snapclass")
    with pytest.raises(SnapshotBeforeReset):
        spawner.is_pod_running(setup_pod(SNAPSHOT_FIRST))
    assert shown(spawner) == []


async def test_an_undeclared_container_is_left_to_kubespawner(make_spawner):
    spawner = make_spawner(storage_pvc_ensure=False)
    failed = {"name": "admin-init", **SETUP_FAILED}
    pod = setup_pod(SETUP_DONE)
    pod["status"]["initContainerStatuses"] = [failed]
    assert spawner.is_pod_running(pod) is False
    assert shown(spawner) == []
