"""The event reflector's groups (EventsByObject) stay the dict's events about each name,
in the dict's order, through the dict operations ResourceReflector uses."""

from __future__ import annotations

import pytest

from workspace_spawner.kube.reflectors import EventsByObject


def _event(name: str, obj: str, stamp: str = "2026-12-02T10:00:00Z") -> dict:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "involvedObject": {"kind": "Pod", "name": obj},
        "lastTimestamp": stamp,
        "eventTime": None,
    }


def _scan(events: EventsByObject, obj: str) -> list[dict]:
    return [e for e in events.values() if e["involvedObject"]["name"] == obj]


def _assert_grouped(events: EventsByObject) -> None:
    for obj in ("p1", "p2", "p3"):
        assert events.about(obj) == _scan(events, obj)


def test_groups_follow_assignment_deletion_and_pop():
    events = EventsByObject({"ns/a": _event("a", "p1"), "ns/b": _event("b", "p2")})
    events["ns/c"] = _event("c", "p1")
    events["ns/a"] = _event("a", "p1", stamp="2026-12-02T10:00:05Z")  # changed: keeps its place
    assert [e["metadata"]["name"] for e in events.about("p1")] == ["a", "c"]
    assert events.about("p1")[0]["lastTimestamp"] == "2026-12-02T10:00:05Z"
    assert events.pop("ns/b")["metadata"]["name"] == "b"
    assert events.pop("ns/b", None) is None
    del events["ns/c"]
    _assert_grouped(events)
    assert events.about("p2") == []
    with pytest.raises(KeyError):
        events.pop("ns/gone")


def test_an_event_moved_to_another_object_takes_its_place_in_the_dicts_order():
    events = EventsByObject(
        {"ns/a": _event("a", "p1"), "ns/b": _event("b", "p2"), "ns/c": _event("c", "p2")}
    )
    events["ns/a"] = _event("a", "p2")
    _assert_grouped(events)
    assert [e["metadata"]["name"] for e in events.about("p2")] == ["a", "b", "c"]
    assert events.about("p1") == []


def test_operations_that_would_bypass_the_groups_are_refused():
    events = EventsByObject()
    for operation in (
        lambda: events.update({"ns/a": _event("a", "p1")}),
        lambda: events.setdefault("ns/a", _event("a", "p1")),
        events.clear,
        events.popitem,
    ):
        with pytest.raises(TypeError):
            operation()
