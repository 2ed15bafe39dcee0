"""HTTP: URL routing, authentication, the request log, faults, list/watch, discovery.

https://kubernetes.io/docs/reference/using-api/api-concepts/
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import openshift
from .control import handle_control
from .errors import ApiError, already_exists, conflict, status_object
from .faults import Fault, RequestRecord
from .node import node_allows
from .proxy import forward
from .resources import Kind, Target
from .selectors import Selector, query_selector
from .store import Change

if TYPE_CHECKING:
    from .emulator import Emulator

K8S_VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-emulator",
    "platform": "linux/amd64",
    "goVersion": "go1.24",
    "compiler": "gc",
}
# how long a hanging fault holds a request open at most
HANG_SECONDS = 30.0


EMULATOR_KEY = web.AppKey("emulator", object)


def make_app(emulator: Emulator) -> web.Application:
    app = web.Application(client_max_size=16 * 2**20)
    app[EMULATOR_KEY] = emulator
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _json(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(error: ApiError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return _json(error.status(), error.code, headers)


async def handle(request: web.Request) -> web.StreamResponse:
    emulator = request.app[EMULATOR_KEY]
    path = request.path.rstrip("/") or "/"
    if path.startswith("/_emulator"):
        return await handle_control(emulator, request, path)
    started = time.monotonic()
    # the log this request began under: one begun before a reset or clear (a watch of
    # the previous test's reflector, closed late) is not counted in the new log
    log = emulator._requests
    record = RequestRecord(
        verb="",
        method=request.method,
        path=path,
        query=dict(request.query),
        resource=None,
        namespace=None,
        name=None,
        subresource=None,
    )
    # logged as it arrives (the audit log's RequestReceived), its fields filled in below:
    # a streamed answer (a watch, pods/proxy) reaches its client before the handler
    # returns, and a client that has its answer must find the request in the log
    log.append(record)
    response: web.StreamResponse | None = None
    try:
        record.user, groups = _authenticate(emulator, request)
        own_node = record.user == emulator.node.user
        if own_node:
            # the emulator's own node agent: not a client's request (node.py); it was
            # logged on arrival, before its credentials said whose it is
            _unlog(log, record)
        if path in ("/api", "/apis", "/version") or _is_discovery(path):
            record.verb = "get"
            response = _json(discovery(emulator, path))
            return response
        target = route(emulator, path)
        record.resource = target.kind.plural
        record.namespace, record.name = target.namespace, target.name
        record.subresource = target.subresource
        record.verb = _verb(request, target)
        if record.verb not in target.kind.verbs and target.subresource is None:
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                reason="MethodNotAllowed",
            )
        if "system:nodes" in groups and record.user.startswith("system:node:"):
            allowed = node_allows(
                emulator.api,
                record.user.removeprefix("system:node:"),
                record.verb,
                target.kind.plural,
                target.subresource,
                target.namespace,
                target.name,
            )
        else:
            allowed = emulator.authorizer(
                record.user,
                groups,
                record.verb,
                target.kind.group,
                target.kind.plural,
                target.subresource,
                target.namespace,
                target.name,
            )
        if not allowed:
            raise _denied(record, target)
        fault = None if own_node else _take_fault(emulator, record)
        cut_after = fault.after_bytes if fault is not None else None
        if fault is not None and cut_after is None:
            if fault.hang:
                await _hang(request)
            name = target.name
            if record.verb == "create":
                # a create names its object in the body (409 AlreadyExists says which)
                body = await _body(request)
                name = (body.get("metadata") or {}).get("name") if isinstance(body, dict) else None
            raise _fault_error(fault, target, name)
        if record.verb == "watch":
            response = await watch(emulator, request, target)
            return response
        if target.subresource == "proxy":
            # streamed both ways, and ended with the client (no shield)
            response = await forward(emulator, request, target, cut_after=cut_after)
            return response
        response = await asyncio.shield(_serve(emulator, request, target, record.verb))
        if record.verb == "create" and response.status == 201 and record.name is None:
            # the log names what a create made, as an audit event's objectRef does
            created = json.loads(response.text or "{}")  # type: ignore[attr-defined]
            record.name = (created.get("metadata") or {}).get("name")
        return response
    except ApiError as e:
        response = _error(e)
        return response
    except (ConnectionResetError, asyncio.CancelledError):
        record.status = 499
        raise
    finally:
        if response is not None:
            record.status = response.status
        record.duration = time.monotonic() - started


def _unlog(log: list[RequestRecord], record: RequestRecord) -> None:
    # by identity, from the end, where it is (records of equal fields are other requests)
    for index in range(len(log) - 1, -1, -1):
        if log[index] is record:
            del log[index]
            return


def _authenticate(emulator: Emulator, request: web.Request) -> tuple[str, list[str]]:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else None
    if token not in emulator.tokens:
        raise ApiError(401, "Unauthorized", reason="Unauthorized")
    user, groups = emulator.tokens[token]  # type: ignore[index]
    return user, groups


def _denied(record: RequestRecord, target: Target) -> ApiError:
    # https://kubernetes.io/docs/reference/access-authn-authz/authorization/
    resource = target.kind.plural + (f"/{target.subresource}" if target.subresource else "")
    group = f'in API group "{target.kind.group}"'
    where = (
        f' in the namespace "{target.namespace}"' if target.namespace else " at the cluster scope"
    )
    what = f'{target.kind.plural} "{target.name}"' if target.name else target.kind.plural
    return ApiError(
        403,
        f'{what} is forbidden: User "{record.user}" cannot {record.verb} '
        f'resource "{resource}" {group}{where}',
        kind=target.kind.plural,
        name=target.name,
        group=target.kind.group,
    )


def _take_fault(emulator: Emulator, record: RequestRecord) -> Fault | None:
    for fault in emulator.faults:
        if fault.matches(record):
            fault.take()
            return fault
    return None


async def _hang(request: web.Request) -> None:
    """Hold the request open until the client goes away (bounded)."""
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise asyncio.CancelledError()
        await asyncio.sleep(0.05)


def _fault_error(fault: Fault, target: Target, name: str | None) -> ApiError:
    name = name or ""
    if fault.status == 409:
        if fault.verb == "create":
            return already_exists(target.kind.plural, name, group=target.kind.group)
        return conflict(target.kind.plural, name, group=target.kind.group)
    if fault.status == 429:
        return ApiError(
            429,
            fault.message or "Too many requests, please try again later.",
            retry_after=1,
            kind=target.kind.plural,
            name=name,
        )
    if fault.status == 500:
        return ApiError(
            500,
            fault.message or "Internal error occurred: injected fault",
            reason="InternalError",
            kind=target.kind.plural,
            name=name,
        )
    if fault.status == 403:
        return ApiError(
            403,
            fault.message or f'{target.kind.plural} "{name}" is forbidden: injected fault',
            kind=target.kind.plural,
            name=name,
        )
    return ApiError(
        fault.status, fault.message or "injected fault", kind=target.kind.plural, name=name
    )


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    watching = (request.query.get("watch") or "").lower() in ("true", "1")
    if method == "GET":
        if target.name is None:
            return "watch" if watching else "list"
        return "get"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if target.name else "deletecollection",
    }.get(method, method)


# -- routing ------------------------------------------------------------------------


def route(emulator: Emulator, path: str) -> Target:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    registry = emulator.registry
    namespace = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and (k := registry.by_path(group, version, rest[2])) is not None
        and k.namespaced
    ):
        namespace, rest = rest[1], rest[2:]
    kind = registry.by_path(group, version, rest[0])
    # pods/NAME/proxy/PATH...: the path after proxy is the pod's (proxy.py)
    proxied = len(rest) > 3 and rest[2] == "proxy"
    if kind is None or (len(rest) > 3 and not proxied):
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in kind.subresources:
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    if kind.namespaced and name is not None and namespace is None:
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    return Target(kind, namespace, name, subresource)


def _is_discovery(path: str) -> bool:
    parts = path.strip("/").split("/")
    return (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3)


def discovery(emulator: Emulator, path: str) -> dict:
    """APIVersions, APIGroupList and APIResourceList, from the registry.

    https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
    """
    if path == "/version":
        return K8S_VERSION
    groups = emulator.registry.groups()
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{emulator.port}"}
            ],
        }
    if path == "/apis":
        out = []
        for group_version in groups:
            if "/" not in group_version:
                continue
            group, version = group_version.split("/")
            gv = {"groupVersion": group_version, "version": version}
            out.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}
    group_version = path.split("/", 2)[2] if path.startswith("/apis/") else "v1"
    if group_version not in groups:
        raise ApiError(404, "the server could not find the requested resource", reason="NotFound")
    resources = []
    for k in groups[group_version]:
        resources.append(
            {
                "name": k.plural,
                "singularName": k.kind.lower(),
                "kind": k.kind,
                "namespaced": k.namespaced,
                "verbs": list(k.verbs),
            }
        )
        for sub in k.subresources:
            resources.append(
                {
                    "name": f"{k.plural}/{sub}",
                    "singularName": "",
                    "kind": k.kind,
                    "namespaced": k.namespaced,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


# -- verbs --------------------------------------------------------------------------


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "the body of the request could not be decoded as JSON") from None


def _selector(request: web.Request, kind: Kind) -> Selector:
    return query_selector(request.query, supports=kind.supports_field)


async def _serve(
    emulator: Emulator, request: web.Request, target: Target, verb: str
) -> web.StreamResponse:
    body = await _body(request) if request.method in ("POST", "PUT", "PATCH", "DELETE") else None
    api, kind = emulator.api, target.kind
    if kind.openshift:
        return _json(*openshift.serve(emulator, request, target, verb, body))
    if kind.plural == "selfsubjectreviews":
        user, groups = _authenticate(emulator, request)
        info = {"username": user, "groups": groups}
        return _json({**(body or {}), "status": {"userInfo": info}}, 201)
    if target.subresource == "token":
        # the account need not exist: the emulator makes no default ServiceAccounts
        return _json(emulator.token_request(target.namespace or "", target.name or "", body), 201)
    if target.subresource == "log":
        container = request.query.get("container")
        pod = api.get(kind, target.namespace or "", target.name or "")
        if container is None:
            container = pod["spec"]["containers"][0]["name"]
        return web.Response(
            # the kubelet serves logs and the API server proxies them; here an in-process
            # call into the node agent's runtime (docs/dev/emulator.md)
            text=emulator.node.runtime.log(target.namespace or "", target.name or "", container),
            content_type="text/plain",
        )
    ns = target.namespace or ""
    if verb == "get":
        return _json(api.get(kind, ns, target.name or ""))
    if verb == "list":
        return web.Response(
            text=list_response(emulator, request, target), content_type="application/json"
        )
    if verb == "create":
        if request.query.get("dryRun") == "All":
            return _json(body, 201)
        return _json(api.create(kind, body, namespace=target.namespace), 201)
    if verb == "update":
        return _json(api.replace(kind, ns, target.name or "", body, subresource=target.subresource))
    if verb == "patch":
        content_type = request.headers.get("Content-Type", "")
        return _json(
            api.patch(
                kind, ns, target.name or "", body, content_type, subresource=target.subresource
            )
        )
    if verb == "delete":
        grace = request.query.get("gracePeriodSeconds")
        if grace is None and isinstance(body, dict):
            grace = body.get("gracePeriodSeconds")
        preconditions = body.get("preconditions") if isinstance(body, dict) else None
        result = api.delete(
            kind,
            ns,
            target.name or "",
            grace=int(grace) if grace is not None else None,
            preconditions=preconditions,
        )
        return _json(result)
    if verb == "deletecollection":
        for obj in api.list(kind, target.namespace, _selector(request, kind)):
            api.delete(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return _json(status_object(code=200, reason="", message="") | {"status": "Success"})
    raise ApiError(
        405,
        "the server does not allow this method on the requested resource",
        reason="MethodNotAllowed",
    )


def list_response(emulator: Emulator, request: web.Request, target: Target) -> str:
    """The list's JSON, its items the stored objects' texts (not decoded and encoded again)."""
    kind = target.kind
    rv = request.query.get("resourceVersion")
    match = request.query.get("resourceVersionMatch")
    if match == "Exact" and rv not in (None, "", "0", str(emulator.store.rv)):
        # no snapshots are kept: an exact older version is gone
        raise ApiError(410, "The resourceVersion for the provided list is too old.", reason="Gone")
    items = emulator.api.list_texts(kind, target.namespace, _selector(request, kind))
    head = json.dumps(
        {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(emulator.store.rv)},
        }
    )
    return f'{head[:-1]}, "items": [{", ".join(items)}]}}'


def watch_events(change: Change, in_scope: Callable[[dict | None], bool]) -> list[tuple[str, dict]]:
    """What a watcher of a selection sees of a change: (type, object), none or one."""
    now_in, was_in = in_scope(change.obj), in_scope(change.old)
    if change.type == "DELETED":
        return [("DELETED", change.obj)] if was_in else []
    if now_in:
        return [("ADDED" if not was_in else change.type, change.obj)]
    if was_in and change.old is not None:
        # an object leaving the selection is DELETED for this watcher, with its
        # previous content at the change's resourceVersion, as the watch cache
        # sends it (pkg/storage/cacher/cache_watcher.go, convertToWatchEvent)
        left = {
            **change.old,
            "metadata": {
                **change.old["metadata"],
                "resourceVersion": change.obj["metadata"]["resourceVersion"],
            },
        }
        return [("DELETED", left)]
    return []


async def watch(emulator: Emulator, request: web.Request, target: Target) -> web.StreamResponse:
    """Newline-delimited watch events from a resourceVersion (or the current state).

    https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    """
    store, kind = emulator.store, target.kind
    selector = _selector(request, kind)
    rv_param = request.query.get("resourceVersion")
    timeout = float(request.query.get("timeoutSeconds") or 1800)
    bookmarks = (request.query.get("allowWatchBookmarks") or "").lower() in ("true", "1")
    deadline = time.monotonic() + timeout
    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    await response.prepare(request)

    def in_scope(obj: dict | None) -> bool:
        return (
            obj is not None
            and (target.namespace is None or obj["metadata"].get("namespace") == target.namespace)
            and selector.matches(obj)
        )

    async def send(event_type: str, obj: dict | None, text: str = "") -> None:
        # an object's text is written once at its change and shared by every watch
        await response.write(
            f'{{"type": "{event_type}", "object": {text or json.dumps(obj)}}}\n'.encode()
        )

    async def deliver(change: Change) -> None:
        for event_type, obj in watch_events(change, in_scope):
            # the change's own object has its text, written once; an object leaving the
            # selection is sent with its previous content
            await send(event_type, obj, change.text if obj is change.obj else "")

    # subscribed before the list or the replay, with no await between: no change is missed
    watcher = store.subscribe(kind, target.namespace)
    try:
        last = store.rv
        if rv_param in (None, "", "0"):
            initial = emulator.api.list_texts(kind, target.namespace, selector)
            replay: list[Change] = []
        else:
            last, initial = int(rv_param), []
            try:
                replay = store.changes_since(kind, last)
            except ApiError as e:
                await send("ERROR", e.status())
                return response
        for text in initial:
            await send("ADDED", None, text)
        for change in replay:
            await deliver(change)
            last = change.rv
        while True:
            if watcher.expired:
                error = ApiError(410, f"too old resource version: {last}", reason="Expired")
                await send("ERROR", error.status())
                return response
            while watcher.changes:
                change = watcher.changes.popleft()
                if change.rv > last:  # not already replayed
                    await deliver(change)
                    last = change.rv
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if bookmarks:
                    await send(
                        "BOOKMARK",
                        {
                            "kind": kind.kind,
                            "apiVersion": kind.api_version,
                            "metadata": {"resourceVersion": str(max(last, store.rv))},
                        },
                    )
                await response.write_eof()
                return response
            if request.transport is None or request.transport.is_closing():
                return response
            await watcher.wait(min(remaining, 1.0))
    except ConnectionError:
        # the watcher went away (a reflector stopping, a client timeout): the end of
        # a watch, not a server error; aiohttp says so with a ConnectionResetError, or
        # with a bare ConnectionError ("Connection lost") when it goes while a write
        # waits for the socket to drain
        return response
    finally:
        store.unsubscribe(kind, target.namespace, watcher)
