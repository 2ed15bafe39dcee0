"""One observer for the init containers of every feature: progress, and failure at once.

The features add init containers to the pod (``setup-volume``, ``conda-env-create``,
``conda-env-check``) whose scripts write their result to their termination message.
Each feature only *declares* its containers (:class:`ObservedInitContainer`: the
name, what the spawn page says while it runs and once it is done, the error that
fails the start); :class:`InitContainerObserver` follows them all the same way.

Following them costs no request and no task of its own: the pod comes from
KubeSpawner's shared pod reflector (``self.pod_reflector``), looked at when
KubeSpawner asks ``is_pod_running`` (its wait for the pod) and after each event of
its ``progress()`` (so a message lands among the pod's events where it happened).

Why the first failure, not a retry: KubeSpawner's pods keep the default
``restartPolicy: Always``, under which the kubelet restarts a failed init container
with an exponential back-off until it succeeds
(https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#detailed-behavior).
Our scripts are deterministic: run again on the same volume and image they fail
the same way (no space, a symlinked target, too little memory), so waiting for the
restarts would only hide the message for minutes. The spawn fails on the first
non-zero exit; JupyterHub then stops the server, which deletes the pod. Init
containers an admin added (``c.KubeSpawner.init_containers``) are not declared by
any feature and are left to KubeSpawner's own behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from traitlets import Dict, HasTraits

__all__ = [
    "InitContainerFailed",
    "InitContainerObserver",
    "InitContainerState",
    "ObservedInitContainer",
    "failed_init_containers",
    "init_container_state",
    "init_container_status",
    "termination_text",
]


class InitContainerFailed(Exception):
    """An init container of a workspace feature failed; the message is for the user.

    JupyterHub shows ``jupyterhub_message`` on the spawn page and the error page
    (``jupyterhub.utils.format_exception``); without it the error page would show
    its generic "Failed to start your server" instead of what went wrong.
    ``progress`` is what the spawn page's log says when it happens (the message
    itself unless given; "" says nothing, for a request rather than a failure).
    """

    def __init__(self, message: str, *, progress: str | None = None) -> None:
        super().__init__(message)
        self.jupyterhub_message = message
        self.progress = message if progress is None else progress


def init_container_status(pod: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The status of ``pod``'s init container ``name``, or None before it has one."""
    for status in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        if status.get("name") == name:
            return status
    return None


@dataclass(frozen=True)
class InitContainerState:
    """Where one init container is: ``phase`` "" (no status yet), "waiting", "running",
    "done" (exit 0) or "failed"; ``terminated`` is its last terminated state, if any."""

    phase: str
    terminated: dict[str, Any]

    @property
    def message(self) -> str:
        """Its termination message (what the script wrote), stripped."""
        return (self.terminated.get("message") or "").strip()


def init_container_state(status: dict[str, Any] | None) -> InitContainerState:
    """The state of one init container from its status (``initContainerStatuses[i]``).

    A restarted container shows its failure in ``lastState`` while it waits in
    back-off (``state.waiting.reason: CrashLoopBackOff``) or runs again.
    """
    if not status:
        return InitContainerState("", {})
    state = status.get("state") or {}
    for key in ("state", "lastState"):
        terminated = (status.get(key) or {}).get("terminated")
        if terminated and terminated.get("exitCode") not in (None, 0):
            return InitContainerState("failed", terminated)
    if "terminated" in state:
        return InitContainerState("done", state["terminated"] or {})
    if "running" in state:
        return InitContainerState("running", {})
    return InitContainerState("waiting" if "waiting" in state else "", {})


def failed_init_containers(pod: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """``(name, terminated)`` of every init container of ``pod`` that exited non-zero."""
    failed = []
    for status in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        state = init_container_state(status)
        if state.phase == "failed":
            failed.append((status.get("name", ""), state.terminated))
    return failed


def termination_text(terminated: dict[str, Any]) -> str:
    """What the container said (its termination message), else its reason and exit code."""
    message = (terminated.get("message") or "").strip()
    if message:
        return message
    reason = terminated.get("reason") or "Error"
    return f"{reason}, exit code {terminated.get('exitCode')}"


@dataclass(frozen=True)
class ObservedInitContainer:
    """What a feature declares about one of its init containers.

    ``running``: the spawn page's message once it runs ("" for none); ``done``: from its
    termination message, the message once it exited 0 ("" for none); ``failed``: from
    its terminated state, the error that fails the start.
    """

    name: str
    failed: Callable[[dict[str, Any]], InitContainerFailed]
    running: str = ""
    done: Callable[[str], str] | None = None


class InitContainerObserver(HasTraits):
    """Follows the declared init containers of this start's pod through the pod reflector."""

    # (pod uid, container) -> the last phase reported, so each message is shown once
    _init_container_phases = Dict()

    def observed_init_containers(self) -> list[ObservedInitContainer]:
        """This start's init containers of the workspace features.

        Each feature extends it cooperatively: ``[*super().observed_init_containers(), ...]``.
        """
        return []

    def _observed_pod(self) -> dict[str, Any] | None:
        reflector = self.pod_reflector
        pod = reflector.pods.get(f"{self.namespace}/{self.pod_name}") if reflector else None
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return None  # the pod of a previous start, on its way out
        return pod

    def observe_init_containers(self, pod: dict[str, Any] | None) -> InitContainerFailed | None:
        """Report what changed for the declared containers; the error of a failed one."""
        if pod is None:
            return None
        uid = (pod.get("metadata") or {}).get("uid", "")
        error = None
        for declared in self.observed_init_containers():
            state = init_container_state(init_container_status(pod, declared.name))
            key = f"{uid}/{declared.name}"
            if state.phase in ("", "waiting"):
                continue
            if state.phase == "failed" and error is None:
                error = declared.failed(state.terminated)
            if self._init_container_phases.get(key) == state.phase:
                continue
            self._init_container_phases[key] = state.phase
            self._report_init_container(declared, state, error)
        return error

    def _report_init_container(
        self,
        declared: ObservedInitContainer,
        state: InitContainerState,
        error: InitContainerFailed | None,
    ) -> None:
        if state.phase == "running":
            text = declared.running
        elif state.phase == "done":
            text = declared.done(state.message) if declared.done else ""
        else:
            text = error.progress if error is not None else ""
        if text:
            self.emit_progress(text)

    def is_pod_running(self, pod):
        """KubeSpawner's check, failing the start at once when a declared container failed."""
        error = self.observe_init_containers(pod)
        if error is not None:
            raise error
        return super().is_pod_running(pod)

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """The parent's events; after each, what the init containers did meanwhile."""
        async for event in super().progress():
            yield event
            self.observe_init_containers(self._observed_pod())
        # A failed init container is followed by no event (the kubelet's BackOff comes
        # later), so its result may have arrived after the last one: look once more.
        self.observe_init_containers(self._observed_pod())
