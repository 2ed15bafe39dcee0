"""VolumeSnapshots (snapshot.storage.k8s.io/v1): create, read, list, delete; is the API there.

The API is a set of CRDs with a controller (kubernetes-csi/external-snapshotter) that
a cluster has only when installed, with a CSI driver that can take snapshots
(https://kubernetes.io/docs/concepts/storage/volume-snapshots/). Rights, in the
claims' namespace: create/get/list/delete on volumesnapshots; cluster-wide: get on
volumesnapshotclasses (helm-values/rbac-storage-lifecycle.yaml).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import ApisApi, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from . import kube_error, tolerating

__all__ = [
    "SNAPSHOT_GROUP",
    "SNAPSHOT_VERSION",
    "snapshot_api_served",
    "read_snapshot_class",
    "create_snapshot",
    "read_snapshot",
    "list_snapshots",
    "delete_snapshot",
]

SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
SNAPSHOT_VERSION = "v1"


def _custom(api: CoreV1Api) -> CustomObjectsApi:
    return CustomObjectsApi(api.api_client)


async def snapshot_api_served(*, api: CoreV1Api) -> bool:
    """Whether API discovery lists snapshot.storage.k8s.io/v1 (the CRDs are installed)."""
    try:
        groups = await ApisApi(api.api_client).get_api_versions()
    except ApiException as e:
        raise kube_error(
            e, action="list the API groups (GET /apis) to find the VolumeSnapshot API"
        ) from e
    return any(
        g.name == SNAPSHOT_GROUP and any(v.version == SNAPSHOT_VERSION for v in g.versions or [])
        for g in groups.groups or []
    )


async def read_snapshot_class(*, api: CoreV1Api, name: str) -> dict[str, Any] | None:
    _, found = await tolerating(
        404,
        _custom(api).get_cluster_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, "volumesnapshotclasses", name
        ),
        action=f"get VolumeSnapshotClass {name}",
    )
    return found


async def create_snapshot(
    *, api: CoreV1Api, namespace: str, body: dict[str, Any]
) -> dict[str, Any]:
    name = body["metadata"]["name"]
    try:
        return await _custom(api).create_namespaced_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, namespace, "volumesnapshots", body
        )
    except ApiException as e:
        raise kube_error(e, action=f"create VolumeSnapshot {name} in {namespace}") from e


async def read_snapshot(*, api: CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    _, found = await tolerating(
        404,
        _custom(api).get_namespaced_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, namespace, "volumesnapshots", name
        ),
        action=f"get VolumeSnapshot {name} in {namespace}",
    )
    return found


async def list_snapshots(
    *, api: CoreV1Api, namespace: str, label_selector: str
) -> list[dict[str, Any]]:
    try:
        result = await _custom(api).list_namespaced_custom_object(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            namespace,
            "volumesnapshots",
            label_selector=label_selector,
        )
    except ApiException as e:
        raise kube_error(e, action=f"list VolumeSnapshots in {namespace}") from e
    return list(result.get("items") or [])


async def delete_snapshot(*, api: CoreV1Api, namespace: str, name: str) -> bool:
    deleted, _ = await tolerating(
        404,
        _custom(api).delete_namespaced_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, namespace, "volumesnapshots", name
        ),
        action=f"delete VolumeSnapshot {name} in {namespace}",
    )
    return deleted
