"""The one I/O policy (kube/policy.py), against a real HTTP server: the emulator's faults."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from functools import partial

import aiohttp
import pytest

from workspace_spawner.kube import KubeError
from workspace_spawner.kube.policy import Deadline, is_transient, retrying
from workspace_spawner.kube.volumes import read_pvc

PVC = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "claim-alice", "namespace": "jupyterhub"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


def reads(emulator) -> int:
    return sum(
        1
        for r in emulator.requests
        if r.verb == "get" and r.resource == "persistentvolumeclaims" and r.name == "claim-alice"
    )


@pytest.mark.parametrize(
    "status, count, attempts, raised",
    [
        # transient: retried until it answers
        (500, 2, 3, None),
        (503, 1, 2, None),
        (504, 1, 2, None),
        (429, 1, 2, None),
        # an answer: raised at once, never retried
        (403, 1, 1, 403),
        (422, 1, 1, 422),
        # transient for longer than the retry timeout: the API's own error
        (500, 1000, None, 500),
    ],
)
async def test_retrying_statuses(kube, emulator, status, count, attempts, raised):
    from kubernetes_asyncio.client import CoreV1Api

    emulator.create(PVC)
    emulator.clear_requests()
    emulator.inject_fault(verb="get", resource="persistentvolumeclaims", status=status, count=count)
    async with kube.api_client() as client:
        call = partial(
            read_pvc, api=CoreV1Api(client), namespace=kube.namespace, name="claim-alice"
        )
        if raised is None:
            pvc = await retrying(call, what="read PVC claim-alice", timeout=10)
            assert pvc["metadata"]["name"] == "claim-alice"
        else:
            with pytest.raises(KubeError) as info:
                await retrying(call, what="read PVC claim-alice", timeout=1)
            assert info.value.status == raised
    if attempts is not None:
        assert reads(emulator) == attempts
    else:
        assert reads(emulator) > 2


async def test_attempts_cap_the_retries(kube, emulator):
    """A request the start can do without (an expansion) gives up after ``attempts``."""
    from kubernetes_asyncio.client import CoreV1Api

    emulator.create(PVC)
    emulator.clear_requests()
    emulator.inject_fault(verb="get", resource="persistentvolumeclaims", status=500, count=10)
    async with kube.api_client() as client:
        call = partial(
            read_pvc, api=CoreV1Api(client), namespace=kube.namespace, name="claim-alice"
        )
        with pytest.raises(KubeError):
            await retrying(call, what="read PVC claim-alice", timeout=30, attempts=3)
    assert reads(emulator) == 3


async def test_retry_after_is_waited(kube, emulator):
    """A 429 says how long to wait (Retry-After: 1 from the emulator): never sooner."""
    from kubernetes_asyncio.client import CoreV1Api

    emulator.create(PVC)
    emulator.inject_fault(verb="get", resource="persistentvolumeclaims", status=429, count=1)
    async with kube.api_client() as client:
        started = time.monotonic()
        await retrying(
            partial(read_pvc, api=CoreV1Api(client), namespace=kube.namespace, name="claim-alice"),
            what="read PVC claim-alice",
            timeout=10,
        )
    assert time.monotonic() - started >= 1.0


async def test_missing_is_an_answer(kube, emulator):
    """404 is tolerated by the kube function (None), not retried."""
    from kubernetes_asyncio.client import CoreV1Api

    emulator.clear_requests()
    async with kube.api_client() as client:
        call = partial(
            read_pvc, api=CoreV1Api(client), namespace=kube.namespace, name="claim-alice"
        )
        assert await retrying(call, what="read PVC claim-alice") is None
    assert reads(emulator) == 1


async def test_a_hanging_request_is_retried(kube, emulator):
    """An attempt that gets no answer within attempt_timeout counts as transient."""
    from kubernetes_asyncio.client import CoreV1Api

    emulator.create(PVC)
    emulator.inject_fault(verb="get", resource="persistentvolumeclaims", hang=True, count=1)
    async with kube.api_client() as client:
        call = partial(
            read_pvc, api=CoreV1Api(client), namespace=kube.namespace, name="claim-alice"
        )
        pvc = await retrying(call, what="read PVC claim-alice", timeout=10, attempt_timeout=0.5)
    assert pvc["metadata"]["name"] == "claim-alice"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 has only asyncio.wait_for")
async def test_a_cancel_arriving_with_the_answer_is_not_swallowed():
    """The start cancelled (the user pressed Stop) just as an attempt answers: the
    cancellation wins. ``asyncio.wait_for`` before Python 3.12 returned the answer and
    dropped the cancellation (https://github.com/python/cpython/issues/86296), so the
    cancelled start went on to its next request."""
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    attempt = asyncio.ensure_future(
        retrying(lambda: answer, what="read PVC claim-alice", attempt_timeout=5)
    )
    await asyncio.sleep(0)  # the attempt now waits for its answer
    answer.set_result("claim-alice")
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt


async def test_no_server_is_transient_until_the_timeout():
    """Connection refused: retried with backoff, then the connection error itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    attempts = []

    async def call():
        attempts.append(time.monotonic())
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/api/v1") as response:
                return response.status

    with pytest.raises(aiohttp.ClientConnectionError):
        await retrying(call, what="reach the API", timeout=1.5)
    assert len(attempts) >= 3
    assert attempts[-1] - attempts[0] < 1.5


@pytest.mark.parametrize(
    "error, transient",
    [
        (KubeError("x", status=429), True),
        (KubeError("x", status=503), True),
        (KubeError("x", status=409), False),
        (KubeError("x"), False),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (ValueError("x"), False),
    ],
)
def test_is_transient(error, transient):
    assert is_transient(error) is transient


def test_deadline():
    assert Deadline(None).remaining == float("inf")
    assert not Deadline(None).expired
    deadline = Deadline(0)
    assert deadline.expired and deadline.remaining == 0
    assert 9 < Deadline(10).remaining <= 10


async def test_single_flight_sends_one_request_for_concurrent_callers(kube, emulator):
    """Ten spawners wanting the same ConfigMap at once: one read, one create, ten answers."""
    from kubernetes_asyncio.client import CoreV1Api

    from workspace_spawner.kube.configmaps import ensure_configmap
    from workspace_spawner.kube.policy import SingleFlight

    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "script", "annotations": {"hash": "1"}},
        "data": {"a": "b"},
    }
    flights = SingleFlight()
    emulator.clear_requests()
    async with kube.api_client() as client:
        call = partial(
            ensure_configmap,
            api=CoreV1Api(client),
            namespace=kube.namespace,
            body=body,
            hash_annotation="hash",
        )
        results = await asyncio.gather(*(flights.run("script", call) for _ in range(10)))
    assert len(results) == 10
    assert [(r.verb, r.resource) for r in emulator.requests] == [
        ("get", "configmaps"),
        ("create", "configmaps"),
    ]


async def test_all_of_runs_each_step_to_its_end_and_raises_the_first_failure(kube, emulator):
    """Steps at once: a refused one does not cut the others short, and its error is raised."""
    from kubernetes_asyncio.client import CoreV1Api

    from workspace_spawner.kube.policy import all_of

    emulator.create(PVC)
    emulator.clear_requests()
    emulator.inject_fault(verb="list", resource="pods", status=403, count=1)
    async with kube.api_client() as client:
        api = CoreV1Api(client)

        async def slow_read():
            await asyncio.sleep(0.2)  # still under way when the other step fails
            return await read_pvc(api=api, namespace=kube.namespace, name="claim-alice")

        async def refused():
            await api.list_namespaced_pod(namespace=kube.namespace)

        with pytest.raises(Exception) as info:
            await all_of(refused(), slow_read())
        assert getattr(info.value, "status", None) == 403
        # the read ran to its end after the failure
        assert reads(emulator) == 1
        # and without a failure, the results in the order given
        assert [pvc["metadata"]["name"] for pvc in await all_of(slow_read())] == ["claim-alice"]
