"""An API-driven node agent: what a kubelet does through the Kubernetes API, over HTTP.

It registers a Node (capacity, allocatable, a Ready condition), keeps it alive (a
Lease in kube-node-lease and the Ready condition's heartbeat, which the node
lifecycle controller watches), watches the pods bound to it (``spec.nodeName``),
"runs" them and writes their status through the status subresource, and events,
as the kubelet does (reasons and messages of pkg/kubelet/events/event.go), both in the
background as the kubelet's status manager and event recorder send them (the latest
status of a pod wins: :class:`PodSync`). Deleted
pods are stopped and then removed with a zero grace period, as the kubelet
finishes a graceful deletion.

Two runtimes, one code path for the pods: the status-only runtime
(:class:`StatusRuntime`, what the emulator's simulated kubelet does: init containers
end with 0, containers run and are ready, nothing executes), and the process runtime
(``podrunner.agent.ProcessRuntime``: the containers run as local processes in mount
namespaces, their volumes from the API). It runs with the node's identity
(``system:node:<name>`` in ``system:nodes``), so the Node authorizer and
NodeRestriction confine it as they confine a kubelet.

    python -m workspace_spawner_testing.nodeagent --kubeconfig node.kubeconfig --node n1
    python -m workspace_spawner_testing.nodeagent --kubeconfig runner.kubeconfig \
        --node n2 --runner process --data-dir DIR --register-with-taint k=v:NoSchedule
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime
import hashlib
import json
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from .kubeconfig import Credentials
from .loopback import LoopbackAddresses

log = logging.getLogger(__name__)

LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10
# the bounded, growing wait for the Node authorizer's graph (NodeAgent.update_status)
UNRELATED_SECONDS = 60.0
UNRELATED_FIRST_DELAY = 0.1
UNRELATED_MAX_DELAY = 2.0
# the longest wait between two tries of a status write that failed (PodSync)
STATUS_RETRY_MAX_DELAY = 5.0
# how long a pod's final delete waits for its events and status to be written
FLUSH_SECONDS = 10.0
CAPACITY = {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi"}
# the kubelet's --max-pods default: the scheduler places no more pods on the node
MAX_PODS = 110


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Conflict(Exception):
    """409: the object changed (or exists); read it again."""


class NotYetRelated(Exception):
    """403 from the Node authorizer before its graph has the pod's binding: try again."""


class Gone(Exception):
    """404 or 410: the object, or the watch's resourceVersion, is gone."""


def refusal(method: str, path: str, status: int, text: str) -> Exception:
    """What an agent's request answered with an error status raises, whatever its
    transport (HTTP here, in-process on the emulator)."""
    if status == 409:
        return Conflict(text)
    if status in (404, 410):
        return Gone(text)
    if status == 403 and "no relationship found between node" in text:
        return NotYetRelated(text)
    return RuntimeError(f"{method} {path}: {status} {text}")


