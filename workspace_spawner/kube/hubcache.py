"""Facts a hub process learns once and keeps: the one idiom for class-level caches.

A spawner object lives for one server, but some answers hold for the whole hub
process: whether the API server is OpenShift, which ConfigMap content is already
written, which pull secrets an account has. Each feature keeps such answers in a
:class:`HubCache`, never in a bare class attribute, so that:

- concurrent spawns ask once: a class of 500 students pressing Start in the same
  minute makes one request, and the others wait for its answer (single flight);
- a failure is not remembered: the next spawn asks again (a right granted later
  applies without a hub restart);
- :meth:`HubCache.clear` (through each mixin's ``reset_caches()`` and
  ``WorkspaceSpawner.reset_caches()``) forgets everything, as a restarted hub would.

Lives in :mod:`workspace_spawner.kube` beside the one I/O policy it builds on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from .policy import SingleFlight

__all__ = ["HubCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class HubCache(Generic[K, V]):
    """Answers kept for the life of the hub process, each asked by one request at a time.

    The concurrent askers of a key share that request (:class:`~.policy.SingleFlight`):
    its answer, which is then kept, or its error, which is not.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._values: dict[K, V] = {}
        self._flights = SingleFlight()

    def __repr__(self) -> str:
        return f"<HubCache {self.what}: {len(self._values)} known>"

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def put(self, key: K, value: V) -> None:
        """Remember an answer learned on the way (the requester of a project just made)."""
        self._values[key] = value

    def clear(self) -> None:
        """Forget every answer, as a restarted hub would."""
        self._values.clear()
        self._flights = SingleFlight()

    async def get_or_compute(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        """The known answer; else the one request under way for ``key``; else ``compute()``.

        A spawn that is cancelled while it waits does not cancel the request the other
        spawns wait for.
        """
        if key in self._values:
            return self._values[key]
        return await self._flights.run(key, lambda: self._compute(key, compute))

    async def _compute(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        value = await compute()
        self._values[key] = value
        return value
