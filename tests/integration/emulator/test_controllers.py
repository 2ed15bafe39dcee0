"""The emulator's node agent, storage provisioner and quota admission, as a real API server
gives them."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException


def pod(
    name: str, *, claim: str | None = None, memory: str | None = None, init: bool = False
) -> dict:
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
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_pod_runs_with_init_containers_and_events(kube, emulator, wait_for):
    emulator.create(pod("p", init=True), namespace=kube.namespace)
    running = await wait_for(
        lambda: (
            (p := emulator.get("pods", "p", kube.namespace))
            and p["status"]["phase"] == "Running"
            and p
        )
    )
    status = running["status"]
    assert status["podIP"].startswith("127.0.0.")
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert status["containerStatuses"][0]["ready"] is True
    assert "running" in status["containerStatuses"][0]["state"]
    # the node sends its events in the background: they may come after the Running status
    # (Pulled, with or without a Pulling: a node that has the image does not pull it)
    wanted = {"Scheduled", "Pulled", "Created", "Started"}
    await wait_for(lambda: wanted <= {e["reason"] for e in emulator.list("events", kube.namespace)})


@pytest.mark.emulator_only(
    reason="sets termination messages and exits through the node agent's status runtime on the emulator"
)
async def test_termination_messages_of_completed_and_failed_containers(kube, emulator, wait_for):
    def terminated(name: str, key: str = "initContainerStatuses"):
        p = emulator.get("pods", name, kube.namespace)
        states = [s["state"] for s in (p or {}).get("status", {}).get(key) or []]
        return states and "terminated" in states[-1] and states[-1]["terminated"]

    emulator.kubelet.set_termination_message(kube.namespace, "p", "setup", "ready: all set")
    completing = pod("p", init=True)
    completing["spec"]["restartPolicy"] = "Never"
    emulator.create(completing, namespace=kube.namespace)
    done = await wait_for(lambda: terminated("p"))
    assert (done["exitCode"], done["reason"], done["message"]) == (0, "Completed", "ready: all set")
    await wait_for(
        lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Running"
    )
    # the main container ends: its message too (restartPolicy Never: it stays ended)
    emulator.kubelet.set_termination_message(kube.namespace, "p", "notebook", "bye")
    emulator.kubelet.container_exited(kube.namespace, "p", "notebook", 0)
    ended = await wait_for(lambda: terminated("p", "containerStatuses"))
    assert ended["message"] == "bye"

    # no message file, FallbackToLogsOnError and a failure: the log's last 80 lines
    failing = pod("q", init=True)
    failing["spec"]["initContainers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    emulator.kubelet.fail_init_container(kube.namespace, "q", "setup", exit_code=3)
    emulator.kubelet.set_log(
        kube.namespace, "q", "setup", "".join(f"line {i}\n" for i in range(100))
    )
    emulator.create(failing, namespace=kube.namespace)
    failed = await wait_for(lambda: terminated("q"))
    assert (failed["exitCode"], failed["reason"]) == (3, "Error")
    assert failed["message"] == "\n".join(f"line {i}" for i in range(20, 100))
    # with the default policy (File) a failure without a message has none
    emulator.kubelet.fail_init_container(kube.namespace, "r", "setup")
    emulator.kubelet.set_log(kube.namespace, "r", "setup", "oops\n")
    emulator.create(pod("r", init=True), namespace=kube.namespace)
    assert "message" not in await wait_for(lambda: terminated("r"))


@pytest.mark.emulator_only(
    reason="slows an init container through the node agent's status runtime on the emulator"
)
async def test_slow_init_container_holds_the_pod_initializing(kube, emulator, wait_for):
    emulator.kubelet.slow_init_container(kube.namespace, "p", "setup", 0.5)
    emulator.create(pod("p", init=True), namespace=kube.namespace)
    await wait_for(
        lambda: (
            "running"
            in emulator.get("pods", "p", kube.namespace)["status"].get(
                "initContainerStatuses", [{"state": {}}]
            )[0]["state"]
        )
    )
    await asyncio.sleep(0.2)
    status = emulator.get("pods", "p", kube.namespace)["status"]
    assert "running" in status["initContainerStatuses"][0]["state"]
    assert status.get("phase") == "Pending"
    await wait_for(
        lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Running"
    )


async def test_pod_waits_for_its_claim_to_bind(kube, emulator, wait_for):
    emulator.create(pod("p", claim="home"), namespace=kube.namespace)
    await wait_for(
        lambda: any(
            e["reason"] == "FailedScheduling" for e in emulator.list("events", kube.namespace)
        )
    )
    assert emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Pending"
    emulator.create(pvc("home"), namespace=kube.namespace)
    await wait_for(
        lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Running"
    )
    claim = emulator.get("persistentvolumeclaims", "home", kube.namespace)
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["volumeName"] == f"pvc-{claim['metadata']['uid']}"


@pytest.mark.emulator_only(
    reason="fails an image pull through the node agent's status runtime on the emulator"
)
async def test_image_pull_failure(kube, emulator, wait_for):
    emulator.kubelet.fail_image_pull(kube.namespace, "p")
    emulator.create(pod("p"), namespace=kube.namespace)
    await wait_for(
        lambda: (
            emulator.get("pods", "p", kube.namespace)["status"]
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "ImagePullBackOff"
        )
    )


async def test_graceful_pod_deletion(kube, emulator, wait_for):
    emulator.create(pod("p"), namespace=kube.namespace)
    await wait_for(
        lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Running"
    )
    async with kube.api_client() as api:
        await client.CoreV1Api(api).delete_namespaced_pod(
            "p", kube.namespace, grace_period_seconds=5
        )
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace) is None)


@pytest.mark.emulator_only(
    reason="divergence kept (docs/dev/emulator.md): the emulator's "
    "provisioner and resize controller, not the host-path ones"
)
async def test_pvc_expansion_and_shrink(kube, emulator, wait_for):
    emulator.create(pvc("c"), namespace=kube.namespace)
    await wait_for(
        lambda: (
            emulator.get("persistentvolumeclaims", "c", kube.namespace)["status"]["phase"]
            == "Bound"
        )
    )
    grow = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    shrink = {"spec": {"resources": {"requests": {"storage": "1Mi"}}}}
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        await v1.patch_namespaced_persistent_volume_claim("c", kube.namespace, grow)
        with pytest.raises(ApiException) as error:
            await v1.patch_namespaced_persistent_volume_claim("c", kube.namespace, shrink)
    assert error.value.status == 422
    await wait_for(
        lambda: (
            emulator.get("persistentvolumeclaims", "c", kube.namespace)["status"]["capacity"][
                "storage"
            ]
            == "2Gi"
        )
    )


async def test_quota_exceeded_and_status(kube, emulator, wait_for):
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "budget"},
            "spec": {"hard": {"requests.storage": "1Gi", "persistentvolumeclaims": "3"}},
        },
        namespace=kube.namespace,
    )

    def used() -> dict | None:
        quota = emulator.get("resourcequotas", "budget", kube.namespace)
        return (quota.get("status") or {}).get("used")

    # kube-apiserver's quota admission counts from the quota's status, which its
    # controller writes a moment after the quota is made (a make test-cluster run once
    # admitted "b" in that moment): as an admin, wait for it to be in force, then for "a"
    await wait_for(lambda: used() is not None, 30)
    emulator.create(pvc("a", "1Gi"), namespace=kube.namespace)
    await wait_for(lambda: (used() or {}).get("requests.storage") == "1Gi", 30)
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
                kube.namespace, pvc("b", "1Gi")
            )
    assert error.value.status == 403
    assert json.loads(error.value.body)["message"] == (
        'persistentvolumeclaims "b" is forbidden: exceeded quota: budget, requested: '
        "requests.storage=1Gi, used: requests.storage=1Gi, limited: requests.storage=1Gi"
    )
    await wait_for(
        lambda: (
            emulator.get("resourcequotas", "budget", kube.namespace).get("status", {}).get("used")
            == {"requests.storage": "1Gi", "persistentvolumeclaims": "1"}
        )
    )


async def test_memory_quota_needs_limits_unless_limit_range_defaults(kube, emulator):
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "mem"},
            "spec": {"hard": {"limits.memory": "1Gi"}},
        },
        namespace=kube.namespace,
    )
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        with pytest.raises(ApiException) as error:
            await v1.create_namespaced_pod(kube.namespace, pod("p"))
        assert "must specify limits.memory" in error.value.body
        emulator.create(
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "defaults"},
                "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"}}]},
            },
            namespace=kube.namespace,
        )
        created = await v1.create_namespaced_pod(kube.namespace, pod("p"))
    assert created.spec.containers[0].resources.limits == {"memory": "512Mi"}


def storage_class(name: str, *, expandable: bool) -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "example.com/disk",
        "allowVolumeExpansion": expandable,
    }


@pytest.mark.emulator_only(
    reason="divergence kept (docs/dev/emulator.md): the emulator's "
    "provisioner and resize controller, not the host-path ones"
)
async def test_claim_binds_once_its_class_appears(kube, emulator, wait_for):
    emulator.create(pvc("c", storage_class="later"), namespace=kube.namespace)
    await wait_for(
        lambda: [
            e
            for e in emulator.list("events", kube.namespace)
            if (e["type"], e["reason"]) == ("Warning", "ProvisioningFailed")
            and e["message"] == 'storageclass.storage.k8s.io "later" not found'
        ]
    )
    assert emulator.get("persistentvolumeclaims", "c", kube.namespace)["status"] == {
        "phase": "Pending"
    }
    emulator.create(storage_class("later", expandable=False))
    bound = await wait_for(
        lambda: (
            (c := emulator.get("persistentvolumeclaims", "c", kube.namespace))
            and c["status"]["phase"] == "Bound"
            and c
        )
    )
    assert bound["status"]["capacity"] == {"storage": "1Gi"}


@pytest.mark.emulator_only(
    reason="divergence kept (docs/dev/emulator.md): the emulator's "
    "provisioner and resize controller, not the host-path ones"
)
@pytest.mark.parametrize(
    "expandable,patch,code,message",
    [
        (
            False,
            {"spec": {"resources": {"requests": {"storage": "2Gi"}}}},
            403,
            'persistentvolumeclaims "c" is forbidden: only dynamically provisioned pvc can be '
            "resized and the storageclass that provisions the pvc must support resize",
        ),
        (
            True,
            {"spec": {"resources": {"requests": {"storage": "512Mi"}}}},
            422,
            'PersistentVolumeClaim "c" is invalid: spec.resources.requests.storage: Forbidden: '
            "field can not be less than status.capacity",
        ),
        (
            True,
            {"spec": {"accessModes": ["ReadWriteMany"]}},
            422,
            'PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after '
            "creation except resources.requests and volumeAttributesClassName for bound claims",
        ),
        (
            True,
            {"spec": {"storageClassName": "standard"}},
            422,
            'PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after '
            "creation except resources.requests and volumeAttributesClassName for bound claims",
        ),
    ],
)
async def test_claim_update_refused(kube, emulator, wait_for, expandable, patch, code, message):
    emulator.create(storage_class("disk", expandable=expandable))
    emulator.create(pvc("c", storage_class="disk"), namespace=kube.namespace)
    await wait_for(
        lambda: (
            emulator.get("persistentvolumeclaims", "c", kube.namespace)["status"]["phase"]
            == "Bound"
        )
    )
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).patch_namespaced_persistent_volume_claim(
                "c", kube.namespace, patch
            )
    status = json.loads(error.value.body)
    assert (status["code"], status["message"]) == (code, message)
    assert emulator.get("persistentvolumeclaims", "c", kube.namespace)["spec"]["resources"] == {
        "requests": {"storage": "1Gi"}
    }


@pytest.mark.parametrize(
    "hard,make,shown",
    [
        ({"pods": "1"}, lambda n: pod(n), ("pods=1", "pods=1", "pods=1")),
        (
            {"persistentvolumeclaims": "1"},
            lambda n: pvc(n),
            ("persistentvolumeclaims=1", "persistentvolumeclaims=1", "persistentvolumeclaims=1"),
        ),
        (
            {"requests.storage": "1Gi"},
            lambda n: pvc(n, "600Mi"),
            ("requests.storage=600Mi", "requests.storage=600Mi", "requests.storage=1Gi"),
        ),
        (
            {"limits.memory": "1Gi"},
            lambda n: pod(n, memory="768Mi"),
            ("limits.memory=768Mi", "limits.memory=768Mi", "limits.memory=1Gi"),
        ),
    ],
)
async def test_quota_exceeded(kube, emulator, wait_for, hard, make, shown):
    ((key, limit),) = hard.items()
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q"},
            "spec": {"hard": hard},
        },
        namespace=kube.namespace,
    )

    def used():
        return (
            emulator.get("resourcequotas", "q", kube.namespace)
            .get("status", {})
            .get("used", {})
            .get(key)
        )

    await wait_for(lambda: used() == "0")
    first = make("a")
    plural = "pods" if first["kind"] == "Pod" else "persistentvolumeclaims"
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        create = (
            v1.create_namespaced_pod
            if plural == "pods"
            else v1.create_namespaced_persistent_volume_claim
        )
        await create(kube.namespace, first)
        await wait_for(lambda: used() not in (None, "0"))
        with pytest.raises(ApiException) as error:
            await create(kube.namespace, make("b"))
        status = json.loads(error.value.body)
        assert (status["code"], status["reason"], status["message"]) == (
            403,
            "Forbidden",
            f'{plural} "b" is forbidden: exceeded quota: q, requested: '
            f"{shown[0]}, used: {shown[1]}, limited: {shown[2]}",
        )
        quota = await v1.read_namespaced_resource_quota("q", kube.namespace)
        assert quota.status.hard == {key: limit}
        emulator.delete(plural, "a", kube.namespace, grace=0)
        await wait_for(lambda: used() == "0")
        await create(kube.namespace, make("b"))
