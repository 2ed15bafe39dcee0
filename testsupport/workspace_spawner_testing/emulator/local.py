"""The node agent's in-process transport on the emulator: its requests without sockets.

``nodeagent.Api`` makes a node agent's few REST calls over HTTP; :class:`LocalApi` has
the same two methods (``call``, ``watch``) and hands each request to the emulator's API
server on its own loop: routed by the same URL router, authorised as a node
(``node.node_allows``), answered with the API server's objects (copies) and errors
(``nodeagent.refusal``, the one mapping ``Api`` raises them by too), the
watch fed from the store's watch queues with the watch endpoint's semantics (replay from
a resourceVersion, an object leaving the selection is DELETED, 410 Gone once expired).

Why: the emulator is the fast tier. Over HTTP, the agent's requests (about a dozen a pod:
status writes, events, the final delete) were JSON encoded, sent, parsed and routed
twice on the one loop that serves the clients too; ``benchmarks/class_start.py --n 100``
took three times as long for KubeSpawner's wave (docs/dev/emulator.md has the figures).
The agent's code is the same either way; ``Emulator(node_transport="http")`` runs it over
HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..nodeagent import Gone, refusal
from .errors import ApiError
from .node import node_allows
from .selectors import query_selector
from .server import K8S_VERSION, route, watch_events
from .store import json_copy

if TYPE_CHECKING:
    from .emulator import Emulator

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class LocalApi:
    def __init__(self, emulator: Emulator, node: str) -> None:
        self.emulator = emulator
        self.node = node

    async def close(self) -> None:
        pass

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        **params: str,
    ) -> Any:
        await asyncio.sleep(0)  # a turn of the loop, as a request's I/O would give
        if path == "/version":
            return dict(K8S_VERSION)
        try:
            return self._serve(method, path, body, content_type, params)
        except ApiError as error:
            raise refusal(method, path, error.code, error.message) from None

    def _serve(
        self, method: str, path: str, body: Any, content_type: str, params: dict[str, str]
    ) -> Any:
        emulator = self.emulator
        api, target = emulator.api, route(emulator, path)
        kind, namespace, name = target.kind, target.namespace or "", target.name or ""
        verb = ("get" if target.name else "list") if method == "GET" else _VERBS[method]
        if not node_allows(
            api, self.node, verb, kind.plural, target.subresource, target.namespace, target.name
        ):
            raise ApiError(
                403, f'User "system:node:{self.node}" cannot {verb} resource "{kind.plural}"'
            )
        if target.subresource == "token":
            return emulator.token_request(namespace, name, body)
        if verb == "get":
            return api.get(kind, namespace, name)
        if verb == "list":
            selector = query_selector(params, supports=kind.supports_field)
            return {
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(emulator.store.rv)},
                "items": api.list(kind, target.namespace, selector),
            }
        if verb == "create":
            return api.create(kind, body, namespace=target.namespace)
        if verb == "update":
            return api.replace(kind, namespace, name, body, subresource=target.subresource)
        if verb == "patch":
            return api.patch(
                kind, namespace, name, body, content_type, subresource=target.subresource
            )
        options = body or {}
        return api.delete(
            kind,
            namespace,
            name,
            grace=options.get("gracePeriodSeconds"),
            preconditions=options.get("preconditions"),
        )

    async def watch(self, path: str, **params: str) -> AsyncIterator[dict]:
        """The watch of ``path`` from ``resourceVersion`` (the agent always gives one)."""
        emulator = self.emulator
        store, target = emulator.store, route(emulator, path)
        kind = target.kind
        selector = query_selector(params, supports=kind.supports_field)

        def in_scope(obj: dict | None) -> bool:
            return (
                obj is not None
                and (
                    target.namespace is None or obj["metadata"].get("namespace") == target.namespace
                )
                and selector.matches(obj)
            )

        watcher = store.subscribe(kind, target.namespace)
        try:
            last = int(params["resourceVersion"])
            try:
                replay = store.changes_since(kind, last)
            except ApiError as e:
                raise Gone(e.message) from None
            for change in replay:
                for event_type, obj in watch_events(change, in_scope):
                    yield {"type": event_type, "object": json_copy(obj)}
                last = change.rv
            while True:
                if watcher.expired:
                    raise Gone(f"too old resource version: {last}")
                while watcher.changes:
                    change = watcher.changes.popleft()
                    if change.rv > last:
                        for event_type, obj in watch_events(change, in_scope):
                            yield {"type": event_type, "object": json_copy(obj)}
                        last = change.rv
                await watcher.wait(1.0)
        finally:
            store.unsubscribe(kind, target.namespace, watcher)