class Api:
    """The few REST calls a node agent makes."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        ssl_context: ssl.SSLContext | bool = False
        if credentials.server.startswith("https:"):
            ssl_context = ssl.create_default_context(cafile=credentials.ca_file)
        self.session = aiohttp.ClientSession(
            base_url=credentials.server,
            connector=aiohttp.TCPConnector(ssl=ssl_context),
            headers={"Authorization": f"Bearer {credentials.token}", "Accept": "application/json"},
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        **params: str,
    ) -> Any:
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method,
            path,
            data=data,
            params=params or None,
            headers={"Content-Type": content_type},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as answer:
            text = await answer.text()
            if answer.status >= 400:
                raise refusal(method, path, answer.status, text)
            return json.loads(text) if text else None

    async def watch(self, path: str, **params: str) -> AsyncIterator[dict]:
        params = {**params, "watch": "true", "allowWatchBookmarks": "true"}
        async with self.session.get(
            path, params=params, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
        ) as answer:
            if answer.status == 410:
                raise Gone(await answer.text())
            answer.raise_for_status()
            async for line in answer.content:
                if line.strip():
                    yield json.loads(line)


def _condition(type_: str, ok: bool = True, reason: str | None = None) -> dict:
    condition = {
        "type": type_,
        "status": "True" if ok else "False",
        "lastTransitionTime": now(),
        "lastProbeTime": None,
    }
    if reason:
        condition["reason"] = reason
    return condition


@dataclass
class PodFaults:
    """What a test asked to go wrong with one pod (by namespace and name)."""

    image_pull: set[str] = field(default_factory=set)  # container names ("*" for all)
    init_exit: dict[str, int] = field(default_factory=dict)
    init_seconds: dict[str, float] = field(default_factory=dict)
    start_delay: float = 0.0
    never_ready: bool = False


class StatusRuntime:
    """Containers that "run" without executing anything, with per-pod faults.

    The interface every runtime of :class:`NodeAgent` has: ``set_up`` once per pod
    before its containers (MountFailed: the agent reports FailedMount and tries again),
    ``pull_failure`` (why an image cannot be pulled, or None), ``run_init_container``
    (exit code, termination message), ``start_container``, ``started`` (once all
    containers started: are they ready?), ``kill_pod``, ``forget`` (a pod deleted at
    once), ``address_free`` (may a pod get this address), ``log`` and ``shut_down``.

    Nothing runs here, so what the containers do is what a test tells this runtime
    (the controls below, by pod namespace and name, set before or after the pod is
    made): an init container that fails or takes long, a termination message, a log,
    an image that cannot be pulled, containers slow to start or never ready, a main
    container that exits. Untold, init containers end with 0 after ``init_seconds``
    and containers run and are ready.
    """

    def __init__(self, *, init_seconds: float = 0.0, stop_seconds: float = 0.0) -> None:
        self.init_seconds = init_seconds
        # how long a container takes to exit on SIGTERM (bounded by the grace period)
        self.stop_seconds = stop_seconds
        self.faults: dict[tuple[str, str], PodFaults] = {}
        self.logs: dict[tuple[str, str, str], str] = {}
        self.termination_messages: dict[tuple[str, str, str], str] = {}
        # stand-ins for init containers' programs: manifest -> (exit code, termination message)
        self.programs: dict[tuple[str, str, str], Callable[[dict], tuple[int, str]]] = {}
        # the agent running this runtime's pods (container_exited acts through it)
        self.agent: NodeAgent | None = None

    # -- test controls ----------------------------------------------------------------

    def _faults(self, pod: dict) -> PodFaults:
        meta = pod["metadata"]
        return self.faults.get((meta["namespace"], meta["name"])) or PodFaults()

    def _fault(self, namespace: str, name: str) -> PodFaults:
        return self.faults.setdefault((namespace, name), PodFaults())

    def fail_image_pull(self, namespace: str, name: str, container: str = "*") -> None:
        self._fault(namespace, name).image_pull.add(container)

    def fail_init_container(
        self, namespace: str, name: str, container: str, exit_code: int = 1
    ) -> None:
        self._fault(namespace, name).init_exit[container] = exit_code

    def slow_init_container(
        self, namespace: str, name: str, container: str, seconds: float
    ) -> None:
        self._fault(namespace, name).init_seconds[container] = seconds

    def slow_start(self, namespace: str, name: str, seconds: float) -> None:
        self._fault(namespace, name).start_delay = seconds

    def never_ready(self, namespace: str, name: str) -> None:
        self._fault(namespace, name).never_ready = True

    def set_log(self, namespace: str, name: str, container: str, text: str) -> None:
        self.logs[(namespace, name, container)] = text

    def set_termination_message(
        self, namespace: str, name: str, container: str, message: str
    ) -> None:
        """What the container (init or not) writes to its terminationMessagePath.

        Reported as ``state.terminated.message`` when it ends, whatever its exit code.
        """
        self.termination_messages[(namespace, name, container)] = message

    def run_init_with(
        self, namespace: str, name: str, container: str, program: Callable[[dict], tuple[int, str]]
    ) -> None:
        """Run ``program(container manifest)`` as the init container of every pod of this name.

        It answers (exit code, termination message), so a test can act out a script's
        contract from the environment the pod gives it (each new pod runs it again).
        """
        self.programs[(namespace, name, container)] = program

    async def container_exited(
        self, namespace: str, name: str, container: str, exit_code: int
    ) -> None:
        """The pod's main container ``container`` ends with ``exit_code`` (its status
        is written when this returns)."""
        if self.agent is None:
            raise RuntimeError("no node agent runs this runtime's pods")
        pod = await self.agent.api.call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        message = self.termination_message(pod, spec, exit_code)
        await self.agent.container_exited(pod, spec, exit_code, message=message)

    def termination_message(self, pod: dict, container: dict, exit_code: int) -> str:
        """The message of a container that ended, as the kubelet reads it: the file,
        else with FallbackToLogsOnError and a failure the log's tail; at most 4096 bytes
        (https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/#customizing-the-termination-message).
        """
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"], container["name"])
        message = self.termination_messages.get(key, "")
        if (
            not message
            and exit_code != 0
            and container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            tail = "\n".join(self.logs.get(key, "").splitlines()[-80:])
            message = tail.encode()[-2048:].decode(errors="ignore")
        return message.encode()[:4096].decode(errors="ignore")

    # -- the runtime --------------------------------------------------------------------

    async def set_up(self, agent: NodeAgent, pod: dict) -> None:
        pass

    def pull_failure(self, pod: dict, container: dict) -> str | None:
        pulls = self._faults(pod).image_pull
        if container["name"] in pulls or "*" in pulls:
            image = container.get("image", "")
            return (
                f'Failed to pull image "{image}": rpc error: code = NotFound desc = '
                f'failed to pull and unpack image "{image}": not found'
            )
        return None

    async def run_init_container(
        self, agent: NodeAgent, pod: dict, container: dict
    ) -> tuple[int, str]:
        faults = self._faults(pod)
        seconds = faults.init_seconds.get(container["name"], self.init_seconds)
        if seconds:
            await asyncio.sleep(seconds)
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"], container["name"])
        if key in self.programs:
            code, self.termination_messages[key] = self.programs[key](container)
        else:
            code = faults.init_exit.get(container["name"], 0)
        return code, self.termination_message(pod, container, code)

    async def start_container(self, agent: NodeAgent, pod: dict, container: dict) -> None:
        pass

    async def started(self, agent: NodeAgent, pod: dict) -> bool:
        faults = self._faults(pod)
        if faults.start_delay:
            await asyncio.sleep(faults.start_delay)
        return not faults.never_ready

    async def kill_pod(self, agent: NodeAgent, pod: dict, grace: float) -> None:
        if self.stop_seconds:
            await asyncio.sleep(min(grace, self.stop_seconds))

    def forget(self, pod: dict) -> None:
        pass

    def address_free(self, ip: str) -> bool:
        return True

    def log(self, namespace: str, name: str, container: str) -> str:
        return self.logs.get((namespace, name, container), "")

    def shut_down(self) -> None:
        pass


class MountFailed(Exception):
    """A volume of the pod cannot be set up yet (its Secret is missing, say): retried."""


class PodSync:
    """One pod's status manager and event recorder, as a kubelet has them.

    The status: the kubelet's status manager (pkg/kubelet/status/status_manager.go) keeps
    the latest status it set for a pod and syncs it to the API server in the background,
    so the pod's lifecycle never waits for a write. What is set while a write is in flight
    is written next, in one write (the latest status wins); a status equal to the one
    last written is not written again; a write refused with 409 reads the pod and applies
    the agent's fields to what it read. Nothing set is lost: the writer retries a failed
    write (a growing wait) until it is written or the pod is gone.

    The events: client-go's recorder (tools/record, ``EventBroadcaster``) sends them from
    a queue, never blocking the caller; one queue a pod keeps a pod's events in order.
    A repeat (same object, fieldPath, type, reason, message) bumps the count of the
    event it repeats (tools/record/events_cache.go).

    :meth:`flush` waits until what was set and recorded so far is written.
    """

    def __init__(self, agent: NodeAgent, pod: dict) -> None:
        self.agent = agent
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.path = f"/api/v1/namespaces/{quote(self.namespace)}/pods/{quote(self.name)}"
        # the status as the API last showed it, and the fields this agent set on top
        self.base: dict[str, Any] = copy.deepcopy(pod.get("status") or {})
        self.owned: dict[str, Any] = {}
        # the pod as last stored: the next write replaces this version (no read first)
        self.stored: dict | None = pod
        self.sent: dict | None = None  # the status last written
        self.version = 0  # of what was set
        self.synced = 0  # the version last written
        self.recorded = 0  # events queued
        self.delivered = 0  # events sent (or given up)
        self.closed = False  # no more status writes: the pod is gone, or the agent stops
        self.ended = False  # no more events
        self.waiters: list[tuple[int, int, asyncio.Future]] = []
        self.wanted = asyncio.Event()
        self.queue: asyncio.Queue[tuple[str, str, str, str | None] | None] = asyncio.Queue()
        # client-go's event cache: key -> (event name, count)
        self.seen: dict[tuple, tuple[str, int]] = {}
        self.writer = asyncio.create_task(self._write_loop())
        self.sender = asyncio.create_task(self._send_loop())

    # -- what the pod's lifecycle calls (none of it waits for the API) -------------------

    def desired(self) -> dict[str, Any]:
        return {**self.base, **self.owned}

    def set(self, *, change: Callable[[dict], None] | None = None, **fields: Any) -> None:
        """Set status fields (or what ``change(status)`` does to the status); written soon."""
        if self.closed:
            return
        self.owned.update(copy.deepcopy(fields))
        if change is not None:
            current = self.desired()
            view = copy.deepcopy(current)
            change(view)
            self.owned.update({k: v for k, v in view.items() if current.get(k) != v})
        self.version += 1
        self.wanted.set()

    def event(
        self, reason: str, message: str, *, type_: str = "Normal", container: str | None = None
    ) -> None:
        """Record an event; sent soon, after the events recorded before it."""
        if self.ended:
            return
        self.recorded += 1
        self.queue.put_nowait((reason, message, type_, container))

    async def flush(self) -> None:
        """Until the status set so far is written and the events recorded so far are sent
        (or the pod is gone)."""
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((self.version, self.recorded, future))
        self._settle()
        await future

    def finish(self) -> None:
        """The pod is gone: no more status writes; the events queued are still sent."""
        self.closed = True
        if self.writer is not asyncio.current_task():
            self.writer.cancel()
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)
            self.agent.ending.add(self)
            self.sender.add_done_callback(lambda _: self.agent.ending.discard(self))
        self._settle()

    def close(self) -> None:
        """Stop at once (the agent stops)."""
        self.closed = self.ended = True
        self.writer.cancel()
        self.sender.cancel()
        self.delivered = self.recorded
        self._settle()

    # -- in the background -----------------------------------------------------------------

    def _settle(self) -> None:
        for waiter in list(self.waiters):
            version, recorded, future = waiter
            if (self.closed or self.synced >= version) and self.delivered >= recorded:
                if not future.done():
                    future.set_result(None)
                self.waiters.remove(waiter)

    async def _write_loop(self) -> None:
        delay = UNRELATED_FIRST_DELAY
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            version = self.version
            try:
                if self.desired() != self.sent:
                    await self.agent.related(self._replace, what=self.name)
            except Gone:  # deleted, or replaced by a namesake: nothing more to write
                if self.agent.syncs.get(self.uid) is self:
                    del self.agent.syncs[self.uid]
                self.finish()
                return
            except (RuntimeError, NotYetRelated, aiohttp.ClientError, asyncio.TimeoutError) as e:
                # the status manager syncs again later; the latest status is kept
                log.warning("status of %s not written (%s): again in %.1fs", self.name, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STATUS_RETRY_MAX_DELAY)
                self.wanted.set()
                continue
            delay = UNRELATED_FIRST_DELAY
            self.synced = max(self.synced, version)
            self._settle()

    async def _replace(self) -> None:
        api = self.agent.api
        while True:
            if self.stored is None:
                current = await api.call("GET", self.path)
                if current["metadata"]["uid"] != self.uid:
                    raise Gone("replaced")
                self.base = copy.deepcopy(current.get("status") or {})
                self.stored = current
            status = copy.deepcopy(self.desired())
            try:
                self.stored = await api.call(
                    "PUT", self.path + "/status", {**self.stored, "status": status}
                )
            except Conflict:
                self.stored = None
                continue
            self.sent = status
            return

    async def _send_loop(self) -> None:
        while (item := await self.queue.get()) is not None:
            try:
                await self._send(*item)
            except (
                RuntimeError,
                Gone,
                NotYetRelated,
                aiohttp.ClientError,
                asyncio.TimeoutError,
            ) as e:
                # the namespace is going away, or the API is down: client-go drops it too
                log.info("event %s not written: %s", item[0], e)
            self.delivered += 1
            self._settle()
        self.delivered = self.recorded
        self._settle()

    async def _send(self, reason: str, message: str, type_: str, container: str | None) -> None:
        api = self.agent.api
        involved = {
            "kind": "Pod",
            "apiVersion": "v1",
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
        }
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        stamp = now()
        key = (involved.get("fieldPath"), type_, reason, message)
        events = f"/api/v1/namespaces/{quote(self.namespace)}/events"
        if key in self.seen:
            name, count = self.seen[key]
            with contextlib.suppress(Gone):
                await api.call(
                    "PATCH",
                    f"{events}/{name}",
                    {"count": count + 1, "lastTimestamp": stamp},
                    content_type="application/merge-patch+json",
                )
                self.seen[key] = (name, count + 1)
                return
        created = await api.call(
            "POST",
            events,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{self.name}.", "namespace": self.namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": "kubelet", "host": self.agent.node},
                "reportingComponent": "kubelet",
                "reportingInstance": self.agent.node,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            },
        )
        self.seen[key] = (created["metadata"]["name"], 1)


class NodeAgent:
    def __init__(
        self,
        api: Api,
        *,
        node: str,
        runtime: StatusRuntime | None = None,
        pod_network: str = "127.0.0.0/8",
        taints: list[dict] | None = None,
        max_pods: int = MAX_PODS,
    ) -> None:
        self.api = api
        self.node = node
        self.capacity = {**CAPACITY, "pods": str(max_pods)}
        self.runtime = runtime or StatusRuntime()
        self.runtime.agent = self
        # registered with the Node (kubelet --register-with-taints); NodeRestriction lets
        # a node set its taints when it creates its Node, never change them later
        self.taints = list(taints or [])
        self.tasks: dict[str, asyncio.Task] = {}
        # pod uid -> its status manager and event recorder
        self.syncs: dict[str, PodSync] = {}
        # those of deleted pods, still sending their last events
        self.ending: set[PodSync] = set()
        # the images pulled on this node (the kubelet's image manager asks the runtime)
        self.images: set[str] = set()
        # pod uid -> its address (a /24 ran out at 253 live pods)
        self.ips = LoopbackAddresses(pod_network, usable=self.runtime.address_free)

    # -- the node ---------------------------------------------------------------------

    async def register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.node,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        }
        with contextlib.suppress(Conflict):
            await self.api.call(
                "POST",
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": self.node, "labels": labels},
                    "spec": {"taints": self.taints} if self.taints else {},
                },
            )
        await self.report_node()

    async def report_node(self) -> None:
        version = (await self.api.call("GET", "/version"))["gitVersion"]
        node = await self.api.call("GET", f"/api/v1/nodes/{self.node}")
        old = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
        conditions = []
        for type_, ok, reason in (
            ("MemoryPressure", False, "KubeletHasSufficientMemory"),
            ("DiskPressure", False, "KubeletHasNoDiskPressure"),
            ("PIDPressure", False, "KubeletHasSufficientPID"),
            ("Ready", True, "KubeletReady"),
        ):
            condition = _condition(type_, ok, reason)
            del condition["lastProbeTime"]
            condition["lastHeartbeatTime"] = now()
            if type_ in old and old[type_]["status"] == condition["status"]:
                condition["lastTransitionTime"] = old[type_]["lastTransitionTime"]
            conditions.append(condition)
        status = {
            "capacity": self.capacity,
            "allocatable": self.capacity,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "workspace-spawner-nodeagent://0",
                "osImage": "",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        }
        # A patch of the status alone, never the spec: NodeRestriction refuses any write
        # by a node whose taints differ from the stored ones ("not allowed to modify
        # taints", plugin/pkg/admission/noderestriction/admission.go), and a replace
        # would carry the taints as read, which the node lifecycle controller may have
        # changed since (it removes node.kubernetes.io/not-ready once Ready is True:
        # https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
        # #taint-nodes-by-condition). Taints are that controller's (or the admin's)
        # to write, never this node's.
        await self.api.call(
            "PATCH",
            f"/api/v1/nodes/{self.node}/status",
            {"status": status},
            content_type="application/merge-patch+json",
        )

    async def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        spec = {
            "holderIdentity": self.node,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": now_micro(),
        }
        try:
            lease = await self.api.call("GET", path)
        except Gone:
            await self.api.call(
                "POST",
                path.rsplit("/", 1)[0],
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.node, "namespace": "kube-node-lease"},
                    "spec": spec,
                },
            )
            return
        lease["spec"] = spec
        with contextlib.suppress(Conflict):
            await self.api.call("PUT", path, lease)

    async def heartbeat(self) -> None:
        while True:
            try:
                await self.renew_lease()
                await self.report_node()
            except (aiohttp.ClientError, RuntimeError, asyncio.TimeoutError) as e:
                log.warning("heartbeat failed: %s", e)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    # -- the pods ---------------------------------------------------------------------

    async def run(self) -> None:
        await self.register()
        await self.renew_lease()
        heartbeat = asyncio.create_task(self.heartbeat())
        try:
            await self.watch_pods()
        finally:
            heartbeat.cancel()
            for task in self.tasks.values():
                task.cancel()
            for sync in [*self.syncs.values(), *self.ending]:
                sync.close()
            self.runtime.shut_down()

    async def watch_pods(self) -> None:
        selector = f"spec.nodeName={self.node}"
        while True:
            listing = await self.api.call("GET", "/api/v1/pods", fieldSelector=selector)
            for pod in listing["items"]:
                self.on_pod("ADDED", pod)
            version = listing["metadata"]["resourceVersion"]
            try:
                while True:
                    async for event in self.api.watch(
                        "/api/v1/pods", fieldSelector=selector, resourceVersion=version
                    ):
                        if event["type"] == "ERROR":
                            raise Gone(event["object"].get("message", ""))
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self.on_pod(event["type"], event["object"])
            except (Gone, aiohttp.ClientError, asyncio.TimeoutError) as e:
                log.info("pod watch ended (%s): listing again", e)
                await asyncio.sleep(0.5)

    def on_pod(self, type_: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if type_ == "DELETED":
            self.ips.release(uid)
            sync = self.syncs.pop(uid, None)
            if sync is not None:
                sync.finish()
            task = self.tasks.pop(uid, None)
            if task:
                task.cancel()
            # deleted without a grace period: nothing waits for the processes
            self.runtime.forget(pod)
            return
        if "deletionTimestamp" in pod["metadata"]:
            if uid not in self.tasks or not getattr(self.tasks[uid], "terminating", False):
                old = self.tasks.pop(uid, None)
                if old:
                    old.cancel()
                task = asyncio.create_task(self._guard(self.terminate, pod))
                task.terminating = True  # type: ignore[attr-defined]
                self.tasks[uid] = task
        elif uid not in self.tasks and pod.get("status", {}).get("phase", "Pending") == "Pending":
            self.tasks[uid] = asyncio.create_task(self._guard(self.run_pod, pod))

    async def _guard(self, step: Callable[[dict], Awaitable[None]], pod: dict) -> None:
        # the coroutine is made here, in the task: a task cancelled before it ran (the
        # pod was deleted at once) leaves no coroutine that was never awaited
        try:
            await step(pod)
        except (asyncio.CancelledError, Gone):
            pass
        except Exception:
            log.exception("pod task failed")

    def _path(self, pod: dict) -> str:
        meta = pod["metadata"]
        return f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"

    async def related(self, call: Callable[[], Awaitable[Any]], *, what: str) -> Any:
        """``call()``, again while the Node authorizer has not seen the pod's binding."""
        # The Node authorizer answers a node's reads of its pods (and their Secrets,
        # ConfigMaps, claims) from its graph, and the graph learns of the scheduler's
        # binding from its own informer (plugin/pkg/auth/authorizer/node/
        # graph_populator.go), maybe after our watch did: until then it answers 403 "no
        # relationship found between node ...". A kubelet's status manager retries such
        # a failed sync with a growing wait (pkg/kubelet/status/status_manager.go); so
        # do we, up to UNRELATED_SECONDS, the wait doubling from 0.1 s to 2 s so that a
        # slow graph on a loaded machine is outlasted without hammering the API server.
        delay = UNRELATED_FIRST_DELAY
        deadline = asyncio.get_running_loop().time() + UNRELATED_SECONDS
        while True:
            try:
                return await call()
            except NotYetRelated:
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise
                log.info(
                    "%s: the Node authorizer has not seen the binding yet; again in %.1fs",
                    what,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, UNRELATED_MAX_DELAY)

    def sync_of(self, pod: dict) -> PodSync:
        """The pod's status manager and event recorder (made at its first use)."""
        uid = pod["metadata"]["uid"]
        sync = self.syncs.get(uid)
        if sync is None or sync.closed:
            sync = self.syncs[uid] = PodSync(self, pod)
        return sync

    def update_status(
        self, pod: dict, *, change: Callable[[dict], None] | None = None, **status: Any
    ) -> None:
        """Set status fields (or what ``change(status)`` does to the status): written in
        the background through the status subresource (:class:`PodSync`)."""
        self.sync_of(pod).set(change=change, **status)

    def event(
        self,
        pod: dict,
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        container: str | None = None,
    ) -> None:
        """Record an event of the pod: sent in the background, in order (:class:`PodSync`)."""
        self.sync_of(pod).event(reason, message, type_=type_, container=container)

    def allocate_ip(self, pod: dict) -> str:
        return self.ips.allocate(pod["metadata"]["uid"])

    async def mounted(self, pod: dict, step: Callable[[], Awaitable[Any]]) -> Any:
        """``step()``; while a volume cannot be set up, FailedMount and again (the
        kubelet's volume manager retries until the object exists)."""
        told = False
        while True:
            try:
                return await step()
            except MountFailed as e:
                if not told:
                    self.event(pod, "FailedMount", str(e), type_="Warning")
                    told = True
                await asyncio.sleep(1.0)
                await self.runtime.set_up(self, pod)

    async def run_pod(self, pod: dict) -> None:
        """Init containers in order, then the containers; Running and Ready."""
        spec = pod["spec"]
        inits = spec.get("initContainers", [])
        init_statuses = [_waiting(c, "PodInitializing") for c in inits]
        statuses = [
            _waiting(c, "PodInitializing" if inits else "ContainerCreating")
            for c in spec["containers"]
        ]
        scheduled = _condition("PodScheduled")
        status: dict[str, Any] = {
            "phase": "Pending",
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "startTime": now(),
            "containerStatuses": statuses,
            "conditions": [
                scheduled,
                _condition("Initialized", not inits, "ContainersNotInitialized" if inits else None),
                _condition("ContainersReady", False, "ContainersNotReady"),
                _condition("Ready", False, "ContainersNotReady"),
            ],
        }
        if inits:
            status["initContainerStatuses"] = init_statuses
        self.update_status(pod, **status)
        self.allocate_ip(pod)
        await self.mounted(pod, lambda: self.runtime.set_up(self, pod))
        for index, container in enumerate(inits):
            await self._start_events(pod, container, init_statuses)
            init_statuses[index].update(
                state={"running": {"startedAt": now()}}, started=True, imageID=_image_id(container)
            )
            self.update_status(pod, initContainerStatuses=init_statuses)
            code, message = await self.mounted(
                pod, lambda c=container: self.runtime.run_init_container(self, pod, c)
            )
            init_statuses[index].update(
                state={"terminated": _terminated(code, message)}, ready=code == 0, started=False
            )
            if code != 0:
                extra = {"phase": "Failed"} if spec.get("restartPolicy") == "Never" else {}
                self.update_status(pod, initContainerStatuses=init_statuses, **extra)
                return
            extra = {}
            if index == len(inits) - 1:  # all done: the pod is Initialized (in one write)
                extra["conditions"] = [
                    scheduled,
                    _condition("Initialized"),
                    _condition("ContainersReady", False, "ContainersNotReady"),
                    _condition("Ready", False, "ContainersNotReady"),
                ]
            self.update_status(pod, initContainerStatuses=init_statuses, **extra)
        for container in spec["containers"]:
            await self._start_events(pod, container, statuses)
            await self.mounted(pod, lambda c=container: self.runtime.start_container(self, pod, c))
        ready = await self.runtime.started(self, pod)
        started = now()
        for status_, container in zip(statuses, spec["containers"], strict=True):
            status_.update(
                state={"running": {"startedAt": started}},
                ready=ready,
                started=True,
                imageID=_image_id(container),
                containerID=f"nodeagent://{pod['metadata']['uid']}/{container['name']}",
            )
        ip = self.allocate_ip(pod)
        self.update_status(
            pod,
            phase="Running",
            podIP=ip,
            podIPs=[{"ip": ip}],
            containerStatuses=statuses,
            conditions=[
                scheduled,
                _condition("Initialized"),
                _condition("ContainersReady", ready, None if ready else "ContainersNotReady"),
                _condition("Ready", ready, None if ready else "ContainersNotReady"),
            ],
        )

    async def container_exited(
        self, pod: dict, container: dict, code: int, *, message: str = ""
    ) -> None:
        """A main container ended: restarted, or the pod ends, by its restartPolicy."""
        policy = pod["spec"].get("restartPolicy", "Always")
        restart = policy == "Always" or (policy == "OnFailure" and code != 0)

        def change(status: dict) -> None:
            statuses = status.get("containerStatuses") or []
            mine = next(s for s in statuses if s["name"] == container["name"])
            terminated = {"terminated": _terminated(code, message)}
            if restart:
                mine.update(
                    lastState=terminated,
                    restartCount=mine.get("restartCount", 0) + 1,
                    state={"running": {"startedAt": now()}},
                )
                return
            mine.update(state=terminated, ready=False, started=False)
            if all("terminated" in s["state"] for s in statuses):
                failed = any(s["state"]["terminated"]["exitCode"] != 0 for s in statuses)
                status["phase"] = "Failed" if failed else "Succeeded"
                status["conditions"] = [
                    _condition("PodScheduled"),
                    _condition("Initialized"),
                    _condition("ContainersReady", False, "PodCompleted"),
                    _condition("Ready", False, "PodCompleted"),
                ]

        self.update_status(pod, change=change)
        if restart:
            self.event(
                pod,
                "Started",
                f"Started container {container['name']}",
                container=container["name"],
            )
        await self.sync_of(pod).flush()

    async def _start_events(self, pod: dict, container: dict, statuses: list[dict]) -> None:
        name, image = container["name"], container.get("image", "")
        failure = self.runtime.pull_failure(pod, container)
        # the kubelet's shouldPullImage (pkg/kubelet/images/image_manager.go): Always
        # pulls, IfNotPresent and Never use an image the node has ("already present",
        # a Pulled event without a Pulling). The API server defaults the policy; an
        # image a test makes unpullable is never present.
        policy = container.get("imagePullPolicy", "Always")
        if failure is None and policy != "Always" and (policy == "Never" or image in self.images):
            self.event(
                pod,
                "Pulled",
                f'Container image "{image}" already present on machine',
                container=name,
            )
        else:
            self.event(pod, "Pulling", f'Pulling image "{image}"', container=name)
            if failure is not None:
                await self._pull_failed(pod, container, statuses, failure)
            self.event(
                pod,
                "Pulled",
                f'Successfully pulled image "{image}" in 12ms (12ms '
                "including waiting). Image size: 0 bytes.",
                container=name,
            )
            self.images.add(image)
        self.event(pod, "Created", f"Created container: {name}", container=name)
        self.event(pod, "Started", f"Started container {name}", container=name)

    async def _pull_failed(
        self, pod: dict, container: dict, statuses: list[dict], message: str
    ) -> None:
        """ErrImagePull, then ImagePullBackOff until the pod is deleted (the kubelet's
        back-off retries the pull; this image never comes)."""
        name, image = container["name"], container.get("image", "")
        mine = next(s for s in statuses if s["name"] == name)
        inits = pod["spec"].get("initContainers", [])
        key = "initContainerStatuses" if container in inits else "containerStatuses"
        self.event(pod, "Failed", message, type_="Warning", container=name)
        self.event(pod, "Failed", "Error: ErrImagePull", type_="Warning", container=name)
        mine["state"] = {"waiting": {"reason": "ErrImagePull", "message": message}}
        self.update_status(pod, **{key: statuses})
        await asyncio.sleep(0.05)
        back_off = f'Back-off pulling image "{image}"'
        self.event(pod, "BackOff", back_off, container=name)
        self.event(pod, "Failed", "Error: ImagePullBackOff", type_="Warning", container=name)
        mine["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": back_off}}
        self.update_status(pod, **{key: statuses})
        await asyncio.Event().wait()  # stuck until deleted (the task is cancelled then)

    async def terminate(self, pod: dict) -> None:
        """Stop the containers within the grace period, then remove the pod."""
        for container in pod["spec"].get("containers", []):
            self.event(
                pod,
                "Killing",
                f"Stopping container {container['name']}",
                container=container["name"],
            )
        grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
        await self.runtime.kill_pod(self, pod, grace)
        # the Killing events and the statuses set before the pod goes (bounded: the final
        # delete is the agent's part of the graceful deletion, it must happen)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.sync_of(pod).flush(), FLUSH_SECONDS)
        await self.api.call(
            "DELETE",
            self._path(pod),
            {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": pod["metadata"]["uid"]},
            },
        )


