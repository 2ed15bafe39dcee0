"""The Emulator: an in-process Kubernetes API server for tests and the local demo.

Use it in a running event loop (`await emulator.start()`) or from synchronous code
(`emulator.start_in_thread()`); every public method may be called from any thread.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import functools
import inspect
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .. import openshift_scc, seeds
from ..nodeagent import StatusRuntime
from ..objectapi import ObjectApi, Patch
from .apiserver import ApiServer
from .faults import WRITE_VERBS, Fault, RequestRecord
from .local import LocalApi
from .namespaces import NamespaceController
from .node import LEASE_NAMESPACE, EmulatorNode
from .quota import Quotas
from .resources import Registry
from .scc import SccAdmission
from .scheduler import Scheduler
from .selectors import Selector, parse_field_selector, parse_label_selector
from .server import make_app
from .snapshots import DEFAULT_SNAPSHOT_CLASS_ANNOTATION, SnapshotController, SnapshotData
from .storage import Storage
from .store import Store

Authorizer = Callable[..., bool]
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")


def allow_all(
    user: str,
    groups: list[str],
    verb: str,
    api_group: str,
    resource: str | None,
    subresource: str | None,
    namespace: str | None,
    name: str | None,
) -> bool:
    return True


# what SCC admission asks before it lets RBAC grant SCCs (``use``)
allow_all.allows_everything = True  # type: ignore[attr-defined]


class Emulator(ObjectApi):
    def __init__(
        self,
        *,
        openshift: bool = False,
        namespace_finalize_seconds: float = 0.2,
        provision_seconds: float = 0.01,
        history: int = 5000,
        snapshots: bool = True,
        node_transport: str = "local",
    ) -> None:
        self.openshift = openshift
        # how the node agent reaches this API server: "local" (in-process calls, local.py)
        # or "http" (over HTTP with its token, as a kubelet)
        if node_transport not in ("local", "http"):
            raise ValueError(f"node_transport: 'local' or 'http', not {node_transport!r}")
        self.node_transport = node_transport
        # serve the VolumeSnapshot CRDs, with a snapshot controller (snapshots.py)
        self.snapshots = snapshots
        self.namespace_finalize_seconds = namespace_finalize_seconds
        self.provision_seconds = provision_seconds
        self.history = history
        self.admin_token = secrets.token_urlsafe(24)
        self.tokens: dict[str, tuple[str, list[str]]] = {
            self.admin_token: (ADMIN_USER, list(ADMIN_GROUPS))
        }
        # replaceable: (user, groups, verb, api_group, resource, subresource, namespace, name)
        self.authorizer: Authorizer = allow_all
        self._requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.host = "127.0.0.1"
        # the loopback network the node agent gives the pods addresses from
        self.pod_network = "127.0.0.0/8"
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._built = False
        self.snapshot_controller: SnapshotController | None = None

    # -- lifecycle ------------------------------------------------------------------

    def _build(self) -> None:
        """(Re)create the store and the controllers; runs on the emulator's loop."""
        if self._built:
            self.node.stop_soon()
            self.scheduler.cancel()
            self.namespaces.cancel()
            if self.snapshot_controller is not None:
                self.snapshot_controller.cancel()
        self.registry = Registry(openshift=self.openshift, snapshots=self.snapshots)
        self.store = Store(history=self.history)
        self.api = ApiServer(registry=self.registry, store=self.store)
        self.quotas = Quotas(self.api)
        self.storage = Storage(self.api, provision_seconds=self.provision_seconds)
        self.namespaces = NamespaceController(
            self.api, finalize_seconds=self.namespace_finalize_seconds
        )
        self.scheduler = Scheduler(self.api)
        self.node = EmulatorNode(self, self.make_runtime(self.api))
        self.snapshot_controller = (
            SnapshotController(self.api, data=self.snapshot_data()) if self.snapshots else None
        )
        self.scc = SccAdmission(self, self.api) if self.openshift else None
        self._built = True
        if self.scc is not None:
            self.scc.seed()
        for name in ("default", "kube-system", "kube-public", LEASE_NAMESPACE):
            self.api.create(self.registry.lookup("namespaces"), {"metadata": {"name": name}})
        self.api.create(
            self.registry.lookup("storageclasses"),
            seeds.storage_class(
                name=seeds.DEFAULT_STORAGE_CLASS,
                provisioner="emulator.local/hostpath",
                default=True,
            ),
        )
        if self.snapshots:
            self.api.create(
                self.registry.lookup("volumesnapshotclasses"),
                {
                    "apiVersion": "snapshot.storage.k8s.io/v1",
                    "kind": "VolumeSnapshotClass",
                    "metadata": {
                        "name": "standard-snapshots",
                        "annotations": {DEFAULT_SNAPSHOT_CLASS_ANNOTATION: "true"},
                    },
                    "driver": "emulator.local/hostpath",
                    "deletionPolicy": "Delete",
                },
            )
        if self._runner is not None:  # a reset: the server is up, the node comes back
            self._start_node()

    def _start_node(self) -> None:
        local = self.node_transport == "local"
        self.node.start(LocalApi(self, self.node.name) if local else None)

    def make_runtime(self, api: ApiServer) -> StatusRuntime:
        """The node agent's runtime; override to run pods differently (the demo's
        process runtime)."""
        return StatusRuntime(init_seconds=0.01, stop_seconds=0.01)

    @property
    def kubelet_impl(self) -> StatusRuntime:
        """The node agent's runtime (its test controls, its containers' logs)."""
        return self.node.runtime

    def snapshot_data(self) -> SnapshotData | None:
        """Override to copy claims' data into snapshots and back (the process runner does)."""
        return None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if not host.startswith("127."):
            raise ValueError("the emulator only listens on loopback addresses")
        self._loop = asyncio.get_running_loop()
        self._build()
        self._runner = web.AppRunner(make_app(self), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._start_node()
        return self.url

    async def stop(self) -> None:
        if self._built:
            await self.node.stop()
            self.scheduler.cancel()
            self.namespaces.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        started = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as e:  # reported to the starting thread
                error.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            # open watches and hung requests: end them, or closing the loop
            # destroys them mid-flight with "Task was destroyed but it is pending!"
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="k8s-emulator", daemon=True)
        self._thread.start()
        started.wait(30)
        if error:
            raise error[0]
        return self

    def stop_thread(self) -> None:
        if self._thread and self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run fn on the emulator's loop and return its result, from any thread."""
        if self._loop is None:
            raise RuntimeError("the emulator is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return fn(*args, **kwargs)

        async def run() -> Any:
            result = fn(*args, **kwargs)
            # a coroutine (a control of the node agent's runtime): done before returning
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    # -- configuration ----------------------------------------------------------------

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        token: str | None = None,
        namespace: str | None = None,
        user: str = "admin",
    ) -> Path:
        context: dict[str, Any] = {"cluster": "emulator", "user": user}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "contexts": [{"name": "emulator", "context": context}],
            "users": [{"name": user, "user": {"token": token or self.admin_token}}],
            "preferences": {},
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config))
        return path

    def add_token(self, token: str, *, user: str, groups: list[str] | None = None) -> None:
        self.tokens[token] = (user, list(groups or []) + ["system:authenticated"])

    def reset(self, *, openshift: bool | None = None, snapshots: bool = True) -> None:
        """Empty the store, the request log and the faults; seed the defaults again.

        ``snapshots=False``: a cluster without the VolumeSnapshot CRDs, until the next reset.
        """

        def run() -> None:
            if openshift is not None:
                self.openshift = openshift
            self.snapshots = snapshots
            self.faults.clear()
            self.start_request_log()
            self.authorizer = allow_all
            self.tokens = {self.admin_token: (ADMIN_USER, list(ADMIN_GROUPS))}
            self._build()

        self._call(run)

    # -- the request log and faults --------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        return self._call(lambda: list(self._requests))

    def clear_requests(self) -> None:
        self._call(self.start_request_log)

    def start_request_log(self) -> None:
        """A new, empty request log (in the emulator's loop): requests still open keep
        the old one, so they are not counted among the new log's."""
        self._requests = []

    def count_writes(self, *, resource: str | None = None) -> int:
        return sum(
            1 for r in self.requests if r.verb in WRITE_VERBS and resource in (None, r.resource)
        )

    def inject_fault(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        status: int = 500,
        count: int | None = 1,
        namespace: str | None = None,
        name: str | None = None,
        hang: bool = False,
        message: str | None = None,
        after_bytes: int | None = None,
        subresource: str | None = None,
        path: str | None = None,
        rate: float | None = None,
        seed: int = 0,
    ) -> Fault:
        """See :class:`Fault`; ``count=None`` with a ``rate`` for random faults all along."""
        fault = Fault(
            after_bytes=after_bytes,
            subresource=subresource,
            path=path,
            verb=verb,
            resource=resource,
            status=status,
            count=count,
            namespace=namespace,
            name=name,
            hang=hang,
            message=message,
            rate=rate,
            seed=seed,
        )
        self._call(self.faults.append, fault)
        return fault

    # -- direct store access (no HTTP, no authorisation) ------------------------------

    def _create(self, obj: dict, namespace: str | None) -> dict:
        return self._call(
            lambda: self.api.create(self.registry.for_object(obj), obj, namespace=namespace)
        )

    def _get(self, kind: str, name: str, namespace: str | None) -> dict | None:
        def run() -> dict | None:
            k = self.registry.lookup(kind)
            return self.store.get(k, namespace or "" if k.namespaced else "", name)

        return self._call(run)

    def _list(self, kind: str, namespace: str | None, labels: str, fields: str) -> list[dict]:
        def run() -> list[dict]:
            k = self.registry.lookup(kind)
            selector = Selector(
                tuple(parse_label_selector(labels)),
                tuple(parse_field_selector(fields, supports=k.supports_field)),
            )
            return self.api.list(k, namespace, selector)

        return self._call(run)

    def _patch(self, kind: str, name: str, namespace: str | None, patch: Patch) -> dict:
        k = self.registry.lookup(kind)
        return self._call(
            lambda: self.api.patch(
                k,
                namespace or "",
                name,
                patch.body,
                patch.content_type,
                subresource=patch.subresource,
            )
        )

    def _delete(self, kind: str, name: str, namespace: str | None, grace: int | None) -> dict:
        return self._call(
            lambda: self.api.delete(self.registry.lookup(kind), namespace or "", name, grace=grace)
        )

    def grant_scc(
        self, scc: str, *, namespace: str = "", service_account: str = "", group: str = ""
    ) -> None:
        """Let a ServiceAccount or a group use an SCC, as ``oc adm policy add-scc-to-user
        SCC -z SA -n NS`` or ``add-scc-to-group SCC GROUP`` do."""

        def run() -> None:
            kind = self.registry.lookup("securitycontextconstraints")
            obj = self.api.get(kind, "", scc)
            patch: dict[str, list[str]] = {}
            if service_account:
                user, _ = openshift_scc.service_account_subject(
                    namespace=namespace, name=service_account
                )
                patch["users"] = list(obj.get("users") or []) + [user]
            if group:
                patch["groups"] = list(obj.get("groups") or []) + [group]
            self.api.patch(kind, "", scc, patch, "application/merge-patch+json")

        self._call(run)

    def hold_namespace_termination(self, name: str) -> None:
        self._call(self.namespaces.hold, name)

    def release_namespace_termination(self, name: str) -> None:
        self._call(self.namespaces.release, name)

    @property
    def snapshotter(self) -> Any:
        """The snapshot controller (None without the CRDs); its methods run on the loop."""
        if self.snapshot_controller is None:
            return None
        return _OnLoop(self, self.snapshot_controller)

    @property
    def kubelet(self) -> Any:
        """The node agent's runtime (its test controls: ``fail_init_container``, ...);
        its methods are dispatched to the emulator's loop."""
        return _OnLoop(self, self.kubelet_impl)

    def token_request(self, namespace: str, account: str, body: Any) -> dict:
        """TokenRequest (``serviceaccounts/NAME/token``): a new token of the account,
        known to this emulator (not a JWT: nothing here verifies signatures)."""
        spec = (body or {}).get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        token = "sa-" + secrets.token_urlsafe(24)
        self.add_token(
            token,
            user=f"system:serviceaccount:{namespace}:{account}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
        )
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
        return {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": account, "namespace": namespace},
            "spec": {**spec, "expirationSeconds": seconds},
            "status": {
                "token": token,
                "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }


class _OnLoop:
    """A proxy calling an object's methods on the emulator's loop."""

    def __init__(self, emulator: Emulator, target: Any) -> None:
        self._emulator, self._target = emulator, target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return copy.deepcopy(attr)
        return functools.partial(self._emulator._call, attr)
