"""The Kubernetes requests of the workspace-admin command line.

Thin keyword-only coroutines over ``CoreV1Api`` / ``StorageV1Api``: they return
plain dicts (as the API sends them), treat 404 on read as ``None`` and on delete
as "already gone" (``False``), and raise :class:`~workspace_spawner.kube.KubeError`
naming the request for anything else, so a Forbidden names the missing right.
Patches are JSON merge patches (RFC 7386): ``None`` removes a key
(https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import CoreV1Api, StorageV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from . import kube_error, to_dict

__all__ = [
    "list_pvcs",
    "read_pvc",
    "annotate_pvc",
    "resize_pvc",
    "delete_pvc",
    "read_storage_class",
    "list_storage_classes",
    "read_namespace",
    "list_namespaces",
    "delete_namespace",
    "list_resource_quotas",
]

MERGE_PATCH = "application/merge-patch+json"


async def list_pvcs(core: CoreV1Api, *, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
    """The PVCs in ``namespace`` matching ``label_selector``, sorted by name."""
    try:
        result = await core.list_namespaced_persistent_volume_claim(namespace, label_selector=label_selector)
    except ApiException as e:
        raise kube_error(e, action=f"list PersistentVolumeClaims in {namespace}") from e
    return sorted((to_dict(item) for item in result.items), key=lambda pvc: pvc["metadata"]["name"])


async def read_pvc(core: CoreV1Api, *, namespace: str, name: str) -> dict[str, Any] | None:
    """The PVC, or None if there is none of that name."""
    try:
        return to_dict(await core.read_namespaced_persistent_volume_claim(name, namespace))
    except ApiException as e:
        if e.status == 404:
            return None
        raise kube_error(e, action=f"get PersistentVolumeClaim {name} in {namespace}") from e


async def annotate_pvc(
    core: CoreV1Api, *, namespace: str, name: str, annotations: dict[str, str | None]
) -> dict[str, Any]:
    """Set (or, with a None value, remove) annotations on a PVC; return the PVC."""
    body = {"metadata": {"annotations": annotations}}
    try:
        pvc = await core.patch_namespaced_persistent_volume_claim(name, namespace, body, _content_type=MERGE_PATCH)
    except ApiException as e:
        raise kube_error(e, action=f"patch PersistentVolumeClaim {name} in {namespace}") from e
    return to_dict(pvc)


async def resize_pvc(core: CoreV1Api, *, namespace: str, name: str, size: str) -> dict[str, Any]:
    """Raise the storage request of a PVC to ``size``; the storage driver grows the volume.

    https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
    """
    body = {"spec": {"resources": {"requests": {"storage": size}}}}
    try:
        pvc = await core.patch_namespaced_persistent_volume_claim(name, namespace, body, _content_type=MERGE_PATCH)
    except ApiException as e:
        raise kube_error(e, action=f"patch PersistentVolumeClaim {name} in {namespace}") from e
    return to_dict(pvc)


async def delete_pvc(core: CoreV1Api, *, namespace: str, name: str) -> bool:
    """Delete a PVC; False if it was already gone."""
    try:
        await core.delete_namespaced_persistent_volume_claim(name, namespace)
    except ApiException as e:
        if e.status == 404:
            return False
        raise kube_error(e, action=f"delete PersistentVolumeClaim {name} in {namespace}") from e
    return True


async def read_storage_class(storage: StorageV1Api, *, name: str) -> dict[str, Any] | None:
    """The StorageClass, or None if there is none of that name."""
    try:
        return to_dict(await storage.read_storage_class(name))
    except ApiException as e:
        if e.status == 404:
            return None
        raise kube_error(e, action=f"get StorageClass {name}") from e


async def list_storage_classes(storage: StorageV1Api) -> list[dict[str, Any]]:
    """All StorageClasses (to find the cluster's default one)."""
    try:
        result = await storage.list_storage_class()
    except ApiException as e:
        raise kube_error(e, action="list StorageClasses") from e
    return [to_dict(item) for item in result.items]


async def read_namespace(core: CoreV1Api, *, name: str) -> dict[str, Any] | None:
    """The Namespace, or None if there is none of that name (or it is hidden from us)."""
    try:
        return to_dict(await core.read_namespace(name))
    except ApiException as e:
        if e.status == 404:
            return None
        raise kube_error(e, action=f"get Namespace {name}") from e


async def list_namespaces(core: CoreV1Api, *, label_selector: str) -> list[dict[str, Any]]:
    """The Namespaces matching ``label_selector``, sorted by name."""
    try:
        result = await core.list_namespace(label_selector=label_selector)
    except ApiException as e:
        raise kube_error(e, action="list Namespaces") from e
    return sorted((to_dict(item) for item in result.items), key=lambda ns: ns["metadata"]["name"])


async def delete_namespace(core: CoreV1Api, *, name: str) -> bool:
    """Delete a Namespace and everything in it; False if it was already gone."""
    try:
        await core.delete_namespace(name)
    except ApiException as e:
        if e.status == 404:
            return False
        raise kube_error(e, action=f"delete Namespace {name}") from e
    return True


async def list_resource_quotas(core: CoreV1Api, *, namespace: str) -> list[dict[str, Any]]:
    """The ResourceQuotas of ``namespace`` (their status has ``used`` and ``hard``)."""
    try:
        result = await core.list_namespaced_resource_quota(namespace)
    except ApiException as e:
        raise kube_error(e, action=f"list ResourceQuotas in {namespace}") from e
    return [to_dict(item) for item in result.items]