def _image_id(container: dict) -> str:
    image = container.get("image", "")
    return f"{image.split(':')[0]}@sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _waiting(container: dict, reason: str) -> dict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": reason}},
    }


def _terminated(code: int, message: str = "") -> dict:
    stamp = now()
    state = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": stamp,
        "finishedAt": stamp,
    }
    if message:  # the API leaves out an empty message
        state["message"] = message
    return state


def make_runtime(*, runner: str, data_dir: str | None) -> StatusRuntime:
    """``status``: nothing runs; ``process``: the containers run as local processes."""
    if runner == "status":
        return StatusRuntime()
    if data_dir is None:
        raise SystemExit("--runner process needs --data-dir (the pods' logs and scratch space)")
    from .podrunner.agent import ProcessRuntime
    from .podrunner.runner import check_sandbox, demo_images

    check_sandbox()
    return ProcessRuntime(data_dir=data_dir, images=demo_images())


def parse_taint(text: str) -> dict:
    """``key=value:Effect`` or ``key:Effect``, as kubelet --register-with-taints takes them."""
    spec, _, effect = text.rpartition(":")
    key, _, value = spec.partition("=")
    if not key or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give key=value:Effect (Effect NoSchedule, ...)"
        )
    return (
        {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}
    )


async def serve(
    *,
    kubeconfig: str,
    node: str,
    runtime: StatusRuntime | None = None,
    pod_network: str = "127.0.0.0/8",
    taints: list[dict] | None = None,
    max_pods: int = MAX_PODS,
) -> None:
    api = Api(Credentials.from_kubeconfig(kubeconfig))
    agent = NodeAgent(
        api,
        node=node,
        runtime=runtime,
        pod_network=pod_network,
        taints=taints,
        max_pods=max_pods,
    )
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await api.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m workspace_spawner_testing.nodeagent", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument(
        "--runner",
        choices=["status", "process"],
        default="status",
        help="status: containers are reported, nothing runs; process: they run as local "
        "processes in mount namespaces (root; see workspace_spawner_testing.podrunner)",
    )
    parser.add_argument("--data-dir", help="process: the containers' logs and scratch space")
    parser.add_argument(
        "--pod-network",
        default="127.0.0.0/8",
        help="the loopback network of the pods' addresses (e.g. 127.0.0.0/8, 127.88.3.0/24)",
    )
    parser.add_argument(
        "--register-with-taint",
        action="append",
        type=parse_taint,
        default=[],
        metavar="KEY=VALUE:EFFECT",
        help="a taint the Node is registered with (again for more)",
    )
    parser.add_argument(
        "--max-pods",
        type=int,
        default=MAX_PODS,
        help=f"the pods the node takes (its pods capacity, kubelet --max-pods; default {MAX_PODS})",
    )
    args = parser.parse_args(argv)
    if args.max_pods < 1:
        parser.error("--max-pods: at least 1")
    if not args.pod_network.startswith("127."):
        parser.error("--pod-network: pod addresses must be loopback addresses (127.x.y.z)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runtime = make_runtime(runner=args.runner, data_dir=args.data_dir)
    asyncio.run(
        serve(
            kubeconfig=args.kubeconfig,
            node=args.node,
            runtime=runtime,
            pod_network=args.pod_network,
            taints=args.register_with_taint,
            max_pods=args.max_pods,
        )
    )


if __name__ == "__main__":
    main()
