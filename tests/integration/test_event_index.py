"""A spawner's pod events read from the event reflector's groups answer as KubeSpawner's
``events`` does (a sort and a scan of every event of the namespace): same events, same
order, ties included, the same cut at the start's marker, through watch events (new,
changed, deleted) and a relist.

KubeSpawner's answer is computed here on the same reflector state, with its own property
(``KubeSpawner.events``), so the test follows KubeSpawner if it changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubespawner import KubeSpawner

from workspace_spawner.kube.reflectors import EventsByObject


def _event(namespace: str, name: str, *, obj: str, stamp: str, kind: str = "Pod") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": kind, "name": obj, "namespace": namespace, "apiVersion": "v1"},
        "reason": "Testing",
        "message": f"{name} about {obj}",
        "type": "Normal",
        "source": {"component": "test"},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the reflector never saw {what}")


def _assert_as_kubespawner(spawner: Any) -> list[str]:
    """Our answer is KubeSpawner's on the same state; the names of the events in it."""
    resources = spawner.event_reflector.resources
    assert isinstance(resources, EventsByObject)
    ours = spawner.events
    assert ours == KubeSpawner.events.fget(spawner)
    # each group is the dict's events about that name, in the dict's order
    for name in {e["involvedObject"]["name"] for e in resources.values()}:
        assert resources.about(name) == [
            e for e in resources.values() if e["involvedObject"]["name"] == name
        ]
    return [e["metadata"]["name"] for e in ours]


async def test_a_pods_events_are_kubespawners_through_watch_and_relist(make_spawner, kube, cluster):
    spawner = make_spawner("alice")
    pod, namespace = spawner.pod_name, kube.namespace
    one, two, three = "2026-12-02T10:00:01Z", "2026-12-02T10:00:02Z", "2026-12-02T10:00:03Z"
    # this pod's (an earlier pod of the same name first), another user's pod's, and one
    # about a claim (which KubeSpawner's reflector does not watch: it selects Pods' events):
    # several in the same second, created out of time order
    for name, obj, stamp in [
        ("ev-a", pod, two),
        ("ev-b", "jupyter-bob", one),
        ("ev-c", pod, one),
        ("ev-d", pod, two),
        ("ev-e", "claim-alice", one),
        ("ev-f", pod, one),
        ("ev-g", "jupyter-bob", two),
        ("ev-h", pod, three),
    ]:
        kind = "PersistentVolumeClaim" if obj.startswith("claim-") else "Pod"
        cluster.create(
            _event(namespace, name, obj=obj, stamp=stamp, kind=kind), namespace=namespace
        )
    await spawner._start_watching_events()
    reflector = spawner.event_reflector
    await _until(lambda: len(reflector.resources) >= 7, "the events")

    everything = _assert_as_kubespawner(spawner)
    assert sorted(everything) == ["ev-a", "ev-c", "ev-d", "ev-f", "ev-h"]
    assert everything[-1] == "ev-h"

    # the start's marker (KubeSpawner's _start: the newest event then): only later ones count
    marker = next(e for e in spawner.events if e["metadata"]["name"] == everything[1])
    spawner._last_event = marker["metadata"]["uid"]
    assert _assert_as_kubespawner(spawner) == everything[2:]

    # watch events: a new event, a changed one (later now), a deleted one
    cluster.create(_event(namespace, "ev-i", obj=pod, stamp=two), namespace=namespace)
    cluster.patch("events", "ev-c", {"lastTimestamp": three, "count": 2}, namespace)
    cluster.delete("events", "ev-d", namespace)
    key = f"{namespace}/{{}}".format
    await _until(
        lambda: (
            key("ev-i") in reflector.resources
            and key("ev-d") not in reflector.resources
            and reflector.resources[key("ev-c")]["lastTimestamp"] == three
        ),
        "the new, changed and deleted events",
    )
    spawner._last_event = None
    watched = _assert_as_kubespawner(spawner)
    assert sorted(watched) == ["ev-a", "ev-c", "ev-f", "ev-h", "ev-i"]
    spawner._last_event = marker["metadata"]["uid"]
    _assert_as_kubespawner(spawner)

    # a relist (after a watch ended, failed or expired) replaces the dict: grouped again
    await reflector._list_and_update()
    spawner._last_event = None
    assert sorted(_assert_as_kubespawner(spawner)) == sorted(watched)
