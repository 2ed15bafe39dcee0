"""Objects by kind, a global resourceVersion, and a bounded history for watches.

Everything here runs on the emulator's event loop; nothing is thread-safe by itself.
https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ApiError
from .resources import Kind


@dataclass(frozen=True)
class Change:
    rv: int
    kind: Kind
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict
    old: dict | None


Listener = Callable[[Change], None]


class Store:
    def __init__(self, *, history: int = 5000) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict]] = {}
        self.history: deque[Change] = deque(maxlen=history)
        # the first resourceVersion a watch can still replay from
        self._compacted = 0
        self.rv = 1000
        self.listeners: list[Listener] = []
        self.kinds: dict[str, Kind] = {}
        self._changed = asyncio.Event()

    # -- reading ------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict | None:
        obj = self.objects.get(kind.key, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def items(self, kind: Kind, namespace: str | None = None) -> list[dict]:
        objs = self.objects.get(kind.key, {})
        return [
            copy.deepcopy(o)
            for (ns, _), o in sorted(objs.items())
            if namespace is None or ns == namespace
        ]

    def namespaced_kinds_in(self, namespace: str) -> list[tuple[Kind, str]]:
        out = []
        for key, objs in self.objects.items():
            for ns, name in objs:
                if ns == namespace:
                    out.append((self.kinds[key], name))
        return out

    # -- writing ------------------------------------------------------------------

    def put(self, kind: Kind, obj: dict) -> dict:
        """Store `obj` with a new resourceVersion; returns the stored copy."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        objs = self.objects.setdefault(kind.key, {})
        self.kinds[kind.key] = kind
        old = objs.get(key)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        stored = copy.deepcopy(obj)
        objs[key] = stored
        self._record(Change(self.rv, kind, "MODIFIED" if old else "ADDED", stored, old))
        return copy.deepcopy(stored)

    def remove(self, kind: Kind, namespace: str, name: str) -> dict | None:
        old = self.objects.get(kind.key, {}).pop((namespace, name), None)
        if old is None:
            return None
        self.rv += 1
        gone = copy.deepcopy(old)
        # the DELETED event carries the object at the deletion's resourceVersion
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._record(Change(self.rv, kind, "DELETED", gone, old))
        return copy.deepcopy(gone)

    def clear(self) -> None:
        self.objects.clear()
        self.history.clear()
        self._compacted = self.rv
        self._wake()

    def _record(self, change: Change) -> None:
        if len(self.history) == self.history.maxlen:
            self._compacted = self.history[0].rv
        self.history.append(change)
        loop = asyncio.get_running_loop()
        for listener in list(self.listeners):
            loop.call_soon(listener, change)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- watching -----------------------------------------------------------------

    def check_replayable(self, rv: int) -> None:
        """410 Gone for a resourceVersion older than the history kept."""
        if rv < self._compacted:
            raise ApiError(
                410, f"too old resource version: {rv} ({self._compacted + 1})", reason="Expired"
            )

    def changes_since(self, rv: int) -> list[Change]:
        self.check_replayable(rv)
        return [c for c in self.history if c.rv > rv]

    async def wait_for_change(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
