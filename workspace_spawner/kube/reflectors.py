"""Shared reflectors: of claims, which KubeSpawner does not watch itself, and KubeSpawner's
own pod and event reflectors with their first list retried.

KubeSpawner keeps one pod reflector and one event reflector per hub (per namespace,
or one for all namespaces with ``enable_user_namespaces``), shared by every
spawner: a list, then a watch, instead of requests per spawn
(kubespawner/reflector.py). The claim reflector is the same thing for claims, built
on the same :class:`kubespawner.reflector.ResourceReflector` and kept in the same
registry (``KubeSpawner.reflectors``), so a class of users starting at once costs one
list and one watch of claims, not reads per user; the spawner reads its claims, and
waits for them to be bound, from it.

The first list of each (which a class starting at once all waits for) retries a 429 or a
500 under the one I/O policy (:mod:`.policy`), as ResourceReflector retries its watch.

The event reflector also keeps its events grouped by the object they are about
(:class:`EventsByObject`), so a spawner reads its pod's events without sorting every
event of the namespace (``KubeSpawner.events`` does, twice a start and each second of
its progress: O(events) for each of a class's spawners).

Rights: list and watch on persistentvolumeclaims (Zero to JupyterHub's hub Role has
them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from kubespawner.reflector import ResourceReflector
from kubespawner.spawner import EventReflector, PodReflector
from traitlets import Float, default, validate

from . import KubeError
from .policy import retrying, within

__all__ = [
    "ClaimReflector",
    "ClaimsWatched",
    "EventsByObject",
    "FirstListRetried",
    "ObservedResources",
    "RetryingEventReflector",
    "RetryingPodReflector",
    "RetryingReflectors",
    "shared_claim_reflector",
]


class FirstListRetried(ResourceReflector):
    """A reflector whose first list retries a transient failure under the one policy.

    Every spawner starting now waits for that list (``first_load_future``): one 429 or
    500 of it would fail the whole class's starts, and KubeSpawner would keep the failed
    reflector. Later lists, after a watch ended or failed, are ResourceReflector's own,
    retried with its backoff, as is its watch.
    """

    # how long the first list may be retried (the spawner's k8s_api_request_retry_timeout)
    first_list_timeout = Float(30.0)

    async def _list_and_update(self, resource_version=None):
        if self.first_load_future.done():
            return await super()._list_and_update(resource_version)
        return await retrying(
            partial(super()._list_and_update, resource_version),
            what=f"list {self.kind}",
            timeout=self.first_list_timeout,
            attempt_timeout=self.request_timeout,
            log=self.log,
        )


class RetryingPodReflector(FirstListRetried, PodReflector):
    """KubeSpawner's pod reflector, its first list retried."""


def _involved_name(event: dict[str, Any]) -> str | None:
    # what KubeSpawner.events filters on: the involved object's name only, whatever its
    # kind or namespace (kubespawner/spawner.py, KubeSpawner.events)
    return (event.get("involvedObject") or {}).get("name")


class ObservedResources(dict):
    """ResourceReflector's ``resources`` dict, telling its subclass of each change of an
    item (``_changed(key, old, new)``; ``None`` for an item absent before or after).

    ResourceReflector assigns a new dict on each list (the first, and each relist after
    a watch ended, failed or expired with 410 Gone) and sets or pops items as watch
    events arrive (kubespawner/reflector.py, ``_list_and_update`` and
    ``_watch_and_update``); a reflector turns each assigned dict into one of these (a
    traitlets ``@validate("resources")``), and the item operations below report the rest.
    """

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        old = self.get(key)
        super().__setitem__(key, value)
        self._changed(key, old, value)

    def __delitem__(self, key: str) -> None:
        old = self[key]
        super().__delitem__(key)
        self._changed(key, old, None)

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            return super().pop(key, *default)
        old = super().pop(key)
        self._changed(key, old, None)
        return old

    def _changed(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        raise NotImplementedError

    # ResourceReflector uses only the operations above; the others would bypass them
    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} supports item assignment, del and pop only")

    update = setdefault = popitem = clear = __ior__ = _unsupported


