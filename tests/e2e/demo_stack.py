"""The demo for tests: one stack per module, on its own ports and loopback /24."""

from __future__ import annotations

import os
import random
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from workspace_spawner_testing.demo import DemoStack, free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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
        data_dir, port=free_port(), ip_prefix=prefix, hub_log=hub_log, api_token=token
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()
        # the pods' logs are artifacts too
        logs = data_dir / "logs"
        if logs.exists():
            shutil.copytree(logs, ARTIFACTS / f"{module}-pod-logs", dirs_exist_ok=True)
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
