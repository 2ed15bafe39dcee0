"""ConfigMaps: read, and create or update by content hash."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from . import kube_error, plain, tolerating


async def read_configmap(*, api: CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The ConfigMap, or None when there is none."""
    _, configmap = await tolerating(
        404,
        plain(api.read_namespaced_config_map(name, namespace, _preload_content=False)),
        action=f"read ConfigMap {name} in {namespace}",
    )
    return configmap


async def ensure_configmap(
    *,
    api: CoreV1Api,
    namespace: str,
    body: dict[str, Any],
    hash_annotation: str,
) -> tuple[dict[str, Any], bool]:
    """Make the ConfigMap hold ``body``, writing only when its content hash differs.

    ``body["metadata"]["annotations"][hash_annotation]`` is the content hash; a
    ConfigMap carrying the same hash is left alone. Returns the object and whether
    it was written. A create answered 409, or an update answered 409 (another hub
    process wrote at the same time), is settled by one more read.
    """
    name = body["metadata"]["name"]
    wanted = body["metadata"]["annotations"][hash_annotation]
    for _attempt in range(2):
        current = await read_configmap(api=api, namespace=namespace, name=name)
        if current is not None:
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            if annotations.get(hash_annotation) == wanted:
                return current, False
        try:
            if current is None:
                written = await plain(
                    api.create_namespaced_config_map(namespace, body, _preload_content=False)
                )
            else:
                # replace with the read resourceVersion: a concurrent writer gets 409
                update = {
                    **body,
                    "metadata": {
                        **body["metadata"],
                        "resourceVersion": current["metadata"].get("resourceVersion"),
                    },
                }
                written = await plain(
                    api.replace_namespaced_config_map(
                        name, namespace, update, _preload_content=False
                    )
                )
            return written, True
        except ApiException as e:
            if e.status == 409:
                continue
            verb = "create" if current is None else "update"
            raise kube_error(e, action=f"{verb} ConfigMap {name} in {namespace}") from e
    raise kube_error(
        ApiException(status=409, reason="Conflict"),
        action=f"write ConfigMap {name} in {namespace} (other writers keep changing it)",
    )
