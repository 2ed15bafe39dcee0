"""The emulator's node and scheduler: the shared node agent registers its Node and Lease,
the scheduler honours taints, tolerations and nodeSelector, and a node's identity may
write the status of its own pods only (the Node authorizer's rule)."""

from __future__ import annotations

import time

import aiohttp
import pytest

pytestmark = pytest.mark.emulator_only(
    reason="the emulator's own node (emulator-node), a Node of the test's and node tokens"
)


def pod(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "notebook", "image": "jupyter/base:1"}], **spec},
    }


async def running_pod(emulator, namespace: str, wait_for) -> dict:
    """Pod ``p``, made and run by the emulator's node."""
    emulator.create(pod("p"), namespace=namespace)
    return await wait_for(
        lambda: (
            (p := emulator.get("pods", "p", namespace)) and p["status"]["phase"] == "Running" and p
        )
    )


def tainted_node(name: str) -> dict:
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": [{"key": "runner", "value": "true", "effect": "NoSchedule"}]},
        "status": {"conditions": [ready]},
    }


async def test_the_node_agent_registers_its_node_and_lease(kube, emulator, wait_for):
    # registered, then its status reported (two requests, as a kubelet makes them)
    node = await wait_for(
        lambda: (n := emulator.get("nodes", "emulator-node", None)) and "status" in n and n
    )
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.")
    lease = await wait_for(lambda: emulator.get("leases", "emulator-node", "kube-node-lease"))
    assert lease["spec"]["holderIdentity"] == "emulator-node"


async def test_taints_tolerations_and_node_selector_place_pods(kube, emulator, wait_for):
    await wait_for(lambda: emulator.get("nodes", "emulator-node", None))
    emulator.create(tainted_node("runner"))
    selector = {"kubernetes.io/hostname": "runner"}
    toleration = [{"key": "runner", "operator": "Exists"}]
    emulator.create(pod("free"), namespace=kube.namespace)
    emulator.create(pod("untolerated", nodeSelector=selector), namespace=kube.namespace)
    emulator.create(
        pod("tolerated", nodeSelector=selector, tolerations=toleration), namespace=kube.namespace
    )

    def node_of(name: str):
        return (emulator.get("pods", name, kube.namespace) or {}).get("spec", {}).get("nodeName")

    assert await wait_for(lambda: node_of("free")) == "emulator-node"
    assert await wait_for(lambda: node_of("tolerated")) == "runner"
    refused = await wait_for(
        lambda: [
            e["message"]
            for e in emulator.list("events", kube.namespace)
            if e["reason"] == "FailedScheduling" and e["involvedObject"]["name"] == "untolerated"
        ]
    )
    assert refused[0].startswith("0/2 nodes are available: ")
    assert "1 node(s) had untolerated taint {runner: true}" in refused[0]
    assert "1 node(s) didn't match Pod's node affinity/selector" in refused[0]
    assert node_of("untolerated") is None
    conditions = emulator.get("pods", "untolerated", kube.namespace)["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [
        ("PodScheduled", "False", "Unschedulable")
    ]


async def test_a_node_writes_the_status_of_its_own_pods_only(kube, emulator, wait_for):
    emulator.add_token("other-node", user="system:node:other", groups=["system:nodes"])
    running = await running_pod(emulator, kube.namespace, wait_for)
    path = f"/api/v1/namespaces/{kube.namespace}/pods/p"
    headers = {"Authorization": "Bearer other-node"}
    async with aiohttp.ClientSession(emulator.url, headers=headers) as http:
        async with http.put(f"{path}/status", json=running) as answer:
            assert answer.status == 403
            assert (
                'User "system:node:other" cannot update resource "pods/status"'
                in ((await answer.json())["message"])
            )
        async with http.delete(path) as answer:
            assert answer.status == 403
        async with http.get("/api/v1/secrets") as answer:
            assert answer.status == 403
    assert emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Running"


async def test_a_status_write_is_checked_against_the_status_schema(kube, emulator, wait_for):
    # the status subresource's write checks the status alone (the rest is the stored pod)
    current = await running_pod(emulator, kube.namespace, wait_for)
    current["status"]["conditions"][0]["status"] = 3
    path = f"/api/v1/namespaces/{kube.namespace}/pods/p/status"
    headers = {"Authorization": f"Bearer {emulator.admin_token}"}
    async with aiohttp.ClientSession(emulator.url, headers=headers) as http:
        async with http.put(path, json=current) as answer:
            assert answer.status == 422
            body = await answer.json()
    assert body["details"]["causes"][0]["field"] == "status.conditions[0].status"


def test_the_node_agent_runs_pods_over_http_too():
    # the same agent, over HTTP with its node token (Emulator(node_transport="http")), as
    # the real tier's nodes reach kube-apiserver
    from workspace_spawner_testing.emulator import Emulator

    emulator = Emulator(node_transport="http").start_in_thread()
    try:
        emulator.create(pod("p"), namespace="default")
        deadline = time.monotonic() + 10
        while (emulator.get("pods", "p", "default") or {})["status"]["phase"] != "Running":
            assert time.monotonic() < deadline, "the pod never ran"
            time.sleep(0.02)
        assert emulator.get("pods", "p", "default")["spec"]["nodeName"] == "emulator-node"
        assert emulator.get("leases", "emulator-node", "kube-node-lease") is not None
        # the node's requests are not the clients' log
        assert not [r for r in emulator.requests if r.user.startswith("system:node:")]
    finally:
        emulator.stop_thread()


async def test_a_node_agent_offers_the_pods_its_max_pods_allow(kube, emulator, wait_for):
    # kubelet --max-pods (default 110) is the node's pods capacity, which kube-scheduler
    # places no more pods beyond: a class of 500 on one node needs a larger one
    from workspace_spawner_testing.kubeconfig import Credentials
    from workspace_spawner_testing.nodeagent import Api, NodeAgent

    emulator.add_token("big-node", user="system:node:big", groups=["system:nodes"])
    emulator.add_token("small-node", user="system:node:small", groups=["system:nodes"])
    for name, max_pods in (("big", {"max_pods": 600}), ("small", {})):
        api = Api(Credentials(server=emulator.url, token=f"{name}-node", ca_file=None))
        try:
            await NodeAgent(api, node=name, **max_pods).register()
        finally:
            await api.close()
    big, small = emulator.get("nodes", "big", None), emulator.get("nodes", "small", None)
    assert big["status"]["capacity"]["pods"] == big["status"]["allocatable"]["pods"] == "600"
    assert small["status"]["capacity"]["pods"] == "110"
