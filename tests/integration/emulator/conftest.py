"""Helpers shared by the emulator's own tests."""

from __future__ import annotations

import asyncio
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
