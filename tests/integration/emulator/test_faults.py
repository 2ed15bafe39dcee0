"""Fault injection: statuses as a real API server sends them, hangs, count and matching."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

pytestmark = pytest.mark.emulator_only(reason="fault injection is the emulator's own control")


def cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


async def test_hanging_request_times_out_and_the_next_one_works(kube, emulator, wait_for):
    emulator.create(cm("a"), namespace=kube.namespace)
    emulator.inject_fault(verb="get", resource="configmaps", hang=True)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        with pytest.raises(asyncio.TimeoutError):
            await v1.read_namespaced_config_map("a", kube.namespace, _request_timeout=0.3)
        again = await v1.read_namespaced_config_map("a", kube.namespace, _request_timeout=5)
    assert again.metadata.name == "a"
    # the hung request is logged (499, client gone) once the server sees the client leave
    await wait_for(
        lambda: (
            sorted(
                r.status for r in emulator.requests if (r.verb, r.resource) == ("get", "configmaps")
            )
            == [200, 499]
        )
    )


@pytest.mark.parametrize(
    "verb,status,reason,message,retry_after",
    [
        ("get", 429, "TooManyRequests", "Too many requests, please try again later.", "1"),
        ("get", 403, "Forbidden", 'configmaps "a" is forbidden: injected fault', None),
        ("get", 500, "InternalError", "Internal error occurred: injected fault", None),
        ("create", 409, "AlreadyExists", 'configmaps "a" already exists', None),
        (
            "update",
            409,
            "Conflict",
            'Operation cannot be fulfilled on configmaps "a": the object '
            "has been modified; please apply your changes to the latest "
            "version and try again",
            None,
        ),
    ],
)
async def test_fault_statuses(kube, emulator, verb, status, reason, message, retry_after):
    if verb != "create":
        emulator.create(cm("a"), namespace=kube.namespace)
    emulator.inject_fault(verb=verb, resource="configmaps", status=status)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        call = {
            "get": lambda: v1.read_namespaced_config_map("a", kube.namespace),
            "create": lambda: v1.create_namespaced_config_map(kube.namespace, cm("a")),
            "update": lambda: v1.replace_namespaced_config_map("a", kube.namespace, cm("a")),
        }[verb]
        with pytest.raises(ApiException) as error:
            await call()
        await call()  # count=1: the fault is used up
    body = json.loads(error.value.body)
    assert (error.value.status, body["kind"], body["code"], body["reason"], body["message"]) == (
        status,
        "Status",
        status,
        reason,
        message,
    )
    assert error.value.headers.get("Retry-After") == retry_after
    if retry_after:
        assert body["details"]["retryAfterSeconds"] == int(retry_after)


@pytest.mark.parametrize(
    "match,hit",
    [
        ({}, ["a", "b", "c"]),
        ({"name": "b"}, ["b"]),
        ({"namespace": "other"}, ["c"]),
        ({"namespace": "jupyterhub", "name": "c"}, []),
        ({"verb": "list"}, []),
        ({"resource": "secrets"}, []),
    ],
)
async def test_fault_matches_verb_resource_namespace_and_name(kube, emulator, match, hit):
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    targets = [(kube.namespace, "a"), (kube.namespace, "b"), ("other", "c")]
    for namespace, name in targets:
        emulator.create(cm(name), namespace=namespace)
    emulator.inject_fault(**{"verb": "get", "resource": "configmaps", "count": 5, **match})
    failed = []
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        for namespace, name in targets:
            try:
                await v1.read_namespaced_config_map(name, namespace)
            except ApiException:
                failed.append(name)
    assert failed == hit


async def test_fault_count(kube, emulator):
    emulator.create(cm("a"), namespace=kube.namespace)
    fault = emulator.inject_fault(verb="get", resource="configmaps", status=500, count=2)
    statuses = []
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        for _ in range(3):
            try:
                await v1.read_namespaced_config_map("a", kube.namespace)
                statuses.append(200)
            except ApiException as e:
                statuses.append(e.status)
    assert statuses == [500, 500, 200]
    assert fault.count == 0


@pytest.mark.parametrize("rate,seed", [(0.3, 7), (0.05, 1)])
async def test_random_faults_hit_the_seeded_fraction_of_requests_again_each_run(
    kube, emulator, rate, seed
):
    """A load test's random faults, through the control API a benchmark in another
    process uses: which requests fail is drawn from the seed, so a run repeats."""
    emulator.create(cm("a"), namespace=kube.namespace)
    draws = random.Random(seed)
    expected = [draws.random() < rate for _ in range(200)]
    runs = []
    async with kube.api_client() as api, aiohttp.ClientSession(emulator.url) as http:
        v1 = client.CoreV1Api(api)
        for _ in range(2):
            emulator.faults.clear()
            async with http.post(
                "/_emulator/faults",
                json={"verb": "get", "resource": "configmaps", "status": 429, "count": None}
                | {"rate": rate, "seed": seed},
            ) as r:
                assert r.status == 200
            failed = []
            for _ in range(200):
                try:
                    await v1.read_namespaced_config_map("a", kube.namespace)
                    failed.append(False)
                except ApiException as e:
                    assert e.status == 429
                    failed.append(True)
            await v1.list_namespaced_config_map(kube.namespace)  # other verbs: never
            runs.append(failed)
    assert runs[0] == runs[1] == expected
    assert 0 < sum(expected) < 200


async def test_a_rate_is_a_probability(kube, emulator):
    async with aiohttp.ClientSession(emulator.url) as http:
        async with http.post("/_emulator/faults", json={"rate": 5}) as r:
            assert r.status == 400
            assert "a probability from 0 to 1" in (await r.json())["error"]
