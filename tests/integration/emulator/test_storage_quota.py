"""PVC binding and resize rules, and ResourceQuota admission, as a real API server gives them."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

pytestmark = pytest.mark.emulator_only


def pvc(name: str, size: str = "1Gi", storage_class: str | None = None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


def pod(name: str, memory: str | None = None) -> dict:
    container: dict = {"name": "c", "image": "x:1"}
    if memory:
        container["resources"] = {"limits": {"memory": memory}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container]}}


def storage_class(name: str, *, expandable: bool) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": "example.com/disk",
            "allowVolumeExpansion": expandable}


async def test_claim_binds_once_its_class_appears(kube, emulator, wait_for):
    emulator.create(pvc("c", storage_class="later"), namespace=kube.namespace)
    await wait_for(lambda: [e for e in emulator.list("events", kube.namespace)
                            if e["reason"] == "ProvisioningFailed"
                            and e["message"] == 'storageclass.storage.k8s.io "later" not found'])
    assert emulator.get("persistentvolumeclaims", "c", kube.namespace)["status"] == {
        "phase": "Pending"}
    emulator.create(storage_class("later", expandable=False))
    bound = await wait_for(lambda: (c := emulator.get("persistentvolumeclaims", "c",
                                                      kube.namespace))
                           and c["status"]["phase"] == "Bound" and c)
    assert bound["status"]["capacity"] == {"storage": "1Gi"}


@pytest.mark.parametrize("expandable,patch,code,message", [
    (False, {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}, 403,
     'persistentvolumeclaims "c" is forbidden: only dynamically provisioned pvc can be '
     "resized and the storageclass that provisions the pvc must support resize"),
    (True, {"spec": {"resources": {"requests": {"storage": "512Mi"}}}}, 422,
     'PersistentVolumeClaim "c" is invalid: spec.resources.requests.storage: Forbidden: '
     "field can not be less than status.capacity"),
    (True, {"spec": {"accessModes": ["ReadWriteMany"]}}, 422,
     'PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after '
     "creation except resources.requests and volumeAttributesClassName for bound claims"),
    (True, {"spec": {"storageClassName": "standard"}}, 422,
     'PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after '
     "creation except resources.requests and volumeAttributesClassName for bound claims"),
])
async def test_claim_update_refused(kube, emulator, wait_for, expandable, patch, code,
                                    message):
    emulator.create(storage_class("disk", expandable=expandable))
    emulator.create(pvc("c", storage_class="disk"), namespace=kube.namespace)
    await wait_for(lambda: emulator.get("persistentvolumeclaims", "c", kube.namespace)[
        "status"]["phase"] == "Bound")
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).patch_namespaced_persistent_volume_claim(
                "c", kube.namespace, patch)
    status = json.loads(error.value.body)
    assert (status["code"], status["message"]) == (code, message)
    assert emulator.get("persistentvolumeclaims", "c", kube.namespace)["spec"]["resources"] == {
        "requests": {"storage": "1Gi"}}


@pytest.mark.parametrize("hard,make,shown", [
    ({"pods": "1"}, lambda n: pod(n), ("pods=1", "pods=1", "pods=1")),
    ({"persistentvolumeclaims": "1"}, lambda n: pvc(n),
     ("persistentvolumeclaims=1", "persistentvolumeclaims=1", "persistentvolumeclaims=1")),
    ({"requests.storage": "1Gi"}, lambda n: pvc(n, "600Mi"),
     ("requests.storage=600Mi", "requests.storage=600Mi", "requests.storage=1Gi")),
    ({"limits.memory": "1Gi"}, lambda n: pod(n, "768Mi"),
     ("limits.memory=768Mi", "limits.memory=768Mi", "limits.memory=1Gi")),
])
async def test_quota_exceeded(kube, emulator, wait_for, hard, make, shown):
    (key, limit), = hard.items()
    emulator.create({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                     "spec": {"hard": hard}}, namespace=kube.namespace)

    def used():
        return emulator.get("resourcequotas", "q", kube.namespace).get("status", {}).get(
            "used", {}).get(key)

    await wait_for(lambda: used() == "0")
    first = make("a")
    plural = "pods" if first["kind"] == "Pod" else "persistentvolumeclaims"
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        create = (v1.create_namespaced_pod if plural == "pods"
                  else v1.create_namespaced_persistent_volume_claim)
        await create(kube.namespace, first)
        await wait_for(lambda: used() not in (None, "0"))
        with pytest.raises(ApiException) as error:
            await create(kube.namespace, make("b"))
        status = json.loads(error.value.body)
        assert (status["code"], status["reason"], status["message"]) == (
            403, "Forbidden", f'{plural} "b" is forbidden: exceeded quota: q, requested: '
                              f"{shown[0]}, used: {shown[1]}, limited: {shown[2]}")
        quota = await v1.read_namespaced_resource_quota("q", kube.namespace)
        assert quota.status.hard == {key: limit}
        emulator.delete(plural, "a", kube.namespace, grace=0)
        await wait_for(lambda: used() == "0")
        await create(kube.namespace, make("b"))
