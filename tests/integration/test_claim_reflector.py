"""The hub's shared claim reflector wakes a start waiting for its claim (issue 17: no
per-spawn polling loop), on either tier."""

from __future__ import annotations

import asyncio
import time

import pytest


def claim(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


async def until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
async def reflector(make_spawner):
    spawner = make_spawner()
    return await spawner._claim_reflector()


async def test_a_claims_change_wakes_the_start_waiting_for_it_and_no_other(
    reflector, cluster, kube
):
    ns = kube.namespace
    mine = asyncio.ensure_future(reflector.changed(f"{ns}/claim-mine", timeout=60))
    cluster.create(claim("claim-other", ns))
    await until(lambda: f"{ns}/claim-other" in reflector.claims)
    await asyncio.sleep(0.1)
    assert not mine.done(), "another claim's change woke the wait for claim-mine"
    cluster.create(claim("claim-mine", ns))
    await asyncio.wait_for(mine, 20)
    assert f"{ns}/claim-mine" in reflector.claims
    assert reflector._waiters == {}, "the woken waiter is forgotten"


async def test_a_claims_deletion_wakes_its_waiter(reflector, cluster, kube):
    ns = kube.namespace
    cluster.create(claim("claim-gone", ns))
    await until(lambda: f"{ns}/claim-gone" in reflector.claims)
    waiting = asyncio.ensure_future(reflector.changed(f"{ns}/claim-gone", timeout=60))
    await asyncio.sleep(0.1)
    cluster.delete("PersistentVolumeClaim", "claim-gone", ns)
    await asyncio.wait_for(waiting, 30)


async def test_a_relist_wakes_every_waiter(reflector, kube):
    """The claims listed again (after a watch ended or failed): each waiter looks again."""
    waiting = asyncio.ensure_future(reflector.changed(f"{kube.namespace}/claim-x", timeout=60))
    await asyncio.sleep(0)
    await reflector._list_and_update()
    await asyncio.wait_for(waiting, 5)


async def test_the_wait_ends_at_its_timeout_without_an_error(reflector, kube):
    started = time.monotonic()
    await reflector.changed(f"{kube.namespace}/claim-never", timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 5
    assert reflector._waiters == {}
