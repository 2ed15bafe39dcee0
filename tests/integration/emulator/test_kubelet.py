"""The node agent on the emulator (its status runtime's controls): logs, container exits by
restartPolicy, slow and unready pods, graceful deletion with finalizers, the scheduler's
placement. The tests that steer nothing run on the real tier too, against its node agent."""

from __future__ import annotations

import uuid

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

steers = pytest.mark.emulator_only(
    reason="steers the node agent's status runtime on the emulator (logs, exits, slow and "
    "unready pods)"
)


def pod(
    name: str,
    *containers: str,
    restart_policy: str | None = None,
    finalizers: list[str] | None = None,
    pull: str | None = None,
) -> dict:
    spec: dict = {
        "containers": [{"name": c, "image": "jupyter/base:1"} for c in containers or ("notebook",)]
    }
    if pull:
        for container in spec["containers"]:
            container["imagePullPolicy"] = pull
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    meta: dict = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def reasons(emulator, namespace: str, reason: str, pod: str | None = None) -> list[tuple]:
    """(fieldPath, count) of the events of ``reason`` (of pod ``pod``)."""
    return [
        (e["involvedObject"].get("fieldPath"), e["count"])
        for e in emulator.list("events", namespace)
        if e["reason"] == reason and pod in (None, e["involvedObject"]["name"])
    ]


def phase(emulator, namespace: str, name: str, wanted: str):
    def check():
        p = emulator.get("pods", name, namespace)
        return p if p and p["status"]["phase"] == wanted else None

    return check


@steers
async def test_pod_log_per_container(kube, emulator, wait_for):
    emulator.kubelet.set_log(kube.namespace, "p", "notebook", "notebook says hi\n")
    emulator.kubelet.set_log(kube.namespace, "p", "sidecar", "sidecar says hi\n")
    emulator.create(pod("p", "notebook", "sidecar"), namespace=kube.namespace)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        first = await v1.read_namespaced_pod_log("p", kube.namespace, container="notebook")
        second = await v1.read_namespaced_pod_log("p", kube.namespace, container="sidecar")
        with pytest.raises(ApiException) as missing:
            await v1.read_namespaced_pod_log("nope", kube.namespace)
    assert (first, second) == ("notebook says hi\n", "sidecar says hi\n")
    assert missing.value.status == 404


@steers
@pytest.mark.parametrize(
    "policy,exit_code,phase_after,restarted",
    [
        ("Always", 0, "Running", True),
        ("Always", 1, "Running", True),
        ("OnFailure", 1, "Running", True),
        ("OnFailure", 0, "Succeeded", False),
        ("Never", 0, "Succeeded", False),
        ("Never", 137, "Failed", False),
    ],
)
async def test_container_exit_by_restart_policy(
    kube, emulator, wait_for, policy, exit_code, phase_after, restarted
):
    emulator.create(pod("p", restart_policy=policy), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    emulator.kubelet.container_exited(kube.namespace, "p", "notebook", exit_code)
    async with kube.api_client() as api:
        after = (await client.CoreV1Api(api).read_namespaced_pod("p", kube.namespace)).status
    status = after.container_statuses[0]
    assert after.phase == phase_after
    if restarted:
        assert status.restart_count == 1
        assert status.state.running is not None and status.ready
        assert status.last_state.terminated.exit_code == exit_code
    else:
        assert status.restart_count == 0
        assert status.state.terminated.exit_code == exit_code
        assert status.state.terminated.reason == ("Completed" if exit_code == 0 else "Error")
        assert {c.type: c.status for c in after.conditions}["Ready"] == "False"


@steers
async def test_slow_start_keeps_the_pod_pending_after_its_containers_start(
    kube, emulator, wait_for
):
    emulator.kubelet.slow_start(kube.namespace, "p", 1.0)
    emulator.create(pod("p"), namespace=kube.namespace)
    await wait_for(
        lambda: any(e["reason"] == "Started" for e in emulator.list("events", kube.namespace))
    )
    assert emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Pending"
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))


@steers
async def test_never_ready_runs_without_readiness(kube, emulator, wait_for):
    emulator.kubelet.never_ready(kube.namespace, "p")
    emulator.create(pod("p"), namespace=kube.namespace)
    running = await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    conditions = {c["type"]: c["status"] for c in running["status"]["conditions"]}
    assert conditions["Ready"] == conditions["ContainersReady"] == "False"
    assert running["status"]["podIP"]
    assert running["status"]["containerStatuses"][0]["ready"] is False


