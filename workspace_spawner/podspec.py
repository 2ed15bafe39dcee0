"""Add what a feature needs to the pod KubeSpawner built.

The features' builders make plain dicts (the API's JSON); KubeSpawner's
``get_pod_manifest()`` returns kubernetes_asyncio models. These helpers convert
and append, refusing silent clashes: two volumes with one name, or two mounts on
one path, would otherwise make the API server reject the pod at spawn time with
a message far from its cause.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import V1Container, V1EnvVar, V1Pod, V1Volume, V1VolumeMount
from kubespawner.utils import get_k8s_model


def notebook_container(pod: V1Pod) -> V1Container:
    """The container the server runs in: KubeSpawner makes it first, named ``notebook``."""
    for container in pod.spec.containers:
        if container.name == "notebook":
            return container
    return pod.spec.containers[0]


def add_volumes(pod: V1Pod, volumes: list[dict[str, Any]]) -> None:
    existing = {v.name for v in pod.spec.volumes or []}
    for volume in volumes:
        if volume["name"] in existing:
            raise ValueError(
                f"The pod already has a volume named {volume['name']!r}: rename one of them "
                "(c.KubeSpawner.volumes or the workspace volume settings)."
            )
        existing.add(volume["name"])
        pod.spec.volumes = (pod.spec.volumes or []) + [get_k8s_model(V1Volume, volume)]


def add_volume_mounts(container: V1Container, mounts: list[dict[str, Any]]) -> None:
    existing = {m.mount_path.rstrip("/") for m in container.volume_mounts or []}
    for mount in mounts:
        path = mount["mountPath"].rstrip("/")
        if path in existing:
            raise ValueError(
                f"Two volumes are mounted at {mount['mountPath']!r} in container "
                f"{container.name!r}: give each its own mount path."
            )
        existing.add(path)
        container.volume_mounts = (container.volume_mounts or []) + [
            get_k8s_model(V1VolumeMount, mount)
        ]


def add_init_containers(pod: V1Pod, containers: list[dict[str, Any]], *, first: bool) -> None:
    """Add init containers, before KubeSpawner's own (``first``) or after them."""
    models = [get_k8s_model(V1Container, c) for c in containers]
    current = list(pod.spec.init_containers or [])
    pod.spec.init_containers = models + current if first else current + models


def set_env(container: V1Container, env: dict[str, str]) -> None:
    """Set environment variables, replacing those of the same name."""
    kept = [e for e in container.env or [] if e.name not in env]
    container.env = kept + [V1EnvVar(name=k, value=v) for k, v in env.items()]
