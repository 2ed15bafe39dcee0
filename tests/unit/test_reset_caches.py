"""The hub-process caches: one idiom (HubCache), asked once under concurrency, and
WorkspaceSpawner.reset_caches(), the public way to act as a new hub process."""

from __future__ import annotations

import asyncio

import pytest

from workspace_spawner import WorkspaceSpawner
from workspace_spawner.conda import CondaMixin
from workspace_spawner.kube.hubcache import HubCache
from workspace_spawner.project import ProjectMixin
from workspace_spawner.project.namespace import ProjectNamespace
from workspace_spawner.volumes.lifecycle import StorageLifecycleMixin


def _hub_caches() -> list[HubCache]:
    return [
        value
        for cls in WorkspaceSpawner.__mro__
        for value in vars(cls).values()
        if isinstance(value, HubCache)
    ]


def test_the_features_hub_process_caches_are_hub_caches():
    assert {id(c) for c in _hub_caches()} == {
        id(ProjectNamespace._openshift_by_host),
        id(ProjectNamespace._hub_users),
        id(ProjectNamespace._hub_identity),
        id(ProjectMixin._pull_secrets_by_account),
        id(CondaMixin._conda_configmaps_current),
        id(StorageLifecycleMixin._snapshot_api_problems),
    }


def test_reset_caches_forgets_every_hub_process_cache():
    for number, cache in enumerate(_hub_caches()):
        cache.put(("key", number), True)
        assert len(cache) == 1
    WorkspaceSpawner.reset_caches()
    assert [len(cache) for cache in _hub_caches()] == [0] * len(_hub_caches())


async def test_concurrent_askers_share_one_computation():
    cache: HubCache[str, int] = HubCache("test")
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(cache.get_or_compute("k", compute) for _ in range(50)))
    assert results == [42] * 50
    assert calls == 1
    assert await cache.get_or_compute("k", compute) == 42
    assert calls == 1


async def test_a_failure_is_shared_by_the_waiters_but_not_remembered():
    cache: HubCache[str, int] = HubCache("test")
    answers = iter([RuntimeError("forbidden"), 7])

    async def compute() -> int:
        await asyncio.sleep(0.01)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    results = await asyncio.gather(
        *(cache.get_or_compute("k", compute) for _ in range(3)), return_exceptions=True
    )
    assert [str(r) for r in results] == ["forbidden"] * 3
    assert "k" not in cache
    assert await cache.get_or_compute("k", compute) == 7


async def test_a_cancelled_asker_does_not_cancel_the_others():
    cache: HubCache[str, int] = HubCache("test")
    started = asyncio.Event()

    async def compute() -> int:
        started.set()
        await asyncio.sleep(0.05)
        return 1

    first = asyncio.ensure_future(cache.get_or_compute("k", compute))
    second = asyncio.ensure_future(cache.get_or_compute("k", compute))
    await started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == 1
