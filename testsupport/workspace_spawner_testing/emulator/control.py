"""The emulator's own HTTP API under /_emulator/, for tools running in a subprocess.

GET/DELETE /_emulator/requests, POST/DELETE /_emulator/faults, POST /_emulator/reset,
POST /_emulator/kubelet/<method> (JSON body: the method's keyword arguments).
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING

from aiohttp import web

from .errors import ApiError
from .faults import Fault

if TYPE_CHECKING:
    from .emulator import Emulator

KUBELET_ACTIONS = {
    "fail_image_pull",
    "fail_init_container",
    "slow_init_container",
    "slow_start",
    "never_ready",
    "set_log",
    "set_termination_message",
    "container_exited",
}


async def handle_control(emulator: Emulator, request: web.Request, path: str) -> web.StreamResponse:
    parts = path.strip("/").split("/")[1:]
    try:
        body = json.loads(await request.read() or b"{}")
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        if parts == ["requests"] and request.method == "GET":
            return web.json_response([r.to_dict() for r in emulator._requests])
        if parts == ["requests"] and request.method == "DELETE":
            emulator.start_request_log()
            return web.json_response({})
        if parts == ["faults"] and request.method == "POST":
            emulator.faults.append(Fault(**{"verb": None, "resource": None, **body}))
            return web.json_response({})
        if parts == ["faults"] and request.method == "DELETE":
            emulator.faults.clear()
            return web.json_response({})
        if parts == ["reset"] and request.method == "POST":
            emulator.reset(openshift=body.get("openshift"))
            return web.json_response({})
        if len(parts) == 2 and parts[0] == "kubelet" and parts[1] in KUBELET_ACTIONS:
            done = getattr(emulator.kubelet_impl, parts[1])(**body)
            if inspect.isawaitable(done):  # container_exited: its status written first
                await done
            return web.json_response({})
    except (TypeError, ValueError, ApiError) as e:
        return web.json_response({"error": str(e)}, status=400)
    return web.json_response({"error": "not found"}, status=404)
