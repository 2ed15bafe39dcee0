"""The helper pod of ``workspace-admin export`` and ``import``: a pure builder.

The pod runs :mod:`.transfer_server` (passed inline, ``python3 -c``, so no
ConfigMap and no image of our own: the notebook image has Python) with the user's
claim mounted at ``/workspace``, read-only for an export. It runs as the notebook
does (its uid, gid, fsGroup and supplemental groups) so files keep their owner,
and passes the ``restricted`` Pod Security Standard
(https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted):
non-root, no privilege escalation, every capability dropped, the runtime's default
seccomp profile, and no service account token (it never calls the API).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from ..constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE, USERNAME_LABEL

__all__ = [
    "Security",
    "TRANSFER_COMPONENT",
    "TRANSFER_PORT",
    "MOUNT_PATH",
    "server_script",
    "security_from_traits",
    "security_from_pod",
    "restricted_contexts",
    "transfer_container",
    "transfer_pod_manifest",
]

TRANSFER_COMPONENT = "workspace-transfer"
TRANSFER_PORT = 8642
MOUNT_PATH = "/workspace"
_POD_KEYS = ("fsGroup", "supplementalGroups", "runAsUser", "runAsGroup", "seLinuxOptions")
_CONTAINER_KEYS = ("runAsUser", "runAsGroup", "seLinuxOptions")


@dataclass(frozen=True)
class Security:
    """The notebook's identity: the pod's and the container's securityContext fields we copy."""

    pod: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] = field(default_factory=dict)


# the program's modules, in the order they are joined
PROGRAM = ("transfer_archive.py", "transfer_unpack.py", "transfer_server.py")
_JOINED = re.compile(r"^# joined:.*?^# end joined\n", re.MULTILINE | re.DOTALL)


def server_script() -> str:
    """The helper's program: :data:`PROGRAM`'s modules joined into one source, without
    their imports of each other, and ``from __future__`` once, first."""
    parts = []
    for i, name in enumerate(PROGRAM):
        text = files(__package__).joinpath(name).read_text(encoding="utf-8")
        text = _JOINED.sub("", text)
        if i:
            text = text.replace("from __future__ import annotations\n", "")
        parts.append(text)
    return "\n".join(parts)


def security_from_traits(
    *, uid: int | None, gid: int | None, fs_gid: int | None, supplemental_gids: list[int]
) -> Security:
    """As KubeSpawner makes the notebook pod from its ``uid``, ``gid``, ``fs_gid`` and
    ``supplemental_gids`` (unset: the image's USER, or on OpenShift the SCC's choice)."""
    pod: dict[str, Any] = {}
    if fs_gid is not None:
        pod["fsGroup"] = fs_gid
    if supplemental_gids:
        pod["supplementalGroups"] = list(supplemental_gids)
    container: dict[str, Any] = {}
    if uid is not None:
        container["runAsUser"] = uid
    if gid is not None:
        container["runAsGroup"] = gid
    return Security(pod=pod, container=container)


def security_from_pod(pod: dict[str, Any]) -> Security:
    """The running notebook pod's own identity (what admission, e.g. an OpenShift SCC, set)."""
    spec = pod.get("spec") or {}
    pod_ctx = spec.get("securityContext") or {}
    containers = spec.get("containers") or [{}]
    notebook = next((c for c in containers if c.get("name") == "notebook"), containers[0])
    ctx = notebook.get("securityContext") or {}
    return Security(
        pod={k: copy.deepcopy(pod_ctx[k]) for k in _POD_KEYS if pod_ctx.get(k) is not None},
        container={k: copy.deepcopy(ctx[k]) for k in _CONTAINER_KEYS if ctx.get(k) is not None},
    )


def restricted_contexts(security: Security) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod, container) securityContexts: the notebook's identity under restricted Pod
    Security; ValueError for a notebook running as root."""
    if security.container.get("runAsUser", security.pod.get("runAsUser")) == 0:
        raise ValueError(
            "The notebook runs as root (uid 0): the helper pod runs under restricted "
            "Pod Security, which forbids it. Export the files another way, or set "
            "c.KubeSpawner.uid."
        )
    container_ctx = {
        **copy.deepcopy(security.container),
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod_ctx = {
        **copy.deepcopy(security.pod),
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return pod_ctx, container_ctx


def transfer_container(
    *,
    image: str,
    image_pull_policy: str | None,
    read_only: bool,
    token: str,
    idle_seconds: int,
    security_context: dict[str, Any],
) -> dict[str, Any]:
    """The container running the program, the claim at :data:`MOUNT_PATH`."""
    container: dict[str, Any] = {
        "name": "transfer",
        "image": image,
        "command": ["python3", "-c", server_script(), MOUNT_PATH, str(TRANSFER_PORT)],
        "env": [
            {"name": "WORKSPACE_TRANSFER_TOKEN", "value": token},
            # every address of the pod (a pod has its own network namespace)
            {"name": "WORKSPACE_TRANSFER_LISTEN", "value": "0.0.0.0"},
            {"name": "WORKSPACE_TRANSFER_IDLE_SECONDS", "value": str(idle_seconds)},
        ],
        "ports": [{"name": "transfer", "containerPort": TRANSFER_PORT}],
        "volumeMounts": [{"name": "workspace", "mountPath": MOUNT_PATH, "readOnly": read_only}],
        "securityContext": security_context,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    return container


def transfer_pod_manifest(
    *,
    name: str,
    namespace: str,
    username_label: str,
    claim: str,
    image: str,
    image_pull_policy: str | None,
    read_only: bool,
    token: str,
    security: Security,
    node_name: str | None,
    idle_seconds: int,
    deadline_seconds: int,
) -> dict[str, Any]:
    """The helper pod serving ``claim`` on :data:`TRANSFER_PORT` to the holder of ``token``.

    ``node_name``: the running server's node, where a ReadWriteOnce claim already is
    attached (RWO allows several pods on one node). ``activeDeadlineSeconds`` ends a
    pod whose client vanished without deleting it; the server itself exits after
    ``idle_seconds`` without a request.
    """
    pod_ctx, container_ctx = restricted_contexts(security)
    container = transfer_container(
        image=image,
        image_pull_policy=image_pull_policy,
        read_only=read_only,
        token=token,
        idle_seconds=idle_seconds,
        security_context=container_ctx,
    )
    spec = _pod_spec(
        claim=claim,
        read_only=read_only,
        container=container,
        security_context=pod_ctx,
        node_name=node_name,
        deadline_seconds=deadline_seconds,
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "component": TRANSFER_COMPONENT,
                USERNAME_LABEL: username_label,
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
            },
        },
        "spec": spec,
    }


def _pod_spec(
    *,
    claim: str,
    read_only: bool,
    container: dict[str, Any],
    security_context: dict[str, Any],
    node_name: str | None,
    deadline_seconds: int,
) -> dict[str, Any]:
    """A pod that runs once, with no API token and no service links: it needs neither."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": deadline_seconds,
        "terminationGracePeriodSeconds": 1,
        "securityContext": security_context,
        "containers": [container],
        "volumes": [
            {
                "name": "workspace",
                "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only},
            }
        ],
    }
    if node_name:
        spec["nodeName"] = node_name
    return spec
