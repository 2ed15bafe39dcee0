"""Helpers shared by the emulator's own tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


async def _wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `predicate` until it returns something true; that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


@pytest.fixture
def wait_for() -> Callable[..., Awaitable[Any]]:
    return _wait_for


@pytest.fixture
def kube(kube: Any) -> Any:
    """The emulator's behaviour tests are about the API, not the hub's rights: on a real
    cluster they act as its admin."""
    if kube.admin_kubeconfig is None:
        return kube
    return dataclasses.replace(kube, kubeconfig=kube.admin_kubeconfig)


@pytest.fixture
def emulator(kube: Any) -> Any:
    """The emulator; on a real cluster its object API (create/get/list/patch/delete) over
    REST as the admin, so the same test judges both servers."""
    if kube.emulator is not None:
        return kube.emulator
    from workspace_spawner_testing.controlplane import Client
    from workspace_spawner_testing.controlplane.objects import ClusterObjects

    return ClusterObjects(Client.from_kubeconfig(kube.admin_kubeconfig))
