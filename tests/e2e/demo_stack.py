"""The demo for tests: one stack per module, on its own ports and loopback /24.

On the emulator (make test) the stack is the emulator with its pod runner; in make
test-cluster it is the real control plane, the hub as its ServiceAccount with the
shipped RBAC, and a node agent with the process runtime (``demo.Cluster``), in both
passes (the OpenShift pass with SCC admission).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workspace_spawner_testing.demo import Cluster, DemoStack, free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# the browser flows run on the real control plane too, in both passes of make test-cluster
on_cluster = pytest.mark.demo_on_cluster


def cluster() -> Cluster | None:
    """The real control plane of make test-cluster, else None (the emulator)."""
    if not os.environ.get("WORKSPACE_SPAWNER_TEST_KUBECONFIG"):
        return None
    return Cluster(
        hub_kubeconfig=Path(os.environ["WORKSPACE_SPAWNER_TEST_KUBECONFIG"]),
        admin_kubeconfig=Path(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"]),
        node_kubeconfig=Path(os.environ["WORKSPACE_SPAWNER_TEST_RUNNER_NODE_KUBECONFIG"]),
        openshift=bool(os.environ.get("WORKSPACE_SPAWNER_TEST_OPENSHIFT")),
    )


def wait_until(predicate, *, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.5)


def require_demo() -> None:
    """The demo runs pods in namespaces as root; a CI run must not skip for lack of it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the pod runner mounts in private namespaces)")
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            missing.append(tool)
    if missing:
        message = "the demo needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def processes_of(data_dir: Path) -> list[str]:
    """Processes of the stack still running: by their command line, working dir, root
    (the pods' containers are chrooted under the data dir) or environment (the hub and
    its proxy)."""
    left = []
    marker = str(data_dir)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            places = [os.readlink(proc / "cwd"), os.readlink(proc / "root")]
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone, or a kernel thread
        if (
            marker in cmdline
            or any(p.startswith(marker) for p in places)
            or f"WORKSPACE_SPAWNER_DEMO_DATA={marker}\0" in environ
        ):
            left.append(f"{proc.name}: {cmdline}")
    return left


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[DemoStack]:
    require_demo()
    data_dir = tmp_path_factory.mktemp("demo")
    ARTIFACTS.mkdir(exist_ok=True)
    module = request.module.__name__.rsplit(".", 1)[-1]
    hub_log = ARTIFACTS / f"{module}-hub.log"
    hub_log.unlink(missing_ok=True)
    token = secrets.token_hex(16)
    # a loopback /24 of its own: other test runs on this machine use 127.0.0.x
    prefix = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
    stack = DemoStack(
        data_dir,
        port=free_port(),
        ip_prefix=prefix,
        hub_log=hub_log,
        api_token=token,
        cluster=cluster(),
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()
        # the pods' logs (and the node agent's) are artifacts too
        logs = data_dir / "logs"
        if logs.exists():
            shutil.copytree(logs, ARTIFACTS / f"{module}-pod-logs", dirs_exist_ok=True)
        if (data_dir / "node-agent.log").exists():
            shutil.copy(data_dir / "node-agent.log", ARTIFACTS / f"{module}-node-agent.log")
    left = processes_of(data_dir)
    assert not left, f"processes left behind by the demo: {left}"


def hub_api(stack: DemoStack, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
    import requests

    response = requests.request(
        method,
        f"{stack.url}/hub/api{path}",
        timeout=30,
        headers={"Authorization": f"token {stack.api_token}"},
        **kwargs,
    )
    return response
