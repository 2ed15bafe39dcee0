"""What the spawner reads and writes at each start comes back as the API server's JSON
(kube.plain), not the client's models turned back into dicts: the object the admin GETs,
to the letter (timestamps as the server wrote them, every field), and the API's errors
as before (404 a None, 409 the existing object, others a KubeError naming the request).

Not compared with ``to_dict`` of the model: the two differ on a real kube-apiserver
(timestamps' form, fields this client version does not know), which is the point.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio.client import CoreV1Api

from workspace_spawner.kube import KubeError
from workspace_spawner.kube.configmaps import ensure_configmap, read_configmap
from workspace_spawner.kube.volumes import ensure_pvc, patch_pvc, read_pvc

ANNOTATION = "workspace-spawner.test/hash"


def _configmap(namespace: str, *, data: str, digest: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "plain", "namespace": namespace, "annotations": {ANNOTATION: digest}},
        "data": {"key": data},
    }


def _claim(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "claim-plain", "namespace": namespace, "labels": {"a": "b"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _as_stored(answer: dict, stored: dict) -> None:
    # the same version of the object: the answer is the stored JSON, to the letter
    assert answer["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    assert answer == stored
    assert answer["metadata"]["creationTimestamp"].endswith("Z")


async def test_a_configmap_read_and_written_is_the_apis_json(kube, cluster):
    namespace = kube.namespace
    async with kube.api_client() as client:
        api = CoreV1Api(client)
        assert await read_configmap(api=api, namespace=namespace, name="plain") is None
        created, written = await ensure_configmap(
            api=api,
            namespace=namespace,
            body=_configmap(namespace, data="one", digest="1"),
            hash_annotation=ANNOTATION,
        )
        assert written
        _as_stored(created, cluster.get("ConfigMap", "plain", namespace))
        replaced, written = await ensure_configmap(
            api=api,
            namespace=namespace,
            body=_configmap(namespace, data="two", digest="2"),
            hash_annotation=ANNOTATION,
        )
        assert written and replaced["data"] == {"key": "two"}
        _as_stored(replaced, cluster.get("ConfigMap", "plain", namespace))
        read = await read_configmap(api=api, namespace=namespace, name="plain")
        _as_stored(read, cluster.get("ConfigMap", "plain", namespace))


async def test_a_claim_read_created_and_patched_is_the_apis_json(kube, cluster):
    namespace = kube.namespace
    async with kube.api_client() as client:
        api = CoreV1Api(client)
        assert await read_pvc(api=api, namespace=namespace, name="claim-plain") is None
        created, new = await ensure_pvc(api=api, namespace=namespace, body=_claim(namespace))
        assert new and created["metadata"]["labels"] == {"a": "b"}
        assert created["metadata"]["creationTimestamp"].endswith("Z")
        # 409: the existing claim, read
        existing, new = await ensure_pvc(api=api, namespace=namespace, body=_claim(namespace))
        assert not new and existing["metadata"]["uid"] == created["metadata"]["uid"]
        patched = await patch_pvc(
            api=api,
            namespace=namespace,
            name="claim-plain",
            patch={"metadata": {"labels": {"c": "d"}}},
        )
        assert patched["metadata"]["labels"] == {"a": "b", "c": "d"}
        # the PV controller may write the claim meanwhile on a real cluster: one more try
        for _ in range(3):
            read = await read_pvc(api=api, namespace=namespace, name="claim-plain")
            stored = cluster.get("PersistentVolumeClaim", "claim-plain", namespace)
            if read["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]:
                break
        _as_stored(read, stored)
        # an error other than the tolerated one: a KubeError naming the request and its status
        with pytest.raises(KubeError, match="patch PVC claim-none") as raised:
            await patch_pvc(api=api, namespace=namespace, name="claim-none", patch={})
        assert raised.value.status == 404
