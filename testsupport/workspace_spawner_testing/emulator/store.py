"""Objects by kind, a global resourceVersion, and a bounded history per kind for watches.

Everything here runs on the emulator's event loop; nothing is thread-safe by itself.
https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions

As kube-apiserver's watch cache (one cacher per resource,
https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go),
the history is kept per kind, so a flood of Events does not expire a watch of pods,
and each open watch has its own queue, filled only with the changes of its kind and
namespace: a change costs its watchers, not a scan of every watch or of the history.
Objects are copied in and out as JSON (what the API serves), faster than deepcopy.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ApiError
from .resources import Kind


def json_copy(obj: dict) -> dict:
    """A deep copy of a JSON object; a value the API could not serve fails here."""
    return json.loads(json.dumps(obj))


@dataclass(frozen=True)
class Change:
    rv: int
    kind: Kind
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict
    old: dict | None


Listener = Callable[[Change], None]


class Watcher:
    """One open watch's changes, in order; expired once it falls a history behind."""

    def __init__(self, limit: int) -> None:
        self.changes: deque[Change] = deque()
        self.limit = limit
        self.expired = False
        self._ready = asyncio.Event()

    def push(self, change: Change) -> None:
        if len(self.changes) >= self.limit:
            # a watcher this far behind is closed, as the cacher closes an unresponsive one;
            # the client lists again
            self.expired = True
            self.changes.clear()
        elif not self.expired:
            self.changes.append(change)
        self._ready.set()

    async def wait(self, timeout: float) -> None:
        if self.changes or self.expired:
            return
        self._ready.clear()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class Store:
    def __init__(self, *, history: int = 5000) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict]] = {}
        self.history_size = history
        # per kind: the changes kept, and the first resourceVersion a watch can replay from
        self._history: dict[str, deque[Change]] = {}
        self._compacted: dict[str, int] = {}
        self._floor = 0  # compact(): no kind replays from before this
        self.rv = 1000
        self.listeners: list[Listener] = []
        self.kinds: dict[str, Kind] = {}
        self._changed = asyncio.Event()
        # (kind, namespace or None for all) -> the open watches of it
        self._watchers: dict[tuple[str, str | None], set[Watcher]] = {}

    # -- reading ------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict | None:
        obj = self.objects.get(kind.key, {}).get((namespace, name))
        return json_copy(obj) if obj is not None else None

    def items(
        self,
        kind: Kind,
        namespace: str | None = None,
        where: Callable[[dict], bool] | None = None,
    ) -> list[dict]:
        """Copies of the kind's objects (in a namespace, matching ``where``), by name."""
        objs = self.objects.get(kind.key, {})
        return [
            json_copy(o)
            for (ns, _), o in sorted(objs.items())
            if (namespace is None or ns == namespace) and (where is None or where(o))
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
        stored = json_copy(obj)  # before the resourceVersion moves: a bad value stores nothing
        objs = self.objects.setdefault(kind.key, {})
        self.kinds[kind.key] = kind
        old = objs.get(key)
        self.rv += 1
        meta["resourceVersion"] = stored["metadata"]["resourceVersion"] = str(self.rv)
        objs[key] = stored
        self._record(Change(self.rv, kind, "MODIFIED" if old else "ADDED", stored, old))
        return json_copy(stored)

    def remove(self, kind: Kind, namespace: str, name: str) -> dict | None:
        old = self.objects.get(kind.key, {}).pop((namespace, name), None)
        if old is None:
            return None
        self.rv += 1
        gone = json_copy(old)
        # the DELETED event carries the object at the deletion's resourceVersion
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._record(Change(self.rv, kind, "DELETED", gone, old))
        return json_copy(gone)

    def compact(self) -> None:
        """Forget the history, as etcd's compaction does: older versions are 410 Gone."""
        self._history.clear()
        self._compacted.clear()
        self._floor = self.rv

    def _record(self, change: Change) -> None:
        key = change.kind.key
        history = self._history.setdefault(key, deque(maxlen=self.history_size))
        if len(history) == history.maxlen:
            self._compacted[key] = history[0].rv
        history.append(change)
        namespace = change.obj["metadata"].get("namespace", "")
        for scope in ((key, None), (key, namespace)):
            for watcher in self._watchers.get(scope, ()):
                watcher.push(change)
        loop = asyncio.get_running_loop()
        for listener in list(self.listeners):
            loop.call_soon(listener, change)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- watching -----------------------------------------------------------------

    def check_replayable(self, kind: Kind, rv: int) -> None:
        """410 Gone for a resourceVersion older than the kind's history."""
        compacted = max(self._compacted.get(kind.key, 0), self._floor)
        if rv < compacted:
            raise ApiError(
                410, f"too old resource version: {rv} ({compacted + 1})", reason="Expired"
            )

    def changes_since(self, kind: Kind, rv: int) -> list[Change]:
        self.check_replayable(kind, rv)
        return [c for c in self._history.get(kind.key, ()) if c.rv > rv]

    def subscribe(self, kind: Kind, namespace: str | None) -> Watcher:
        """A queue of the kind's changes from now on (in a namespace, or all)."""
        watcher = Watcher(self.history_size)
        self._watchers.setdefault((kind.key, namespace), set()).add(watcher)
        return watcher

    def unsubscribe(self, kind: Kind, namespace: str | None, watcher: Watcher) -> None:
        watchers = self._watchers.get((kind.key, namespace), set())
        watchers.discard(watcher)
        if not watchers:
            self._watchers.pop((kind.key, namespace), None)

    async def wait_for_change(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
