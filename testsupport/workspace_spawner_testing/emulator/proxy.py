"""pods/proxy: the API server's HTTP proxy to a pod's port, as kube-apiserver serves it.

``/api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy/PATH`` is forwarded to
``SCHEME://POD_IP:PORT/PATH`` with the query, the body streamed both ways and the
caller's ``Authorization`` header left out: kube-apiserver drops it once it has
authenticated the request
(https://kubernetes.io/docs/tasks/extend-kubernetes/http-proxy-access-api/,
staging/src/k8s.io/apiserver/pkg/endpoints/filters/authentication.go). The API
server dials the pod's IP itself (no kubelet is involved), so with the pod runner
this reaches the pod's real process. A pod without an IP, or a port nothing
listens on, answers 503 as kube-apiserver's proxy does.

``cut_after``: a fault that breaks the connection after that many bytes of the
answer, as a network or API server failure mid-stream would.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from yarl import URL

from .errors import ApiError
from .resources import Target

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["forward", "split_name"]

# https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1, and what the API server consumes
_DROPPED = {
    "authorization",
    "connection",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


def split_name(name: str) -> tuple[str, str, int]:
    """(scheme, pod name, port) of ``[scheme:]name[:port]`` (port 80 if not given)."""
    parts = name.split(":")
    scheme = "http"
    if len(parts) == 3:
        scheme, parts = parts[0] or "http", parts[1:]
    if len(parts) == 2:
        try:
            return scheme, parts[0], int(parts[1])
        except ValueError:
            raise ApiError(400, f"invalid port in {name!r}", reason="BadRequest") from None
    return scheme, parts[0], 80


def _tail(request: web.Request) -> str:
    raw = request.raw_path
    at = raw.find("/proxy", raw.find("/pods/"))
    tail = raw[at + len("/proxy") :]
    return tail if tail.startswith("/") else "/" + tail


async def _body(request: web.Request):
    async for chunk in request.content.iter_chunked(256 * 1024):
        yield chunk


async def forward(
    emulator: Emulator, request: web.Request, target: Target, *, cut_after: int | None = None
) -> web.StreamResponse:
    scheme, name, port = split_name(target.name or "")
    pod = emulator.api.get(target.kind, target.namespace or "", name)
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise ApiError(503, f"pod {name} has no IP address yet", reason="ServiceUnavailable")
    # as sent: the path and query reach the pod with their escapes
    url = URL(f"{scheme}://{ip}:{port}{_tail(request)}", encoded=True)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
    if request.content_length is not None:
        headers["Content-Length"] = str(request.content_length)
    has_body = request.body_exists
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        try:
            upstream = await session.request(
                request.method,
                url,
                headers=headers,
                data=_body(request) if has_body else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError) as e:
            raise ApiError(
                503, f"error trying to reach service: {e}", reason="ServiceUnavailable"
            ) from None
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _DROPPED:
                    response.headers.add(key, value)
            if upstream.content_length is not None and cut_after is None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            sent = 0
            try:
                async for chunk in upstream.content.iter_chunked(256 * 1024):
                    if cut_after is not None and sent + len(chunk) > cut_after:
                        await response.write(chunk[: cut_after - sent])
                        _break(request)
                        return response
                    await response.write(chunk)
                    sent += len(chunk)
            except (aiohttp.ClientError, asyncio.IncompleteReadError):
                # the pod broke off its answer: so does the proxy (no final chunk)
                _break(request)
                return response
            await response.write_eof()
            return response


def _break(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
