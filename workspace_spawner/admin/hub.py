"""The JupyterHub REST API requests of workspace-admin.

https://jupyterhub.readthedocs.io/en/stable/reference/rest-api.html
The token needs the scopes ``list:users``, ``read:users``, ``read:servers``,
``servers`` (start and stop) and ``admin:server_state`` (the names the spawner
saved); a hub admin's token, or a service with the ``admin`` role, has them all.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import aiohttp

from ..kube.policy import Deadline

__all__ = ["HubClient", "HubError", "UserNotFound", "server_status", "STATUSES"]

# What `list` shows for a user's default server.
STATUSES = ("running", "pending", "stopped")


class HubError(Exception):
    """A hub request failed; ``str()`` says what to do about it."""


class UserNotFound(HubError):
    """The hub has no user of that name."""


def server_status(user: dict[str, Any]) -> str:
    """``running``, ``pending`` or ``stopped``: the default server, from the hub's user model.

    ``servers[""]`` is there for an active server (and, with
    ``include_stopped_servers``, for a stopped one, with ``stopped: true``);
    ``pending`` is ``spawn`` or ``stop`` while the hub waits for the spawner.
    """
    server = (user.get("servers") or {}).get("")
    if server is None:
        return "pending" if user.get("pending") else "stopped"
    if server.get("pending"):
        return "pending"
    if server.get("stopped"):
        return "stopped"
    return "running" if server.get("ready") else "pending"


def server_state(user: dict[str, Any]) -> dict[str, Any]:
    """The spawner's saved state of the default server (``{}`` without ``admin:server_state``)."""
    server = (user.get("servers") or {}).get("") or {}
    return server.get("state") or {}


class HubClient:
    """A few calls of the hub's REST API over one aiohttp session."""

    def __init__(
        self, *, url: str, token: str, session: aiohttp.ClientSession, request_timeout: float = 30
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)

    async def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        url = f"{self.url}{path}"
        headers = {
            "Authorization": f"token {self._token}",
            "Accept": "application/jupyterhub-pagination+json",
        }
        try:
            async with self._session.request(
                method, url, params=params, headers=headers, timeout=self._timeout
            ) as resp:
                text = await resp.text()
                body: Any = None
                if text and resp.content_type == "application/json":
                    body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise HubError(
                f"Cannot reach the hub at {self.url} ({type(e).__name__}: {e}): "
                "check --hub-url (the hub's API URL, ending in /hub/api) and that the hub runs."
            ) from e
        if status in (401, 403):
            message = body.get("message", "") if isinstance(body, dict) else ""
            said = f": {message}" if message else ""
            raise HubError(
                f"The hub rejected the token for {method} {path} (HTTP {status}{said}): "
                "use an admin's token or a service token with the scopes list:users, read:users, "
                "read:servers, servers and admin:server_state "
                "(JUPYTERHUB_API_TOKEN or --token-file)."
            )
        return status, body

    @staticmethod
    def _message(body: Any) -> str:
        return body.get("message", "") if isinstance(body, dict) else str(body or "")

    async def get_user(self, name: str) -> dict[str, Any]:
        """The user model, with the default server's state, even when stopped."""
        status, body = await self._request(
            "GET", f"/users/{quote(name, safe='')}", params={"include_stopped_servers": "1"}
        )
        if status == 404:
            raise UserNotFound(f"No user {name!r} in the hub at {self.url}.")
        if status != 200:
            raise HubError(
                f"Could not get user {name!r} from the hub: HTTP {status} {self._message(body)}"
            )
        return body

    async def list_users(self) -> list[dict[str, Any]]:
        """Every user of the hub (all pages), with the default server's state."""
        users: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = {"include_stopped_servers": "1", "offset": str(offset), "limit": "200"}
            status, body = await self._request("GET", "/users", params=params)
            if status != 200:
                raise HubError(
                    f"Could not list the hub's users: HTTP {status} {self._message(body)}"
                )
            if isinstance(body, list):  # a hub that does not paginate
                return body
            users.extend(body["items"])
            following = (body.get("_pagination") or {}).get("next")
            if not following:
                return users
            offset = following["offset"]

    async def stop_server(self, name: str) -> None:
        """Ask the hub to stop the user's default server (202: stopping, 204: stopped)."""
        status, body = await self._request("DELETE", f"/users/{quote(name, safe='')}/server")
        if status == 404:
            raise UserNotFound(f"No user {name!r} in the hub at {self.url}.")
        if status == 400 and "not running" in self._message(body):
            return
        if status not in (202, 204):
            raise HubError(f"Could not stop {name}'s server: HTTP {status} {self._message(body)}")

    async def start_server(self, name: str) -> None:
        """Ask the hub to start the user's default server (201: started, 202: starting)."""
        status, body = await self._request("POST", f"/users/{quote(name, safe='')}/server")
        if status == 404:
            raise UserNotFound(f"No user {name!r} in the hub at {self.url}.")
        if status == 400 and "already running" in self._message(body):
            return
        if status not in (201, 202):
            raise HubError(f"Could not start {name}'s server: HTTP {status} {self._message(body)}")

    async def wait_for_status(
        self, name: str, want: str, *, timeout: float, interval: float = 0.5
    ) -> dict[str, Any]:
        """Poll the user until their server is ``want`` (``stopped`` or ``running``).

        TimeoutError after ``timeout`` seconds.
        """
        deadline = Deadline(timeout)
        while True:
            user = await self.get_user(name)
            status = server_status(user)
            if status == want:
                return user
            if want == "running" and status == "stopped":
                # the start was accepted (pending) and then failed
                raise HubError(
                    f"{name}'s server failed to start: see the hub's log or the spawn page."
                )
            if deadline.expired:
                verb = "stop" if want == "stopped" else "start"
                raise TimeoutError(
                    f"{name}'s server did not {verb} in time: still {status} after {timeout:g}s "
                    "(raise --timeout, or look at the hub's log)."
                )
            await asyncio.sleep(interval)
