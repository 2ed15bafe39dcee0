"""A failed init container of a workspace feature fails the start at once, with its message.

The features add init containers to the pod (``setup-volume``, ``conda-env-create``,
``conda-env-check``) whose scripts write what went wrong to their termination
message. Without this, a failure would only show as a pod that never becomes
ready, and the spawn would fail at ``start_timeout`` with a bare timeout.

Why the first failure, not a retry: KubeSpawner's pods keep the default
``restartPolicy: Always``, under which the kubelet restarts a failed init container
with an exponential back-off until it succeeds
(https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#detailed-behavior).
Our scripts are deterministic: run again on the same volume and image they fail
the same way (no space, a symlinked target, too little memory), so waiting for the
restarts would only hide the message for minutes. The spawn fails on the first
non-zero exit; JupyterHub then stops the server, which deletes the pod.

Each feature names its own containers by overriding
:meth:`InitContainerChecks.init_container_failure` cooperatively; init
containers an admin added (``c.KubeSpawner.init_containers``) are left to
KubeSpawner's own behaviour.
"""

from __future__ import annotations

from typing import Any

from traitlets import HasTraits

__all__ = [
    "InitContainerChecks",
    "InitContainerFailed",
    "failed_init_containers",
    "termination_text",
]


class InitContainerFailed(Exception):
    """An init container of a workspace feature failed; the message is for the user.

    JupyterHub shows ``jupyterhub_message`` on the spawn page and the error page
    (``jupyterhub.utils.format_exception``); without it the error page would show
    its generic "Failed to start your server" instead of what went wrong.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.jupyterhub_message = message


def init_container_status(pod: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The status of ``pod``'s init container ``name``, or None before it has one."""
    for status in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        if status.get("name") == name:
            return status
    return None


def failed_init_containers(pod: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """``(name, terminated)`` of every init container of ``pod`` that exited non-zero.

    A restarted container shows its failure in ``lastState`` while it waits in
    back-off (``state.waiting.reason: CrashLoopBackOff``).
    """
    failed = []
    for status in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        for key in ("state", "lastState"):
            terminated = (status.get(key) or {}).get("terminated")
            if terminated and terminated.get("exitCode") not in (None, 0):
                failed.append((status.get("name", ""), terminated))
                break
    return failed


def termination_text(terminated: dict[str, Any]) -> str:
    """What the container said (its termination message), else its reason and exit code."""
    message = (terminated.get("message") or "").strip()
    if message:
        return message
    reason = terminated.get("reason") or "Error"
    return f"{reason}, exit code {terminated.get('exitCode')}"


class InitContainerChecks(HasTraits):
    """KubeSpawner's ``is_pod_running``, failing the start when a feature's init container failed."""

    def init_container_failure(
        self, name: str, terminated: dict[str, Any]
    ) -> InitContainerFailed | None:
        """The error for the failed init container ``name``, if a workspace feature added it.

        Features override this for their own containers and call ``super()`` for
        any other name; None leaves the container to KubeSpawner.
        """
        return None

    def is_pod_running(self, pod):
        for name, terminated in failed_init_containers(pod):
            error = self.init_container_failure(name, terminated)
            if error is not None:
                raise error
        return super().is_pod_running(pod)
