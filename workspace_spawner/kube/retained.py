"""The claims kept after their users were deleted (``volume_retention``): find them, purge them.

Rights: list on persistentvolumeclaims (in the hub's namespace; in every namespace
with ``enable_user_namespaces``, a ClusterRole), delete on persistentvolumeclaims
(helm-values/rbac-storage-lifecycle.yaml).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import CoreV1Api, V1DeleteOptions, V1Preconditions
from kubernetes_asyncio.client.exceptions import ApiException

from ..constants import DELETED_LABEL
from . import kube_error, to_dict
from .selectors import label_selector

__all__ = ["list_retained_pvcs", "delete_pvc_unchanged"]


async def list_retained_pvcs(
    *, api: CoreV1Api, namespace: str | None, selector: str = ""
) -> list[dict[str, Any]]:
    """The claims labelled deleted, in ``namespace`` (None: all), sorted by namespace and name."""
    labels = label_selector({DELETED_LABEL: "true"}, extra=selector)
    where = namespace or "all namespaces"
    try:
        if namespace:
            result = await api.list_namespaced_persistent_volume_claim(
                namespace, label_selector=labels
            )
        else:
            result = await api.list_persistent_volume_claim_for_all_namespaces(
                label_selector=labels
            )
    except ApiException as e:
        raise kube_error(e, action=f"list the kept PersistentVolumeClaims in {where}") from e
    items = [to_dict(item) for item in result.items]
    return sorted(items, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"]))


async def delete_pvc_unchanged(
    *, api: CoreV1Api, namespace: str, name: str, uid: str, resource_version: str
) -> bool:
    """Delete the claim only if it is still the one that was read: False when it changed or is gone.

    Preconditions make the check and the deletion one step on the server: a user who
    came back (and so took the claim back) between the listing and the purge changes
    the resourceVersion, and the server answers 409 instead of deleting their data.
    https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/#DeleteOptions
    """
    body = V1DeleteOptions(
        preconditions=V1Preconditions(uid=uid, resource_version=resource_version)
    )
    try:
        await api.delete_namespaced_persistent_volume_claim(
            name=name, namespace=namespace, body=body
        )
    except ApiException as e:
        if e.status in (404, 409):
            return False
        raise kube_error(e, action=f"delete PVC {name} in {namespace}") from e
    return True
