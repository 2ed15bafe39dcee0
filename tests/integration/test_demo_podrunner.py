"""The pod runner runs a pod's containers for real: order, exits, volumes, users, deletion.

On the emulator's pod runner (make test) and on the node agent's process runtime on the real
control plane (make test-cluster), which share the process machinery.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from podrunner_support import Pods, pods_for_real, running_pods

from workspace_spawner_testing.podrunner import Image, ProcessEmulator
from workspace_spawner_testing.transfer import claim_manifest

pytestmark = pytest.mark.pods_on_cluster

NS = "default"
IMAGE = Image(uid=1000, gid=100, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


@pytest.fixture(scope="module")
def runner_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessEmulator]:
    """The emulator's pod runner (the snapshot tests read its claims' directories)."""
    yield from running_pods(tmp_path_factory.mktemp("runner"), IMAGE)


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pods]:
    yield from pods_for_real(tmp_path_factory.mktemp("pods"), IMAGE)


def wait(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def pod(name: str, *, init: list[str], main: str, grace: int = 30) -> dict:
    volume = [{"name": "data", "mountPath": "/mnt/data"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": grace,
            "securityContext": {"fsGroup": 100},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": name}}],
            "initContainers": [
                {
                    "name": f"init{i}",
                    "image": "x",
                    "command": ["sh", "-c", c],
                    "volumeMounts": volume,
                }
                for i, c in enumerate(init)
            ],
            "containers": [
                {
                    "name": "main",
                    "image": "x",
                    "command": ["sh", "-c", main],
                    "env": [{"name": "WHO", "value": "$(HOSTNAME)"}],
                    "volumeMounts": volume,
                }
            ],
        },
    }


def claim(emulator: ProcessEmulator, name: str) -> None:
    emulator.create(claim_manifest(name, namespace=NS))


def test_init_containers_in_order_then_main_as_the_user(pods: Pods) -> None:
    pods.claim("p1")
    pods.create(
        pod(
            "p1",
            init=["echo one >> /mnt/data/order", "echo two >> /mnt/data/order"],
            main="id -u > /mnt/data/uid; echo $WHO > /mnt/data/who; exit 3",
        )
    )
    wait(lambda: pods.status("p1").get("phase") == "Failed", timeout=60)
    data = pods.claim_dir("p1")
    assert (data / "order").read_text() == "one\ntwo\n"
    assert (data / "uid").read_text().strip() == "1000"
    assert (data / "who").read_text().strip() == "p1"
    main = pods.status("p1")["containerStatuses"][0]
    assert main["state"]["terminated"]["exitCode"] == 3
    # nothing was created on the host for the mount point
    assert not Path("/mnt/data").exists()
    pods.delete_pod("p1", grace=0)


def test_a_failed_init_container_blocks_the_pod(pods: Pods) -> None:
    pods.claim("p2")
    pods.create(
        pod("p2", init=["echo broken > /dev/termination-log; exit 7"], main="touch /mnt/data/ran")
    )
    wait(lambda: pods.status("p2").get("phase") == "Failed", timeout=60)
    init = pods.status("p2")["initContainerStatuses"][0]["state"]["terminated"]
    assert init["exitCode"] == 7 and init["message"] == "broken"
    assert not (pods.claim_dir("p2") / "ran").exists()
    pods.delete_pod("p2", grace=0)


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(pods: Pods) -> None:
    pods.claim("p3")
    # ignores SIGTERM, with a child process: only SIGKILL of the namespace ends both
    pods.create(
        pod(
            "p3",
            init=[],
            grace=2,
            main=(
                "trap 'echo term >> /mnt/data/signals' TERM; sleep 1000 & touch /mnt/data/up; "
                "while true; do sleep 0.1; done"
            ),
        )
    )
    data = pods.claim_dir("p3")
    wait(lambda: (data / "up").exists(), timeout=60)
    started = time.monotonic()
    pods.delete_pod("p3")
    wait(lambda: pods.get("pods", "p3") is None, timeout=30)
    assert time.monotonic() - started >= 1.5
    assert "term" in (data / "signals").read_text()
    assert not pods.processes()
