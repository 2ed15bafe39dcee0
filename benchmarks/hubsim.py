"""The hub's side of a spawn without a hub: spawner objects as JupyterHub makes them.

Shared by the benchmarks that drive spawners directly (spawn_overhead.py, class_start.py).
"""

from __future__ import annotations

from jupyterhub.objects import Hub, Server
from traitlets.config import Config


class _User:
    """What a Spawner reads of JupyterHub's User."""

    def __init__(self, name: str, uid: int) -> None:
        self.name, self.id = name, uid
        self.escaped_name = name
        self.url = self.base_url = f"/user/{name}/"
        self.groups, self.admin, self.server, self.settings, self.spawners = [], False, None, {}, {}

    def progress_url(self, server_name: str = "") -> str:
        return f"/hub/api/users/{self.name}/servers/{server_name}/progress"

    async def get_auth_state(self) -> None:
        return None  # no authenticator state: the project feature falls back to the templates


QUOTA = {"pods": "10", "requests.cpu": "4"}
LIMITS = [{"type": "Container", "default": {"cpu": "500m"}}]


def make(cls, username, uid, **traits):
    cfg = Config()
    cfg[cls.__name__].namespace = "jupyterhub"
    cfg[cls.__name__].start_timeout = 30
    user = _User(username, uid)
    return cls(
        config=cfg,
        user=user,
        hub=Hub(ip="127.0.0.1", port=8081, base_url="/hub/"),
        server=Server(ip="127.0.0.1", port=8888, base_url=user.url),
        api_token="t",
        oauth_client_id=f"jupyterhub-user-{username}",
        **traits,
    )
