"""A simulated scheduler + kubelet for one node: pods go Pending -> Running -> gone.

Override points for a kubelet that really runs containers: `run_pod()` (start
everything, return when the pod is up), `run_init_container()` (return its exit
code), `start_container()`, `kill_pod()`; the `set_*` helpers report container state.
Event reasons and messages follow the kubelet's
(https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/events/event.go).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ..loopback import LoopbackAddresses
from .apiserver import ApiServer, now_iso
from .errors import ApiError
from .events import record_event
from .store import Change

NODE = "emulator-node"
HOST_IP = "127.0.0.1"


@dataclass
class PodFaults:
    """What a test asked to go wrong with one pod."""

    image_pull: set[str] = field(default_factory=set)  # container names ("*" for all)
    init_exit: dict[str, int] = field(default_factory=dict)
    init_seconds: dict[str, float] = field(default_factory=dict)
    start_delay: float = 0.0
    never_ready: bool = False


class Kubelet:
    def __init__(
        self, api: ApiServer, *, init_seconds: float = 0.01, stop_seconds: float = 0.01
    ) -> None:
        self.api = api
        self.kind = api.registry.lookup("pods")
        self.init_seconds = init_seconds
        # how long a container takes to exit on SIGTERM (bounded by the grace period)
        self.stop_seconds = stop_seconds
        self.faults: dict[tuple[str, str], PodFaults] = {}
        self.logs: dict[tuple[str, str, str], str] = {}
        self.termination_messages: dict[tuple[str, str, str], str] = {}
        # stand-ins for init containers' programs: manifest -> (exit code, termination message)
        self.programs: dict[tuple[str, str, str], Callable[[dict], tuple[int, str]]] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        # pod uid -> its address, from all of 127/8 (a /24 ran out at 253 live pods)
        self._ips = LoopbackAddresses()
        api.store.listeners.append(self.on_change)

    # -- test controls --------------------------------------------------------------

    def _faults(self, namespace: str, name: str) -> PodFaults:
        return self.faults.setdefault((namespace, name), PodFaults())

    def fail_image_pull(self, namespace: str, name: str, container: str = "*") -> None:
        self._faults(namespace, name).image_pull.add(container)

    def fail_init_container(
        self, namespace: str, name: str, container: str, exit_code: int = 1
    ) -> None:
        self._faults(namespace, name).init_exit[container] = exit_code

    def slow_init_container(
        self, namespace: str, name: str, container: str, seconds: float
    ) -> None:
        self._faults(namespace, name).init_seconds[container] = seconds

    def slow_start(self, namespace: str, name: str, seconds: float) -> None:
        self._faults(namespace, name).start_delay = seconds

    def never_ready(self, namespace: str, name: str) -> None:
        self._faults(namespace, name).never_ready = True

    def set_log(self, namespace: str, name: str, container: str, text: str) -> None:
        self.logs[(namespace, name, container)] = text

    def log(self, namespace: str, name: str, container: str) -> str:
        return self.logs.get((namespace, name, container), "")

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

    def reset(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._ips.clear()
        self.faults.clear()
        self.logs.clear()
        self.termination_messages.clear()
        self.programs.clear()

    # -- the loop -------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        if change.kind.key != self.kind.key:
            return
        uid = change.obj["metadata"]["uid"]
        if change.type == "DELETED":
            self._ips.release(uid)
            task = self._tasks.pop(uid, None)
            if task:
                task.cancel()
            return
        if "deletionTimestamp" in change.obj["metadata"]:
            if change.old is None or "deletionTimestamp" not in change.old["metadata"]:
                task = self._tasks.pop(uid, None)
                if task:
                    task.cancel()
                self._tasks[uid] = asyncio.get_running_loop().create_task(
                    self._terminate(change.obj)
                )
        elif change.type == "ADDED":
            self._tasks[uid] = asyncio.get_running_loop().create_task(self._lifecycle(change.obj))

    def pod(self, pod: dict) -> dict | None:
        """The pod's current version, or None once it is gone or replaced."""
        meta = pod["metadata"]
        current = self.api.store.get(self.kind, meta["namespace"], meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return None
        return current

    def update(self, pod: dict, **status) -> dict | None:
        current = self.pod(pod)
        if current is None:
            raise asyncio.CancelledError()
        current.setdefault("status", {}).update(status)
        return self.api.write(self.kind, current)

    def event(
        self,
        pod: dict,
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        component: str = "kubelet",
        container: str | None = None,
    ) -> None:
        field_path = None
        if container:
            field_path = f"spec.containers{{{container}}}"
        try:
            record_event(
                self.api,
                involved=pod,
                reason=reason,
                message=message,
                type_=type_,
                component=component,
                host=NODE,
                field_path=field_path,
            )
        except ApiError:
            pass  # the namespace is going away

    async def _lifecycle(self, pod: dict) -> None:
        try:
            await self._wait_for_volumes(pod)
            pod = self._schedule(pod)
            await self.run_pod(pod)
        except asyncio.CancelledError:
            pass

    async def _wait_for_volumes(self, pod: dict) -> None:
        """The scheduler waits for every PVC the pod mounts to be bound."""
        pvcs = self.api.registry.lookup("persistentvolumeclaims")
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod.get("spec", {}).get("volumes", [])
            if "persistentVolumeClaim" in v
        ]
        namespace = pod["metadata"]["namespace"]
        warned = False
        while True:
            if self.pod(pod) is None:
                raise asyncio.CancelledError()
            unbound = [
                c
                for c in claims
                if (self.api.store.get(pvcs, namespace, c) or {}).get("status", {}).get("phase")
                != "Bound"
            ]
            if not unbound:
                return
            if not warned:
                warned = True
                self.update(
                    pod,
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/1 nodes are available: pod has unbound immediate "
                            "PersistentVolumeClaims.",
                            "lastTransitionTime": now_iso(),
                        }
                    ],
                )
                self.event(
                    pod,
                    "FailedScheduling",
                    "0/1 nodes are available: pod has unbound "
                    "immediate PersistentVolumeClaims. preemption: 0/1 nodes are "
                    "available: 1 Preemption is not helpful for scheduling.",
                    type_="Warning",
                    component="default-scheduler",
                )
            await self.api.store.wait_for_change(1.0)

    def _schedule(self, pod: dict) -> dict:
        current = self.pod(pod)
        if current is None:
            raise asyncio.CancelledError()
        current["spec"]["nodeName"] = NODE
        current["status"]["conditions"] = [_condition("PodScheduled")]
        current = self.api.write(self.kind, current)
        meta = current["metadata"]
        self.event(
            current,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {NODE}",
            component="default-scheduler",
        )
        return current

    # -- override points ------------------------------------------------------------

    async def run_pod(self, pod: dict) -> None:
        """Run init containers in order, then start the containers, then report Ready."""
        faults = self._faults(pod["metadata"]["namespace"], pod["metadata"]["name"])
        spec = pod["spec"]
        inits = spec.get("initContainers", [])
        status: dict = {
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "startTime": now_iso(),
            "containerStatuses": [
                _waiting(c, "PodInitializing" if inits else "ContainerCreating")
                for c in spec["containers"]
            ],
        }
        if inits:
            status["initContainerStatuses"] = [_waiting(c, "PodInitializing") for c in inits]
        self.update(pod, **status)
        for index, container in enumerate(inits):
            await self._pull(pod, container, faults)
            self.set_init_state(pod, index, {"running": {"startedAt": now_iso()}})
            code = await self.run_init_container(pod, container)
            state = _terminated(code, self.termination_message(pod, container, code))
            self.set_init_state(pod, index, {"terminated": state}, ready=code == 0)
            if code != 0:
                # the pod stays Pending: Init:Error (restartPolicy Never: phase Failed)
                if spec.get("restartPolicy") == "Never":
                    self.update(pod, phase="Failed")
                return
        self.update(
            pod,
            conditions=[
                _condition("PodScheduled"),
                _condition("Initialized"),
                _condition("ContainersReady", False),
                _condition("Ready", False),
            ],
        )
        for container in spec["containers"]:
            await self._pull(pod, container, faults)
        for container in spec["containers"]:
            await self.start_container(pod, container)
        if faults.start_delay:
            await asyncio.sleep(faults.start_delay)
        ready = not faults.never_ready
        current = self.pod(pod)
        if current is None:
            return
        statuses = current["status"]["containerStatuses"]
        for status in statuses:
            status["ready"] = ready
        self.update(
            pod,
            phase="Running",
            podIP=self._allocate_ip(pod),
            containerStatuses=statuses,
            conditions=[
                _condition("PodScheduled"),
                _condition("Initialized"),
                _condition("ContainersReady", ready),
                _condition("Ready", ready),
            ],
        )
        self.update(pod, podIPs=[{"ip": self._allocate_ip(pod)}])

    async def run_init_container(self, pod: dict, container: dict) -> int:
        """Run one init container to completion; its exit code."""
        faults = self._faults(pod["metadata"]["namespace"], pod["metadata"]["name"])
        await asyncio.sleep(faults.init_seconds.get(container["name"], self.init_seconds))
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"], container["name"])
        if key in self.programs:
            code, self.termination_messages[key] = self.programs[key](container)
            return code
        return faults.init_exit.get(container["name"], 0)

    async def start_container(self, pod: dict, container: dict) -> None:
        name = container["name"]
        self.event(pod, "Created", f"Created container: {name}", container=name)
        self.set_container_state(
            pod, name, {"running": {"startedAt": now_iso()}}, ready=False, started=True
        )
        self.event(pod, "Started", f"Started container {name}", container=name)

    async def kill_pod(self, pod: dict, grace: float) -> None:
        """Stop the containers: they exit `stop_seconds` after SIGTERM, at most `grace`."""
        for container in pod.get("spec", {}).get("containers", []):
            self.event(
                pod,
                "Killing",
                f"Stopping container {container['name']}",
                container=container["name"],
            )
        await asyncio.sleep(min(grace, self.stop_seconds))

    # -- state reporting helpers ----------------------------------------------------

    def set_container_state(
        self,
        pod: dict,
        container: str,
        state: dict,
        *,
        ready: bool | None = None,
        started: bool | None = None,
        restart: bool = False,
    ) -> None:
        current = self.pod(pod)
        if current is None:
            raise asyncio.CancelledError()
        statuses = current["status"].setdefault("containerStatuses", [])
        status = next(s for s in statuses if s["name"] == container)
        if restart:
            status["lastState"] = status["state"]
            status["restartCount"] += 1
        status["state"] = state
        if ready is not None:
            status["ready"] = ready
        if started is not None:
            status["started"] = started
        if "running" in state or "terminated" in state:
            status["containerID"] = (
                "containerd://"
                + hashlib.sha256(
                    f"{current['metadata']['uid']}/{container}/{status['restartCount']}".encode()
                ).hexdigest()
            )
            status["imageID"] = _image_id(status["image"])
        self.update(pod, containerStatuses=statuses)

    def set_init_state(self, pod: dict, index: int, state: dict, *, ready: bool = False) -> None:
        current = self.pod(pod)
        if current is None:
            raise asyncio.CancelledError()
        statuses = current["status"]["initContainerStatuses"]
        statuses[index].update(state=state, ready=ready, started="running" in state)
        statuses[index]["imageID"] = _image_id(statuses[index]["image"])
        self.update(pod, initContainerStatuses=statuses)

    def container_exited(self, namespace: str, name: str, container: str, exit_code: int) -> None:
        """A container ended: restart it or end the pod, by restartPolicy."""
        pod = self.api.store.get(self.kind, namespace, name)
        if pod is None:
            return
        policy = pod["spec"].get("restartPolicy", "Always")
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        terminated = {
            "terminated": _terminated(exit_code, self.termination_message(pod, spec, exit_code))
        }
        if policy == "Always" or (policy == "OnFailure" and exit_code != 0):
            self.set_container_state(pod, container, terminated, ready=False)
            self.set_container_state(
                pod, container, {"running": {"startedAt": now_iso()}}, ready=True, restart=True
            )
            self.event(pod, "Started", f"Started container {container}", container=container)
            return
        self.set_container_state(pod, container, terminated, ready=False, started=False)
        current = self.pod(pod)
        if current and all(
            "terminated" in s["state"] for s in current["status"]["containerStatuses"]
        ):
            failed = any(
                s["state"]["terminated"]["exitCode"] != 0
                for s in current["status"]["containerStatuses"]
            )
            self.update(
                pod,
                phase="Failed" if failed else "Succeeded",
                conditions=[
                    _condition("PodScheduled"),
                    _condition("Initialized"),
                    _condition("ContainersReady", False),
                    _condition("Ready", False),
                ],
            )

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

    # -- internals ------------------------------------------------------------------

    async def _pull(self, pod: dict, container: dict, faults: PodFaults) -> None:
        name, image = container["name"], container.get("image", "")
        self.event(pod, "Pulling", f'Pulling image "{image}"', container=name)
        if name in faults.image_pull or "*" in faults.image_pull:
            message = (
                f'Failed to pull image "{image}": rpc error: code = NotFound desc = '
                f'failed to pull and unpack image "{image}": not found'
            )
            self.event(pod, "Failed", message, type_="Warning", container=name)
            self.event(pod, "Failed", "Error: ErrImagePull", type_="Warning", container=name)
            self._set_waiting(pod, container, "ErrImagePull", message)
            await asyncio.sleep(0.05)
            self.event(pod, "BackOff", f'Back-off pulling image "{image}"', container=name)
            self.event(pod, "Failed", "Error: ImagePullBackOff", type_="Warning", container=name)
            self._set_waiting(
                pod, container, "ImagePullBackOff", f'Back-off pulling image "{image}"'
            )
            await asyncio.Event().wait()  # stuck until deleted
        self.event(
            pod,
            "Pulled",
            f'Successfully pulled image "{image}" in 12ms (12ms '
            "including waiting). Image size: 0 bytes.",
            container=name,
        )

    def _set_waiting(self, pod: dict, container: dict, reason: str, message: str) -> None:
        current = self.pod(pod)
        if current is None:
            raise asyncio.CancelledError()
        for key in ("initContainerStatuses", "containerStatuses"):
            for status in current["status"].get(key) or []:
                if status["name"] == container["name"]:
                    status["state"] = {"waiting": {"reason": reason, "message": message}}
                    self.update(pod, **{key: current["status"][key]})
                    return

    def _allocate_ip(self, pod: dict) -> str:
        return self._ips.allocate(pod["metadata"]["uid"])

    async def _terminate(self, pod: dict) -> None:
        try:
            grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
            await self.kill_pod(pod, grace)
            self.api.finish_pod(
                pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
            )
        except asyncio.CancelledError:
            pass


def _image_id(image: str) -> str:
    return f"{image.split(':')[0]}@sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _condition(type_: str, ok: bool = True) -> dict:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "lastTransitionTime": now_iso(),
        "lastProbeTime": None,
    }


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
    stamp = now_iso()
    state = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": stamp,
        "finishedAt": stamp,
    }
    if message:  # the API leaves out an empty message
        state["message"] = message
    return state
