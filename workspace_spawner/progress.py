"""Progress messages of the workspace steps, merged with KubeSpawner's pod events.

JupyterHub shows whatever ``Spawner.progress()`` yields on the spawn page
(https://jupyterhub.readthedocs.io/en/stable/reference/spawners.html#spawner-progress-api).
KubeSpawner only yields pod events, so the steps that run before the pod exists
(project, volumes, ConfigMaps) would leave the page silent. The steps append to a
:class:`ProgressLog`; :func:`merge_progress` interleaves it with the parent's generator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from .kube.policy import within

ProgressEvent = dict[str, Any]


class ProgressLog:
    """An append-only list of spawn-page messages for one start, readable many times.

    A list rather than a queue: the hub may open the progress stream after the
    first messages were written, or twice (a reloaded spawn page), and every
    reader must see every message from the start.
    """

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self._changed = asyncio.Event()

    def add(self, message: str, *, progress: int | None = None) -> ProgressEvent:
        event: ProgressEvent = {"message": message}
        if progress is not None:
            event["progress"] = progress
        self.events.append(event)
        # wake every reader; a new Event for the next wait
        self._changed.set()
        self._changed = asyncio.Event()
        return event

    async def wait_for_change(self, *, timeout: float) -> None:
        try:
            await within(timeout, self._changed.wait())
        except TimeoutError:
            pass


async def merge_progress(
    *,
    log: ProgressLog,
    parent: AsyncIterator[ProgressEvent],
    get_start_future: Callable[[], asyncio.Future | None],
    poll_interval: float = 1.0,
) -> AsyncIterator[ProgressEvent]:
    """Yield the log's messages and the parent's events as they come, until the start is over.

    ``get_start_future`` returns the spawner's current ``_start_future``: the hub may
    call ``progress()`` before ``start()`` has stored it (KubeSpawner handles the same
    race in its own ``progress()``).
    """
    seen = 0
    start_future: asyncio.Future | None = None
    parent_next: asyncio.Future | None = asyncio.ensure_future(anext(parent))
    try:
        while True:
            while seen < len(log.events):
                yield log.events[seen]
                seen += 1
            if start_future is None:
                start_future = get_start_future()
            start_done = start_future is not None and start_future.done()
            if parent_next is None:
                if start_done:
                    break
                await log.wait_for_change(timeout=poll_interval)
                continue
            waiter = asyncio.ensure_future(log.wait_for_change(timeout=poll_interval))
            await asyncio.wait({parent_next, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if parent_next.done():
                try:
                    event = parent_next.result()
                except StopAsyncIteration:
                    parent_next = None
                else:
                    # the log's messages first, so the page keeps the order things happened in
                    while seen < len(log.events):
                        yield log.events[seen]
                        seen += 1
                    yield event
                    parent_next = asyncio.ensure_future(anext(parent))
    finally:
        await _close(parent, pending=parent_next)


async def _close(parent: AsyncIterator[ProgressEvent], *, pending: asyncio.Future | None) -> None:
    """Cancel the parent's pending ``anext()`` and close the parent generator (its sleep loop)."""
    if pending is not None and not pending.done():
        pending.cancel()
        try:
            await pending
        except (asyncio.CancelledError, StopAsyncIteration):
            pass
    aclose = getattr(parent, "aclose", None)
    if aclose is not None:
        await aclose()
