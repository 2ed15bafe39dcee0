"""The namespace controller: a Terminating namespace is emptied, then removed.

https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
"""

from __future__ import annotations

import asyncio

from .apiserver import ApiServer
from .store import Change


class NamespaceController:
    def __init__(self, api: ApiServer, *, finalize_seconds: float) -> None:
        self.api = api
        self.finalize_seconds = finalize_seconds
        self.held: set[str] = set()
        self._tasks: dict[str, asyncio.Task] = {}
        self.kind = api.registry.lookup("namespaces")
        api.store.listeners.append(self.on_change)

    def on_change(self, change: Change) -> None:
        if change.kind is not self.kind and change.kind.key != "namespaces":
            return
        name = change.obj["metadata"]["name"]
        terminating = change.type != "DELETED" and "deletionTimestamp" in change.obj["metadata"]
        if terminating and name not in self._tasks:
            self._tasks[name] = asyncio.get_running_loop().create_task(self._finalize(name))

    def hold(self, name: str) -> None:
        self.held.add(name)

    def release(self, name: str) -> None:
        self.held.discard(name)
        ns = self.api.store.get(self.kind, "", name)
        if ns is not None and "deletionTimestamp" in ns["metadata"] and name not in self._tasks:
            self._tasks[name] = asyncio.get_running_loop().create_task(self._finalize(name))

    async def _finalize(self, name: str) -> None:
        try:
            await asyncio.sleep(self.finalize_seconds)
            if name in self.held:
                return
            for kind, obj_name in self.api.store.namespaced_kinds_in(name):
                self.api.store.remove(kind, name, obj_name)
            self.api.store.remove(self.kind, "", name)
        finally:
            self._tasks.pop(name, None)

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self.held.clear()