class EventsByObject(ObservedResources):
    """The event reflector's ``resources`` ("namespace/name" -> the Event, as the API
    sent it), with the same events grouped by their involved object's name.

    Each group keeps its events in the dict's own order (a changed event keeps its place,
    a new one goes last), so a stable sort of a group gives the same order as
    KubeSpawner's sort of every event, ties included (many events share a second).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_name: dict[str | None, dict[str, dict[str, Any]]] = {}
        for key, event in self.items():
            self._by_name.setdefault(_involved_name(event), {})[key] = event

    def about(self, name: str) -> list[dict[str, Any]]:
        """The events whose involved object is called ``name``, in the dict's order."""
        return list(self._by_name.get(name, {}).values())

    def _changed(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None:
            self._forget(key, old)
            return
        name = _involved_name(new)
        if old is None or _involved_name(old) == name:
            self._by_name.setdefault(name, {})[key] = new
            return
        # moved to another object (not seen in practice): regroup both, in the dict's order
        self._forget(key, old)
        self._by_name[name] = {k: e for k, e in self.items() if _involved_name(e) == name}

    def _forget(self, key: str, event: dict[str, Any]) -> None:
        name = _involved_name(event)
        group = self._by_name.get(name, {})
        group.pop(key, None)
        if not group:
            self._by_name.pop(name, None)


class RetryingEventReflector(FirstListRetried, EventReflector):
    """KubeSpawner's event reflector, its first list retried, its events grouped by the
    object they are about (:class:`EventsByObject`)."""

    @default("resources")
    def _no_events(self) -> EventsByObject:
        return EventsByObject()

    @validate("resources")
    def _grouped(self, proposal: Any) -> EventsByObject:
        # each list assigns a plain dict (ResourceReflector._list_and_update)
        value = proposal["value"]
        return value if isinstance(value, EventsByObject) else EventsByObject(value)

    def events_about(self, name: str) -> list[dict[str, Any]]:
        """What ``[e for e in self.events if e["involvedObject"]["name"] == name]`` is
        (EventReflector.events sorts every event), sorting only the events about ``name``."""
        return sorted(
            self.resources.about(name),
            # EventReflector.events' key (kubespawner/spawner.py)
            key=lambda event: event["lastTimestamp"] or event["eventTime"],
        )


_RETRYING = {PodReflector: RetryingPodReflector, EventReflector: RetryingEventReflector}


class RetryingReflectors:
    """For a KubeSpawner subclass: its shared pod and event reflectors retry their first
    list (:class:`FirstListRetried`) for ``k8s_api_request_retry_timeout`` seconds."""

    async def _start_reflector(self, kind, reflector_class, replace=False, **kwargs):
        retrying_class = _RETRYING.get(reflector_class)
        if retrying_class is not None:
            reflector_class = retrying_class
            kwargs["first_list_timeout"] = self.k8s_api_request_retry_timeout
        return await super()._start_reflector(kind, reflector_class, replace=replace, **kwargs)

    @property
    def events(self) -> list[dict[str, Any]]:
        """KubeSpawner's ``events`` (this pod's events since ``_last_event``, the newest
        event seen when the start began), read from the reflector's groups instead of a
        sort of every event of the namespace."""
        reflector = self.event_reflector
        if not isinstance(reflector, RetryingEventReflector):
            return super().events
        # KubeSpawner.events' loop, on this pod's events only: an event at or before the
        # marker belongs to an earlier pod of this name (kubespawner/spawner.py)
        events: list[dict[str, Any]] = []
        for event in reflector.events_about(self.pod_name):
            if self._last_event and event["metadata"]["uid"] == self._last_event:
                events = []
            else:
                events.append(event)
        return events


class ClaimsWatched(ObservedResources):
    """The claim reflector's ``resources`` ("namespace/name" -> the claim), calling
    ``changed(key)`` after each change of one, so a start waiting for its claim's binding
    is woken by the change, not by a poll of its own."""

    def __init__(self, claims: dict[str, Any], *, changed: Callable[[str], None]) -> None:
        super().__init__(claims)
        self._wake = changed

    def _changed(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self._wake(key)


class ClaimReflector(FirstListRetried):
    """The claims of a namespace (or of all namespaces), kept current by a watch."""

    kind = "persistentvolumeclaims"

    _listed_version: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # before super().__init__, which starts nothing but may assign resources
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        super().__init__(*args, **kwargs)

    @property
    def claims(self) -> dict[str, dict[str, Any]]:
        """``"namespace/name"`` -> the claim, as the API sent it."""
        return self.resources

    @default("resources")
    def _no_claims(self) -> ClaimsWatched:
        return ClaimsWatched({}, changed=self._wake)

    @validate("resources")
    def _watched(self, proposal: Any) -> ClaimsWatched:
        # each list assigns a plain dict: every waiter looks again (its claim may have
        # changed while the watch was down)
        for key in list(self._waiters):
            self._wake(key)
        return ClaimsWatched(proposal["value"], changed=self._wake)

    async def changed(self, key: str, *, timeout: float) -> None:
        """Until the claim ``"namespace/name"`` changes (or goes, or the claims are listed
        again), at most ``timeout`` seconds; the caller then looks at ``claims``."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(waiter)
        try:
            await within(timeout, waiter)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(key, set())
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(key, None)

    def _wake(self, key: str) -> None:
        for waiter in self._waiters.get(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def _list_and_update(self, resource_version=None):
        # ResourceReflector lists once in start() and again when its watch task begins;
        # the watch can go on from the first list's version, which saves one list of
        # every claim per hub. Later lists (after a watch ended or failed) are real.
        version, self._listed_version = self._listed_version, None
        if version is not None and resource_version == "0":
            return version
        version = await super()._list_and_update(resource_version)
        if resource_version is None:
            self._listed_version = version
        return version


async def shared_claim_reflector(
    *,
    registry: dict[Any, Any],
    namespace: str | None,
    parent: Any,
    timeout: float,
) -> ClaimReflector:
    """The hub's claim reflector for ``namespace`` (None: all namespaces), started once.

    ``registry`` is ``KubeSpawner.reflectors``: spawners starting at once find the one
    being started there and wait for its first list. A reflector that cannot start
    (no right to list or watch claims) is forgotten, so the next start tries again,
    and the start fails saying what right is missing. A transient failure of the first
    list (429, 500, ...) is retried for ``timeout`` seconds first.
    """
    key = ("persistentvolumeclaims", namespace)
    reflector = registry.get(key)
    if reflector is None:
        method = (
            "list_persistent_volume_claim_for_all_namespaces"
            if namespace is None
            else "list_namespaced_persistent_volume_claim"
        )
        reflector = ClaimReflector(
            parent=parent,
            namespace=namespace or "",
            omit_namespace=namespace is None,
            list_method_name=method,
            on_failure=lambda: registry.pop(key, None),
            first_list_timeout=timeout,
        )
        registry[key] = reflector
        try:
            await reflector.start()
        except Exception as e:
            registry.pop(key, None)
            raise _start_error(e, namespace=namespace) from e
        return reflector
    try:
        await reflector.first_load_future
    except Exception as e:
        raise _start_error(e, namespace=namespace) from e
    return reflector


def _start_error(error: Exception, *, namespace: str | None) -> KubeError:
    where = f"in {namespace}" if namespace else "in all namespaces"
    status = getattr(error, "status", None)
    return KubeError(
        f"Could not watch the volume claims {where}: {error}. The hub needs list and watch on "
        "persistentvolumeclaims (Zero to JupyterHub's hub Role grants them)",
        status=status,
    )
