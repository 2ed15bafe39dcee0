"""Objects by kind, a global resourceVersion, and a bounded history per kind for watches.

Everything here runs on the emulator's event loop; nothing is thread-safe by itself.
https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions

As kube-apiserver's watch cache (one cacher per resource,
https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go),
the history is kept per kind, so a flood of Events does not expire a watch of pods,
and each open watch has its own queue, filled only with the changes of its kind and
namespace: a change costs its watchers, not a scan of every watch or of the history.
Objects are copied in and out as JSON (what the API serves), faster than deepcopy; each
stored object keeps its JSON text, written once, for reads, lists and watches.

Lists read an index, not every object of the kind: the keys of each namespace, and of
each value of the kind's selectable fields (an Event's ``involvedObject.name``, a pod's
``spec.nodeName``), as the watch cache's indexers do; a class of 500 makes thousands of
Events, and a first start lists its claim's by field selector.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import ApiError
from .resources import Kind, field_value

Key = tuple[str, str]  # (namespace or "", name)


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
    # obj as JSON, written once: every watch of the kind sends this text
    text: str = ""


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
        self.objects: dict[str, dict[Key, dict]] = {}
        # each stored object's JSON, made once at its write: a read is one json.loads,
        # a list or watch sends the text (a pod is read and rewritten ~30 times by the
        # kubelet; copies were half the emulator's CPU under a class's load)
        self._texts: dict[str, dict[Key, str]] = {}
        # per kind: namespace -> its keys; (selectable field, value) -> the keys with it
        self._in_namespace: dict[str, dict[str, set[Key]]] = {}
        self._by_field: dict[str, dict[tuple[str, str], set[Key]]] = {}
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
        text = self._texts.get(kind.key, {}).get((namespace, name))
        return json.loads(text) if text is not None else None

    def contains(self, kind: Kind, namespace: str, name: str) -> bool:
        return (namespace, name) in self.objects.get(kind.key, {})

    def items(
        self,
        kind: Kind,
        namespace: str | None = None,
        where: Callable[[dict], bool] | None = None,
        equal: Sequence[tuple[str, str]] = (),
    ) -> list[dict]:
        """Copies of the kind's objects (in a namespace, matching ``where``), by name."""
        return [json.loads(text) for text in self.texts(kind, namespace, where, equal)]

    def texts(
        self,
        kind: Kind,
        namespace: str | None = None,
        where: Callable[[dict], bool] | None = None,
        equal: Sequence[tuple[str, str]] = (),
    ) -> list[str]:
        """The JSON of the kind's objects (in a namespace, matching ``where``), by name.

        ``equal``: (field, value) pairs every object ``where`` accepts has (a field
        selector's ``=`` terms): the smallest index of them gives the candidates, which
        ``where`` then judges, so the answer is the scan's.
        """
        objs = self.objects.get(kind.key, {})
        in_namespace = self._in_namespace.get(kind.key, {})
        candidates: Iterable[Key] | None = None
        if namespace is not None:
            candidates = in_namespace.get(namespace, set())
        for path, value in equal:
            if path == "metadata.namespace":
                found = in_namespace.get(value, set())
            elif path == "metadata.name" and (namespace is not None or not kind.namespaced):
                found = {(namespace or "", value)} & objs.keys()
            elif path in kind.field_labels:
                found = self._by_field.get(kind.key, {}).get((path, value), set())
            else:
                continue
            if candidates is None or len(found) < len(candidates):  # type: ignore[arg-type]
                candidates = found
        keys = objs.keys() if candidates is None else candidates
        texts = self._texts.get(kind.key, {})
        return [
            texts[key]
            for key in sorted(keys)
            if (namespace is None or key[0] == namespace) and (where is None or where(objs[key]))
        ]

    def namespaced_kinds_in(self, namespace: str) -> list[tuple[Kind, str]]:
        return [
            (self.kinds[key], name)
            for key, by_namespace in self._in_namespace.items()
            for _, name in sorted(by_namespace.get(namespace, ()))
        ]

    # -- writing ------------------------------------------------------------------

    def put(self, kind: Kind, obj: dict) -> dict:
        """Store a copy of `obj` with a new resourceVersion; returns `obj`, its
        resourceVersion set."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        had_version, version = "resourceVersion" in meta, meta.get("resourceVersion")
        meta["resourceVersion"] = str(self.rv + 1)
        try:
            text = json.dumps(obj)
        except (TypeError, ValueError):
            # a value the API could not serve stores nothing, and the version stays
            if had_version:
                meta["resourceVersion"] = version
            else:
                del meta["resourceVersion"]
            raise
        self.rv += 1
        stored = json.loads(text)
        objs = self.objects.setdefault(kind.key, {})
        self.kinds[kind.key] = kind
        old = objs.get(key)
        if old is not None:
            self._unindex(kind, key, old)
        objs[key] = stored
        self._texts.setdefault(kind.key, {})[key] = text
        self._index(kind, key, stored)
        self._record(Change(self.rv, kind, "MODIFIED" if old else "ADDED", stored, old, text))
        # the caller's own object, its resourceVersion set: the store keeps a copy of its
        # own, so a third decode per write (the kubelet makes ~30 a pod) is not needed
        return obj

    def remove(self, kind: Kind, namespace: str, name: str) -> dict | None:
        old = self.objects.get(kind.key, {}).pop((namespace, name), None)
        if old is None:
            return None
        self._unindex(kind, (namespace, name), old)
        self._texts[kind.key].pop((namespace, name))
        self.rv += 1
        gone = json_copy(old)
        # the DELETED event carries the object at the deletion's resourceVersion
        gone["metadata"]["resourceVersion"] = str(self.rv)
        text = json.dumps(gone)
        self._record(Change(self.rv, kind, "DELETED", gone, old, text))
        return json.loads(text)

    def _index(self, kind: Kind, key: Key, obj: dict) -> None:
        self._in_namespace.setdefault(kind.key, {}).setdefault(key[0], set()).add(key)
        by_field = self._by_field.setdefault(kind.key, {})
        for path in kind.field_labels:
            by_field.setdefault((path, field_value(obj, path)), set()).add(key)

    def _unindex(self, kind: Kind, key: Key, obj: dict) -> None:
        """Drop ``key`` from the indexes ``obj`` (its stored version) put it in."""
        in_namespace = self._in_namespace[kind.key]
        in_namespace[key[0]].discard(key)
        if not in_namespace[key[0]]:
            del in_namespace[key[0]]
        by_field = self._by_field[kind.key]
        for path in kind.field_labels:
            entry = (path, field_value(obj, path))
            by_field[entry].discard(key)
            if not by_field[entry]:
                del by_field[entry]  # an index of a thousand deleted pods' names is a leak

    def index_sizes(self, kind: Kind) -> tuple[int, int]:
        """How many namespaces and (field, value) pairs the kind's indexes hold."""
        return len(self._in_namespace.get(kind.key, {})), len(self._by_field.get(kind.key, {}))

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
