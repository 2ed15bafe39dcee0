"""An opt-in kubelet whose running pods answer HTTP like a Jupyter single-user server.

A real JupyterHub waits for a started server by requesting ``{server.url}api`` until
any non-5xx answer comes (``jupyterhub.utils.wait_for_http_server``, called from
``User._wait_up``), and compares the ``X-JupyterHub-Version`` header of that answer
with its own (``jupyterhub._version._check_version``). With this kubelet, every
Running pod gets a small aiohttp server at ``podIP:containerPort`` (127.0.0.x:8888)
giving that answer, so a hub started by the tests sees its servers come up.
Used only by tests that run a whole hub::

    emulator = SingleuserStubEmulator().start_in_thread()
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .apiserver import ApiServer
from .emulator import Emulator
from .kubelet import Kubelet
from .store import Change

__all__ = ["SingleuserStubKubelet", "SingleuserStubEmulator"]

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


class SingleuserStubKubelet(Kubelet):
    """The simulated kubelet, plus a stand-in single-user server per Running pod."""

    def __init__(self, api: ApiServer, **kwargs: Any) -> None:
        super().__init__(api, **kwargs)
        self._servers: dict[str, web.AppRunner] = {}  # pod uid -> its HTTP server

    async def run_pod(self, pod: dict) -> None:
        await super().run_pod(pod)
        current = self.pod(pod)
        if current is None or current.get("status", {}).get("phase") != "Running":
            return
        ip = current["status"]["podIP"]
        ports = [
            p["containerPort"] for c in current["spec"]["containers"] for p in c.get("ports") or []
        ]
        runner = web.AppRunner(_stub_app(), access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, ip, ports[0] if ports else DEFAULT_PORT).start()
        self._servers[current["metadata"]["uid"]] = runner

    async def kill_pod(self, pod: dict, grace: float) -> None:
        await self._close(pod["metadata"]["uid"])
        await super().kill_pod(pod, grace)

    def on_change(self, change: Change) -> None:
        super().on_change(change)
        if change.kind.key == self.kind.key and change.type == "DELETED":
            # deleted with no grace period: kill_pod was not called
            runner = self._servers.pop(change.obj["metadata"]["uid"], None)
            if runner is not None:
                asyncio.get_running_loop().create_task(runner.cleanup())

    async def _close(self, uid: str) -> None:
        runner = self._servers.pop(uid, None)
        if runner is not None:
            await runner.cleanup()

    def reset(self) -> None:
        super().reset()
        for runner in self._servers.values():
            asyncio.get_running_loop().create_task(runner.cleanup())
        self._servers.clear()

    async def close_servers(self) -> None:
        """Close every stand-in server and its open connections, and wait until they are closed."""
        runners = list(self._servers.values())
        self._servers.clear()
        await asyncio.gather(*(runner.cleanup() for runner in runners))


class SingleuserStubEmulator(Emulator):
    """An Emulator whose pods answer JupyterHub's readiness check."""

    def make_kubelet(self, api: ApiServer) -> Kubelet:
        return SingleuserStubKubelet(api)

    async def stop(self) -> None:
        # before the loop ends: the cleanup tasks reset() leaves would be cancelled with the
        # rest, leaving the hub's connections to running pods' servers open (ResourceWarning)
        if self._built:
            await self.kubelet_impl.close_servers()
        await super().stop()
