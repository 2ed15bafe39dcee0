"""PersistentVolumeClaims and their events: read, create, patch.

Rights (in the hub's namespace, or each user namespace): get/create on
persistentvolumeclaims (list/watch too, for the claim reflector of :mod:`.reflectors`)
and list on pods (in Zero to JupyterHub's hub Role), patch on
persistentvolumeclaims for expansion and for clearing a reset request (not in it:
helm-values/rbac-volumes.yaml), list on events (in it).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from . import kube_error, plain, to_dict, tolerating

__all__ = [
    "read_pvc",
    "ensure_pvc",
    "patch_pvc",
    "clear_pvc_annotation",
    "read_pvc_events",
    "delete_pvc",
    "list_pods",
]


async def read_pvc(*, api: CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The claim, or None if there is none."""
    _, pvc = await tolerating(
        404,
        plain(
            api.read_namespaced_persistent_volume_claim(
                name=name, namespace=namespace, _preload_content=False
            )
        ),
        action=f"read PVC {name} in {namespace}",
    )
    return pvc


async def ensure_pvc(
    *, api: CoreV1Api, namespace: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Create the claim unless it exists: (the claim, whether it was created now).

    A 409 means it is already there (another hub replica, or a retried request
    that had succeeded) and the existing claim is returned, never replaced.
    """
    name = body["metadata"]["name"]
    try:
        pvc = await plain(
            api.create_namespaced_persistent_volume_claim(
                namespace=namespace, body=body, _preload_content=False
            )
        )
    except ApiException as e:
        if e.status == 409:
            existing = await read_pvc(api=api, namespace=namespace, name=name)
            if existing is not None:
                return existing, False
        raise kube_error(e, action=f"create PVC {name} in {namespace}") from e
    return pvc, True


async def patch_pvc(
    *, api: CoreV1Api, namespace: str, name: str, patch: dict[str, Any]
) -> dict[str, Any]:
    """Apply a (strategic) merge patch to the claim."""
    try:
        return await plain(
            api.patch_namespaced_persistent_volume_claim(
                name=name, namespace=namespace, body=patch, _preload_content=False
            )
        )
    except ApiException as e:
        raise kube_error(e, action=f"patch PVC {name} in {namespace}") from e


def _json_pointer(key: str) -> str:
    # RFC 6901: "~" -> "~0", "/" -> "~1"
    return key.replace("~", "~0").replace("/", "~1")


async def clear_pvc_annotation(
    *, api: CoreV1Api, namespace: str, name: str, key: str, value: str
) -> bool:
    """Remove annotation ``key`` if it still has ``value``; whether it was removed.

    A JSON patch with a ``test`` operation, so a newer request an admin made in the
    meantime is not lost (the test fails with 422 and the annotation stays).
    https://datatracker.ietf.org/doc/html/rfc6902#section-4.6
    """
    path = f"/metadata/annotations/{_json_pointer(key)}"
    patch = [{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}]
    try:
        await api.patch_namespaced_persistent_volume_claim(
            name=name, namespace=namespace, body=patch
        )
    except ApiException as e:
        if e.status in (404, 409, 422):
            return False
        raise kube_error(e, action=f"clear annotation {key} of PVC {name} in {namespace}") from e
    return True


async def read_pvc_events(*, api: CoreV1Api, namespace: str, name: str) -> list[dict[str, Any]]:
    """The claim's events, oldest first (they say why it is Pending)."""
    selector = f"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={name}"
    try:
        events = await api.list_namespaced_event(namespace=namespace, field_selector=selector)
    except ApiException as e:
        raise kube_error(e, action=f"list the events of PVC {name} in {namespace}") from e
    items = to_dict(events).get("items") or []
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


async def delete_pvc(*, api: CoreV1Api, namespace: str, name: str) -> bool:
    """Delete the claim (and so, with the usual Delete reclaim policy, its data); False if it was gone."""
    deleted, _ = await tolerating(
        404,
        api.delete_namespaced_persistent_volume_claim(name=name, namespace=namespace),
        action=f"delete PVC {name} in {namespace}",
    )
    return deleted


async def list_pods(*, api: CoreV1Api, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    """The pods matching ``label_selector`` (a user's servers, to see who mounts a claim)."""
    try:
        pods = await api.list_namespaced_pod(namespace=namespace, label_selector=label_selector)
    except ApiException as e:
        raise kube_error(e, action=f"list pods ({label_selector}) in {namespace}") from e
    return to_dict(pods).get("items") or []
