"""The Kubernetes requests of the workspace-admin command line that the features lack.

Thin keyword-only coroutines taking the command's ``CoreV1Api`` as ``api=`` (the
StorageClasses through its ``api_client``): they return plain dicts (as the API
sends them), treat 404 on read as ``None`` (:func:`~workspace_spawner.kube.tolerating`),
and raise :class:`~workspace_spawner.kube.KubeError` naming the request for anything
else, so a Forbidden names the missing right. Reads, patches and deletions of single
PVCs and projects are the features' own (:mod:`.volumes`, :mod:`.projects`).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import CoreV1Api, StorageV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from . import kube_error, to_dict, tolerating

__all__ = [
    "list_pvcs",
    "read_storage_class",
    "list_storage_classes",
    "list_namespaces",
    "list_resource_quotas",
]


async def list_pvcs(
    *, api: CoreV1Api, namespace: str, label_selector: str = ""
) -> list[dict[str, Any]]:
    """The PVCs in ``namespace`` matching ``label_selector``, sorted by name."""
    try:
        result = await api.list_namespaced_persistent_volume_claim(
            namespace, label_selector=label_selector
        )
    except ApiException as e:
        raise kube_error(e, action=f"list PersistentVolumeClaims in {namespace}") from e
    return sorted((to_dict(item) for item in result.items), key=lambda pvc: pvc["metadata"]["name"])


async def read_storage_class(*, api: CoreV1Api, name: str) -> dict[str, Any] | None:
    """The StorageClass, or None if there is none of that name."""
    _, found = await tolerating(
        404,
        StorageV1Api(api.api_client).read_storage_class(name),
        action=f"get StorageClass {name}",
    )
    return to_dict(found)


async def list_storage_classes(*, api: CoreV1Api) -> list[dict[str, Any]]:
    """All StorageClasses (to find the cluster's default one)."""
    try:
        result = await StorageV1Api(api.api_client).list_storage_class()
    except ApiException as e:
        raise kube_error(e, action="list StorageClasses") from e
    return [to_dict(item) for item in result.items]


async def list_namespaces(*, api: CoreV1Api, label_selector: str) -> list[dict[str, Any]]:
    """The Namespaces matching ``label_selector``, sorted by name."""
    try:
        result = await api.list_namespace(label_selector=label_selector)
    except ApiException as e:
        raise kube_error(e, action="list Namespaces") from e
    return sorted((to_dict(item) for item in result.items), key=lambda ns: ns["metadata"]["name"])


async def list_resource_quotas(*, api: CoreV1Api, namespace: str) -> list[dict[str, Any]]:
    """The ResourceQuotas of ``namespace`` (their status has ``used`` and ``hard``)."""
    try:
        result = await api.list_namespaced_resource_quota(namespace)
    except ApiException as e:
        raise kube_error(e, action=f"list ResourceQuotas in {namespace}") from e
    return [to_dict(item) for item in result.items]
