"""Field selectors as kube-apiserver answers them, served from the emulator's indexes.

The emulator picks a field-selected list's candidates from an index (by namespace, and
by each selectable field's value) rather than scanning every object of the kind: a class
of 500 makes thousands of Events and each first start lists its claim's. These tests
hold the index to the scan's answer (the full list filtered here), through changes and
deletions, and the selectable fields to kube-apiserver's (ToSelectableFields in
k8s.io/kubernetes/pkg/registry/core/event/strategy.go).
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

# (name, involved object kind, its name, its uid, fieldPath, reason, type, source component)
EVENTS = [
    ("e1", "PersistentVolumeClaim", "claim-a", "uid-a", None, "Provisioning", "Normal", "ctl"),
    (
        "e2",
        "PersistentVolumeClaim",
        "claim-a",
        "uid-a",
        None,
        "ProvisioningFailed",
        "Warning",
        "ctl",
    ),
    ("e3", "PersistentVolumeClaim", "claim-b", "uid-b", None, "Provisioning", "Normal", "ctl"),
    ("e4", "Pod", "claim-a", "uid-p", "spec.containers{x}", "Pulled", "Normal", "kubelet"),
    ("e5", "Pod", "pod-b", "uid-q", "spec.initContainers{y}", "Started", "Normal", "kubelet"),
]


def event(
    namespace: str, name: str, kind: str, obj: str, uid: str, field_path, reason, type_, source
):
    involved = {"kind": kind, "name": obj, "namespace": namespace, "uid": uid, "apiVersion": "v1"}
    if field_path:
        involved["fieldPath"] = field_path
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": f"{reason} of {obj}",
        "type": type_,
        "source": {"component": source},
        "firstTimestamp": "2026-12-02T00:00:00Z",
        "lastTimestamp": "2026-12-02T00:00:00Z",
        "count": 1,
    }


def selectable(obj: dict) -> dict[str, str]:
    """The fields kube-apiserver selects an Event by, computed here independently."""
    involved = obj.involved_object
    return {
        "metadata.name": obj.metadata.name,
        "metadata.namespace": obj.metadata.namespace,
        "involvedObject.kind": involved.kind or "",
        "involvedObject.name": involved.name or "",
        "involvedObject.namespace": involved.namespace or "",
        "involvedObject.uid": involved.uid or "",
        "involvedObject.apiVersion": involved.api_version or "",
        "involvedObject.fieldPath": involved.field_path or "",
        "reason": obj.reason or "",
        "type": obj.type or "",
        "source": (obj.source.component if obj.source else None) or "",
    }


def scan(items: list, selector: str) -> list[str]:
    """What a scan of every event answers for ``selector`` (terms of = and !=)."""
    terms = []
    for term in selector.split(","):
        negated = "!=" in term
        path, value = term.split("!=" if negated else "=", 1)
        terms.append((path, value, negated))
    return sorted(
        i.metadata.name
        for i in items
        if all((selectable(i)[p] == v) != negated for p, v, negated in terms)
    )


def ours(items: list) -> list[str]:
    names = {name for name, *_ in EVENTS}
    return sorted(i.metadata.name for i in items if i.metadata.name in names)


@pytest.fixture
def events(kube, emulator):
    for name, *rest in EVENTS:
        emulator.create(event(kube.namespace, name, *rest), namespace=kube.namespace)
    return [name for name, *_ in EVENTS]


SELECTORS = [
    "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=claim-a",
    "involvedObject.name=claim-a",
    "involvedObject.uid=uid-b",
    "involvedObject.kind=Pod",
    "involvedObject.fieldPath=spec.containers{x}",
    "involvedObject.fieldPath=",
    "involvedObject.apiVersion=v1,reason=Provisioning",
    "reason=Provisioning,type!=Warning",
    "type=Warning",
    "involvedObject.kind!=Pod,involvedObject.name=claim-a",
    "source=kubelet",
    "source=ctl,involvedObject.uid=uid-a",
    "involvedObject.name=nothing-by-this-name",
    "metadata.name=e3",
    "metadata.name=e3,involvedObject.name=claim-a",
]


@pytest.mark.parametrize("selector", SELECTORS)
async def test_an_event_list_by_field_answers_as_a_scan_of_every_event(
    kube, emulator, events, selector
):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        everything = (await v1.list_namespaced_event(kube.namespace)).items
        found = await v1.list_namespaced_event(kube.namespace, field_selector=selector)
        across = await v1.list_event_for_all_namespaces(
            field_selector=f"{selector},metadata.namespace={kube.namespace}"
        )
    assert ours(found.items) == ours(across.items) == scan(everything, selector)
    assert scan(everything, "source=kubelet") == ["e4", "e5"]  # the scan itself is sound


async def test_a_changed_event_is_found_by_its_new_fields_only(kube, emulator, events):
    emulator.patch(
        "events",
        "e1",
        {"involvedObject": {"name": "claim-c", "uid": "uid-c"}, "reason": "Resized"},
        kube.namespace,
    )
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)

        async def names(selector: str) -> list[str]:
            return ours(
                (await v1.list_namespaced_event(kube.namespace, field_selector=selector)).items
            )

        assert await names(
            "involvedObject.name=claim-a,involvedObject.kind=PersistentVolumeClaim"
        ) == ["e2"]
        assert await names("involvedObject.uid=uid-a") == ["e2"]
        assert await names("involvedObject.uid=uid-c") == ["e1"]
        assert await names("reason=Provisioning") == ["e3"]
        assert await names("reason=Resized,involvedObject.name=claim-c") == ["e1"]


async def test_deleted_events_leave_the_lists_and_the_index(kube, emulator, events):
    store = kube.emulator.store if kube.emulator is not None else None
    kind = kube.emulator.registry.lookup("events") if kube.emulator is not None else None
    before = store.index_sizes(kind) if store is not None else None
    emulator.create(
        event(kube.namespace, "e6", "Pod", "pod-c", "uid-r", None, "Killing", "Normal", "kubelet"),
        namespace=kube.namespace,
    )
    for name in ("e1", "e2", "e6"):
        emulator.delete("events", name, kube.namespace)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        found = await v1.list_namespaced_event(
            kube.namespace, field_selector="involvedObject.name=claim-a"
        )
        gone = await v1.list_event_for_all_namespaces(field_selector="involvedObject.uid=uid-r")
    assert ours(found.items) == ["e4"]
    assert gone.items == []
    if store is not None:
        # the index keeps no entry for a value no event has any more (uid-a, uid-r,
        # Killing, ...): a class's deleted pods would otherwise fill it
        namespaces, values = store.index_sizes(kind)
        assert values < before[1]
        assert ("involvedObject.uid", "uid-r") not in store._by_field[kind.key]


@pytest.mark.parametrize(
    "selector", ["involvedObject.foo=x", "involvedObject=x", "message=x", "source.component=x"]
)
async def test_an_event_field_kube_apiserver_does_not_select_by_is_a_bad_request(
    kube, emulator, selector
):
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).list_namespaced_event(
                kube.namespace, field_selector=selector
            )
    assert error.value.status == 400
    assert "field label not supported" in error.value.body
