"""API requests of a first spawn and a warm restart, with and without the project feature.

Runs KubeSpawner, WorkspaceSpawner without and with workspace_project_enabled side by side
against one emulator, counting requests in its request log (the reflectors' list/watch
included, so the figures compare like with like). Usage:

    .venv/bin/python benchmarks/api_requests.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

_DIR = Path(tempfile.mkdtemp(prefix="api-requests-"))
os.environ["KUBECONFIG"] = str(_DIR / "kubeconfig")  # before kubernetes_asyncio is imported

from jupyterhub.objects import Hub, Server  # noqa: E402
from kubespawner import KubeSpawner  # noqa: E402
from kubespawner.clients import load_config  # noqa: E402
from traitlets.config import Config  # noqa: E402

from workspace_spawner import WorkspaceSpawner  # noqa: E402
from workspace_spawner.testing.emulator import Emulator  # noqa: E402



class _User:
    """What a Spawner reads of JupyterHub's User."""

    def __init__(self, name: str, uid: int) -> None:
        self.name, self.id = name, uid
        self.escaped_name = name
        self.url = self.base_url = f"/user/{name}/"
        self.groups, self.admin, self.server, self.settings, self.spawners = [], False, None, {}, {}

    def progress_url(self, server_name: str = "") -> str:
        return f"/hub/api/users/{self.name}/servers/{server_name}/progress"

QUOTA = {"pods": "10", "requests.cpu": "4"}
LIMITS = [{"type": "Container", "default": {"cpu": "500m"}}]


def make(cls, username, uid, **traits):
    cfg = Config()
    cfg[cls.__name__].namespace = "jupyterhub"
    cfg[cls.__name__].start_timeout = 30
    user = _User(username, uid)
    return cls(config=cfg, user=user, hub=Hub(ip="127.0.0.1", port=8081, base_url="/hub/"),
               server=Server(ip="127.0.0.1", port=8888, base_url=user.url), api_token="t",
               oauth_client_id=f"jupyterhub-user-{username}", **traits)


async def measure(emulator, cls, username, uid, **traits):
    emulator.clear_requests()
    first = make(cls, username, uid, **traits)
    await first.start()
    first_count = len(emulator.requests)
    await first.stop(now=True)
    state = first.get_state()
    # a warm restart: a new spawner (as after a hub restart) from the saved state
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    emulator.clear_requests()
    second = make(cls, username, uid, **traits)
    second.load_state(state)
    await second.start()
    warm_count = len(emulator.requests)
    await second.stop(now=True)
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    return first_count, warm_count


async def main(openshift: bool) -> None:
    emulator = Emulator(openshift=openshift, namespace_finalize_seconds=0.05).start_in_thread()
    emulator.write_kubeconfig(os.environ["KUBECONFIG"])
    load_config.cache_clear()
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}})
    rows = [
        ("KubeSpawner", await measure(emulator, KubeSpawner, "ann", 1)),
        ("WorkspaceSpawner, project off", await measure(emulator, WorkspaceSpawner, "bea", 2)),
        ("WorkspaceSpawner, project on", await measure(
            emulator, WorkspaceSpawner, "cai", 3, workspace_project_enabled=True,
            workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)),
    ]
    emulator.stop_thread()
    mode = "OpenShift" if openshift else "Kubernetes"
    print(f"\n{mode}: API requests (emulator request log)")
    print(f"{'':32} {'first spawn':>12} {'warm restart':>13}")
    for label, (first, warm) in rows:
        print(f"{label:32} {first:>12} {warm:>13}")
    base = rows[1][1]
    on = rows[2][1]
    print(f"{'project overhead':32} {on[0] - base[0]:>+12} {on[1] - base[1]:>+13}")


if __name__ == "__main__":
    for openshift in (False, True):
        asyncio.run(main(openshift))
