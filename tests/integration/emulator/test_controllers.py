"""The simulated kubelet, storage provisioner and quota admission."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException


pytestmark = pytest.mark.emulator_only


async def wait_for(predicate, timeout: float = 5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


def pod(name: str, *, claim: str | None = None, memory: str | None = None,
        init: bool = False) -> dict:
    container: dict = {"name": "notebook", "image": "jupyter/base:1"}
    if memory:
        container["resources"] = {"limits": {"memory": memory}}
    spec: dict = {"containers": [container]}
    if claim:
        spec["volumes"] = [{"name": "home", "persistentVolumeClaim": {"claimName": claim}}]
    if init:
        spec["initContainers"] = [{"name": "setup", "image": "busybox:1"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def pvc(name: str, size: str = "1Gi", storage_class: str | None = None) -> dict:
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": spec}


async def test_pod_runs_with_init_containers_and_events(kube, emulator):
    emulator.create(pod("p", init=True), namespace=kube.namespace)
    running = await wait_for(lambda: (p := emulator.get("pods", "p", kube.namespace))
                             and p["status"]["phase"] == "Running" and p)
    status = running["status"]
    assert status["podIP"].startswith("127.0.0.")
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert status["containerStatuses"][0]["ready"] is True
    assert "running" in status["containerStatuses"][0]["state"]
    reasons = {e["reason"] for e in emulator.list("events", kube.namespace)}
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= reasons


async def test_pod_waits_for_its_claim_to_bind(kube, emulator):
    emulator.create(pod("p", claim="home"), namespace=kube.namespace)
    await wait_for(lambda: any(e["reason"] == "FailedScheduling"
                               for e in emulator.list("events", kube.namespace)))
    assert emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Pending"
    emulator.create(pvc("home"), namespace=kube.namespace)
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"]
                   == "Running")
    claim = emulator.get("persistentvolumeclaims", "home", kube.namespace)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["volumeName"] == f"pvc-{claim['metadata']['uid']}"


async def test_image_pull_failure(kube, emulator):
    emulator.kubelet.fail_image_pull(kube.namespace, "p")
    emulator.create(pod("p"), namespace=kube.namespace)
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace)["status"].get(
        "containerStatuses", [{}])[0].get("state", {}).get("waiting", {}).get("reason")
        == "ImagePullBackOff")


async def test_graceful_pod_deletion(kube, emulator):
    emulator.create(pod("p"), namespace=kube.namespace)
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"]
                   == "Running")
    async with kube.api_client() as api:
        await client.CoreV1Api(api).delete_namespaced_pod("p", kube.namespace,
                                                          grace_period_seconds=5)
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace) is None)


async def test_missing_storage_class_stays_pending(kube, emulator):
    emulator.create(pvc("c", storage_class="nope"), namespace=kube.namespace)
    event = await wait_for(lambda: [e for e in emulator.list("events", kube.namespace)
                                    if e["reason"] == "ProvisioningFailed"])
    assert event[0]["type"] == "Warning"
    assert emulator.get("persistentvolumeclaims", "c", kube.namespace)["status"][
        "phase"] == "Pending"


async def test_pvc_expansion_and_shrink(kube, emulator):
    emulator.create(pvc("c"), namespace=kube.namespace)
    await wait_for(lambda: emulator.get("persistentvolumeclaims", "c", kube.namespace)[
        "status"]["phase"] == "Bound")
    grow = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    shrink = {"spec": {"resources": {"requests": {"storage": "1Mi"}}}}
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        await v1.patch_namespaced_persistent_volume_claim("c", kube.namespace, grow)
        with pytest.raises(ApiException) as error:
            await v1.patch_namespaced_persistent_volume_claim("c", kube.namespace, shrink)
    assert error.value.status == 422
    await wait_for(lambda: emulator.get("persistentvolumeclaims", "c", kube.namespace)[
        "status"]["capacity"]["storage"] == "2Gi")


async def test_quota_exceeded_and_status(kube, emulator):
    emulator.create({"apiVersion": "v1", "kind": "ResourceQuota",
                     "metadata": {"name": "budget"},
                     "spec": {"hard": {"requests.storage": "1Gi",
                                       "persistentvolumeclaims": "3"}}},
                    namespace=kube.namespace)
    emulator.create(pvc("a", "1Gi"), namespace=kube.namespace)
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
                kube.namespace, pvc("b", "1Gi"))
    assert error.value.status == 403
    assert json.loads(error.value.body)["message"] == (
        'persistentvolumeclaims "b" is forbidden: exceeded quota: budget, requested: '
        "requests.storage=1Gi, used: requests.storage=1Gi, limited: requests.storage=1Gi")
    await wait_for(lambda: emulator.get("resourcequotas", "budget", kube.namespace).get(
        "status", {}).get("used") == {"requests.storage": "1Gi", "persistentvolumeclaims": "1"})


async def test_memory_quota_needs_limits_unless_limit_range_defaults(kube, emulator):
    emulator.create({"apiVersion": "v1", "kind": "ResourceQuota",
                     "metadata": {"name": "mem"}, "spec": {"hard": {"limits.memory": "1Gi"}}},
                    namespace=kube.namespace)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        with pytest.raises(ApiException) as error:
            await v1.create_namespaced_pod(kube.namespace, pod("p"))
        assert "must specify limits.memory" in error.value.body
        emulator.create({"apiVersion": "v1", "kind": "LimitRange",
                         "metadata": {"name": "defaults"},
                         "spec": {"limits": [{"type": "Container",
                                              "default": {"memory": "512Mi"}}]}},
                        namespace=kube.namespace)
        created = await v1.create_namespaced_pod(kube.namespace, pod("p"))
    assert created.spec.containers[0].resources.limits == {"memory": "512Mi"}
