"""An opt-in node runtime whose running pods answer HTTP like a Jupyter single-user server.

A real JupyterHub waits for a started server by requesting ``{server.url}api`` until
any non-5xx answer comes (``jupyterhub.utils.wait_for_http_server``, called from
``User._wait_up``), and compares the ``X-JupyterHub-Version`` header of that answer
with its own (``jupyterhub._version._check_version``). With this runtime, every
running pod gets a small aiohttp server at ``podIP:containerPort`` (127.0.0.x:8888)
giving that answer, so a hub started by the tests sees its servers come up (the
emulator's node agent runs it as its runtime).
Used only by tests that run a whole hub::

    emulator = SingleuserStubEmulator().start_in_thread()
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ..nodeagent import NodeAgent, StatusRuntime
from .apiserver import ApiServer
from .emulator import Emulator

__all__ = ["SingleuserStubRuntime", "SingleuserStubEmulator"]

DEFAULT_PORT = 8888  # KubeSpawner's default port


def _stub_app() -> web.Application:
    from jupyterhub import __version__ as hub_version

    async def answer(request: web.Request) -> web.Response:
        # what jupyter-server's /api answers, with the header jupyterhub-singleuser adds
        return web.json_response(
            {"version": "2.0.0"}, headers={"X-JupyterHub-Version": hub_version}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


class SingleuserStubRuntime(StatusRuntime):
    """The node agent's status runtime, plus a stand-in single-user server per pod."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._servers: dict[str, web.AppRunner] = {}  # pod uid -> its HTTP server

    async def start_container(self, agent: NodeAgent, pod: dict, container: dict) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self._servers:
            return  # one server a pod, at the first container's port
        ports = [p["containerPort"] for p in container.get("ports") or []]
        runner = web.AppRunner(_stub_app(), access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        self._servers[uid] = runner
        await web.TCPSite(
            runner, agent.allocate_ip(pod), ports[0] if ports else DEFAULT_PORT
        ).start()

    async def kill_pod(self, agent: NodeAgent, pod: dict, grace: float) -> None:
        await self._close(pod["metadata"]["uid"])
        await super().kill_pod(agent, pod, grace)

    def forget(self, pod: dict) -> None:
        # deleted with no grace period: kill_pod was not called
        runner = self._servers.pop(pod["metadata"]["uid"], None)
        if runner is not None:
            asyncio.get_running_loop().create_task(runner.cleanup())

    def shut_down(self) -> None:
        for runner in self._servers.values():
            asyncio.get_running_loop().create_task(runner.cleanup())
        self._servers.clear()

    async def _close(self, uid: str) -> None:
        runner = self._servers.pop(uid, None)
        if runner is not None:
            await runner.cleanup()

    async def close_servers(self) -> None:
        """Close every stand-in server and its open connections, and wait until they are closed."""
        runners = list(self._servers.values())
        self._servers.clear()
        await asyncio.gather(*(runner.cleanup() for runner in runners))


class SingleuserStubEmulator(Emulator):
    """An Emulator whose pods answer JupyterHub's readiness check."""

    def make_runtime(self, api: ApiServer) -> SingleuserStubRuntime:
        return SingleuserStubRuntime(init_seconds=0.01, stop_seconds=0.01)

    async def stop(self) -> None:
        # before the loop ends: the cleanup tasks a shut-down runtime leaves would be
        # cancelled with the rest, leaving the hub's connections to running pods' servers
        # open (ResourceWarning)
        if self._built:
            await self.kubelet_impl.close_servers()  # type: ignore[attr-defined]
        await super().stop()