async def test_pod_deletion_honours_grace_and_finalizers(kube, emulator, wait_for):
    emulator.create(pod("p", finalizers=["example.com/keep"]), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        answer = await v1.delete_namespaced_pod("p", kube.namespace, grace_period_seconds=7)
        assert answer.metadata.deletion_grace_period_seconds == 7
        assert answer.metadata.deletion_timestamp is not None
        await wait_for(
            lambda: any(e["reason"] == "Killing" for e in emulator.list("events", kube.namespace))
        )
        # the containers are stopped; the finalizer keeps the object
        held = await v1.read_namespaced_pod("p", kube.namespace)
        assert held.metadata.finalizers == ["example.com/keep"]
        await v1.patch_namespaced_pod("p", kube.namespace, {"metadata": {"finalizers": None}})
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace) is None)


async def test_pod_deletion_with_zero_grace_is_immediate(kube, emulator, wait_for):
    emulator.create(pod("p"), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    async with kube.api_client() as api:
        await client.CoreV1Api(api).delete_namespaced_pod(
            "p", kube.namespace, grace_period_seconds=0
        )
    assert emulator.get("pods", "p", kube.namespace) is None


@steers
async def test_finalizer_of_a_recreated_pod_holds_it_until_its_own_containers_stop(
    kube, emulator, wait_for
):
    # a pod that was stopped and removed before must not make its namesake vanish early
    emulator.create(pod("p", finalizers=["example.com/keep"]), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    emulator.delete("pods", "p", kube.namespace, grace=1)
    await wait_for(
        lambda: any(e["reason"] == "Killing" for e in emulator.list("events", kube.namespace))
    )
    emulator.patch("pods", "p", {"metadata": {"finalizers": None}}, kube.namespace)
    await wait_for(lambda: emulator.get("pods", "p", kube.namespace) is None)
    emulator.kubelet_impl.stop_seconds = 30.0  # the next pod's containers take long to stop
    emulator.create(pod("p", finalizers=["example.com/keep"]), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    emulator.delete("pods", "p", kube.namespace, grace=30)
    emulator.patch("pods", "p", {"metadata": {"finalizers": None}}, kube.namespace)
    still = emulator.get("pods", "p", kube.namespace)
    assert still is not None and "deletionTimestamp" in still["metadata"]


@pytest.mark.emulator_only(reason="300 pods at once: the fast tier's load test")
async def test_more_live_pods_than_a_slash_24_each_run_with_an_address_of_their_own(
    kube, emulator, wait_for
):
    # a class of 300 at once: pod addresses came from one /24, so past 253 live pods
    # the rest never ran (issue 17)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        for i in range(300):
            await v1.create_namespaced_pod(kube.namespace, pod(f"p{i}"))

    def all_running():
        pods = emulator.list("pods", kube.namespace)
        return pods if all(p["status"]["phase"] == "Running" for p in pods) else None

    pods = await wait_for(all_running, timeout=60)
    ips = [p["status"]["podIP"] for p in pods]
    assert len(pods) == len(set(ips)) == 300
    assert all(ip.startswith("127.") and ip != "127.0.0.1" for ip in ips)
    assert all(p["status"]["podIPs"] == [{"ip": p["status"]["podIP"]}] for p in pods)


@steers
async def test_each_container_gets_its_own_events_and_a_repeat_is_counted(kube, emulator, wait_for):
    # one event per (object, fieldPath, type, reason, message), as client-go aggregates:
    # two containers of one image pulled Always are pulled twice, not one event counted twice
    emulator.create(pod("p", "a", "b", pull="Always"), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"))
    # the events are sent in the background: they may come after the Running status
    await wait_for(lambda: len(reasons(emulator, kube.namespace, "Pulling")) == 2)
    assert sorted(reasons(emulator, kube.namespace, "Pulling")) == [
        ("spec.containers{a}", 1),
        ("spec.containers{b}", 1),
    ]
    emulator.kubelet.container_exited(kube.namespace, "p", "a", 1)
    emulator.kubelet.container_exited(kube.namespace, "p", "a", 1)
    started = {
        e["involvedObject"]["fieldPath"]: e["count"]
        for e in emulator.list("events", kube.namespace)
        if e["reason"] == "Started"
    }
    assert started == {"spec.containers{a}": 3, "spec.containers{b}": 1}


async def test_the_status_changes_of_a_pod_are_written_in_few_writes(kube, emulator, wait_for):
    # the kubelet's status manager keeps the latest status and syncs it: what changes
    # while a write is in flight goes in the next write, not one write a change (three
    # init containers were eight writes: Pending, each one's running and terminated,
    # Running; now at most one while each runs, and the last)
    manifest = pod("p")
    manifest["spec"]["initContainers"] = [
        {"name": f"init{i}", "image": "jupyter/base:1"} for i in range(3)
    ]
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        version = (await v1.list_namespaced_pod(kube.namespace)).metadata.resource_version
        emulator.create(manifest, namespace=kube.namespace)
        writes, running = 0, None
        async with watch.Watch().stream(
            v1.list_namespaced_pod, kube.namespace, resource_version=version, timeout_seconds=30
        ) as stream:
            async for event in stream:
                status = event["raw_object"].get("status") or {}
                if event["type"] == "MODIFIED" and "startTime" in status:  # the node's
                    writes += 1
                if status.get("phase") == "Running":
                    running = status
                    break
    assert running is not None, "the pod never ran"
    assert all("terminated" in s["state"] for s in running["initContainerStatuses"])
    assert {c["type"]: c["status"] for c in running["conditions"]}["Ready"] == "True"
    assert writes <= 4, writes


async def test_an_image_the_node_has_is_not_pulled_again(kube, emulator, wait_for):
    # shouldPullImage (pkg/kubelet/images/image_manager.go): a tagged image's policy is
    # IfNotPresent, and a node that has the image says so in a Pulled event, with no
    # Pulling; Always pulls at every start
    image = f"jupyter/base:{uuid.uuid4().hex[:8]}"  # new to this node, whatever ran before
    first, again, always = pod("first"), pod("again"), pod("always", pull="Always")
    for manifest in (first, again, always):
        manifest["spec"]["containers"][0]["image"] = image
    emulator.create(first, namespace=kube.namespace)
    await wait_for(lambda: reasons(emulator, kube.namespace, "Started", "first"), timeout=30)
    emulator.create(again, namespace=kube.namespace)
    emulator.create(always, namespace=kube.namespace)
    await wait_for(lambda: reasons(emulator, kube.namespace, "Started", "again"), timeout=30)
    await wait_for(lambda: reasons(emulator, kube.namespace, "Started", "always"), timeout=30)
    pulled = {
        e["involvedObject"]["name"]: e["message"]
        for e in emulator.list("events", kube.namespace)
        if e["reason"] == "Pulled"
    }
    assert pulled["again"] == f'Container image "{image}" already present on machine'
    assert pulled["first"].startswith(f'Successfully pulled image "{image}"')
    assert pulled["always"].startswith(f'Successfully pulled image "{image}"')
    assert reasons(emulator, kube.namespace, "Pulling", "first")
    assert not reasons(emulator, kube.namespace, "Pulling", "again")
    assert reasons(emulator, kube.namespace, "Pulling", "always")


@steers
async def test_the_killing_events_of_a_pod_are_written_before_its_final_delete(
    kube, emulator, wait_for
):
    # the events are sent in the background, but those of the stop are written before the
    # node's final delete (the kubelet kills the containers, then its status manager
    # deletes the pod), even when the containers stop at once; the store's versions order
    # the writes
    emulator.kubelet_impl.stop_seconds = 0.0
    emulator.create(pod("p", "a", "b"), namespace=kube.namespace)
    await wait_for(phase(emulator, kube.namespace, "p", "Running"), timeout=30)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        version = (await v1.list_namespaced_pod(kube.namespace)).metadata.resource_version
        emulator.delete("pods", "p", kube.namespace, grace=1)
        deleted = None
        async with watch.Watch().stream(
            v1.list_namespaced_pod, kube.namespace, resource_version=version, timeout_seconds=30
        ) as stream:
            async for event in stream:
                if event["type"] == "DELETED":
                    deleted = int(event["raw_object"]["metadata"]["resourceVersion"])
                    break
    await wait_for(lambda: len(reasons(emulator, kube.namespace, "Killing")) == 2)
    killing = [e for e in emulator.list("events", kube.namespace) if e["reason"] == "Killing"]
    assert deleted is not None, "the pod was never deleted"
    assert all(int(e["metadata"]["resourceVersion"]) < deleted for e in killing)
