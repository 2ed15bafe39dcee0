"""The emulator's node: the shared node agent (``nodeagent.py``) runs its pods.

The agent is the one the real control plane tier runs, started here as a task on the
emulator's loop with a node's identity (``system:node:emulator-node`` in
``system:nodes``), its requests made in-process (``local.py``, the default) or over HTTP
(``Emulator(node_transport="http")``), as a kubelet talks to its API server: it
registers its Node, renews its Lease, watches the pods bound to it
(``fieldSelector=spec.nodeName=...``), writes their status through the status
subresource, records events and makes the final delete of the pods it stopped. Its
runtime is the status runtime (``nodeagent.StatusRuntime``, with the test controls) or,
for ``ProcessEmulator``, the process runtime.

What the Node authorizer and NodeRestriction let a node do is checked by
:func:`node_allows` (a subset, see its gaps). The agent's own requests are the
emulator's business, not the clients': they are left out of the request log and never
meet the faults a test injects (the real tier's audit log, too, holds the hub's
requests only).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from ..kubeconfig import Credentials
from ..nodeagent import Api, NodeAgent, StatusRuntime
from .apiserver import ApiServer

if TYPE_CHECKING:
    from .emulator import Emulator

NODE = "emulator-node"
NODE_GROUPS = ["system:nodes", "system:authenticated"]
LEASE_NAMESPACE = "kube-node-lease"


class EmulatorNode:
    """One node agent with its runtime and credentials, for one build of the store."""

    def __init__(self, emulator: Emulator, runtime: StatusRuntime) -> None:
        self.emulator = emulator
        self.runtime = runtime
        self.name = NODE
        self.user = f"system:node:{NODE}"
        self.token = "node-" + secrets.token_urlsafe(24)
        self.agent: NodeAgent | None = None
        self._api: Any = None  # nodeagent.Api or local.LocalApi
        self._task: asyncio.Task | None = None

    def start(self, api: Any = None) -> None:
        """Start the agent (on the emulator's loop) with ``api``, its transport (a
        ``LocalApi``), or over HTTP to the emulator's URL with its own token."""
        self.emulator.tokens[self.token] = (self.user, list(NODE_GROUPS))
        if api is None:
            api = Api(Credentials(server=self.emulator.url, token=self.token, ca_file=None))
        self._api = api
        self.agent = NodeAgent(
            self._api, node=self.name, runtime=self.runtime, pod_network=self.emulator.pod_network
        )
        self._task = asyncio.get_running_loop().create_task(self.agent.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._api is not None:
            await self._api.close()
            self._api = None

    def stop_soon(self) -> None:
        """Stop without waiting (a reset, in the loop's synchronous code)."""
        if self._task is not None or self._api is not None:
            asyncio.get_running_loop().create_task(self.stop())


def node_allows(
    api: ApiServer,
    node: str,
    verb: str,
    resource: str | None,
    subresource: str | None,
    namespace: str | None,
    name: str | None,
) -> bool:
    """The Node authorizer and NodeRestriction, for the requests a node agent makes.

    https://kubernetes.io/docs/reference/access-authn-authz/node/ and
    https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction:
    a node reads and writes its own Node and Lease, reads, deletes and writes the status
    of the pods bound to it, records events. Gaps: any Secret, ConfigMap, claim or
    ServiceAccount token may be read or asked for (not only those of its pods' graph),
    a create of a Node is not checked against its name, and a list or watch of pods is
    not checked for the ``spec.nodeName`` field selector.
    """
    if resource == "nodes":
        return verb in ("create", "list", "watch") or name == node
    if resource == "leases":
        return namespace == LEASE_NAMESPACE and (verb == "create" or name == node)
    if resource == "events":
        return verb in ("create", "patch", "update")
    if resource == "pods":
        if verb in ("list", "watch"):
            return namespace is None
        if subresource not in (None, "status") or verb not in ("get", "update", "patch", "delete"):
            return False
        pod = api.store.get(api.registry.lookup("pods"), namespace or "", name or "")
        # a pod that is not there is answered 404, as the API answers a node
        return pod is None or pod["spec"].get("nodeName") == node
    if resource in ("secrets", "configmaps", "persistentvolumeclaims"):
        return verb == "get"
    if resource == "serviceaccounts":
        return subresource == "token" and verb == "create"
    return False
