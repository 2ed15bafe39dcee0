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
