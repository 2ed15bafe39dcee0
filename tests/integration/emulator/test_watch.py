"""Watches: bookmarks, objects leaving a selection, and 410 Gone past the kept history."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from workspace_spawner_testing.emulator import Emulator


def cm(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
    }


async def collect(func, *args, **kwargs) -> list[tuple[str, dict]]:
    events = []
    async with watch.Watch().stream(func, *args, timeout_seconds=1, **kwargs) as stream:
        async for event in stream:
            events.append((event["type"], event["raw_object"]))
    return events


@pytest.mark.emulator_only(
    reason="divergence kept (docs/dev/emulator.md): kube-apiserver sends "
    "bookmarks on its own schedule, not when a 1s watch times out"
)
async def test_bookmark_carries_the_latest_resource_version(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        rv = (await v1.list_namespaced_config_map(kube.namespace)).metadata.resource_version
        created = emulator.create(cm("a"), namespace=kube.namespace)
        events = await collect(
            v1.list_namespaced_config_map,
            kube.namespace,
            resource_version=rv,
            allow_watch_bookmarks=True,
        )
        plain = await collect(v1.list_namespaced_config_map, kube.namespace, resource_version=rv)
    assert [t for t, _ in events] == ["ADDED", "BOOKMARK"]
    bookmark = events[-1][1]
    assert (bookmark["kind"], bookmark["apiVersion"]) == ("ConfigMap", "v1")
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(
        created["metadata"]["resourceVersion"]
    )
    assert [t for t, _ in plain] == ["ADDED"]


async def test_label_selector_reports_leaving_as_deleted(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        rv = (await v1.list_namespaced_config_map(kube.namespace)).metadata.resource_version
        emulator.create(cm("a", {"app": "x"}), namespace=kube.namespace)
        for app in ("y", "x"):
            emulator.patch(
                "configmaps", "a", {"metadata": {"labels": {"app": app}}}, kube.namespace
            )
        emulator.delete("configmaps", "a", kube.namespace)
        events = await collect(
            v1.list_namespaced_config_map,
            kube.namespace,
            resource_version=rv,
            label_selector="app=x",
        )
    assert [(t, o["metadata"]["labels"]["app"]) for t, o in events] == [
        ("ADDED", "x"),
        ("DELETED", "x"),
        ("ADDED", "x"),
        ("DELETED", "x"),
    ]


async def test_field_selector_reports_leaving_as_deleted(kube, emulator, wait_for):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        rv = (await v1.list_namespaced_pod(kube.namespace)).metadata.resource_version
        emulator.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "x:1"}]},
            },
            namespace=kube.namespace,
        )
        await wait_for(
            lambda: emulator.get("pods", "p", kube.namespace)["status"]["phase"] == "Running"
        )
        events = await collect(
            v1.list_namespaced_pod,
            kube.namespace,
            resource_version=rv,
            field_selector="status.phase=Pending",
        )
    assert events[0][0] == "ADDED"
    # leaving the selection: its last content that matched
    assert (events[-1][0], events[-1][1]["status"]["phase"]) == ("DELETED", "Pending")
    assert {t for t, _ in events[1:-1]} <= {"MODIFIED"}


@contextlib.asynccontextmanager
async def own_emulator(tmp_path, *, history: int) -> AsyncIterator[client.CoreV1Api]:
    """An emulator of the test's own, with a short history; its core/v1 API."""
    emulator = Emulator(history=history)
    await emulator.start()
    try:
        path = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        configuration = client.Configuration()
        await config.load_kube_config(config_file=str(path), client_configuration=configuration)
        async with client.ApiClient(configuration) as api:
            yield client.CoreV1Api(api)
    finally:
        await emulator.stop()


@pytest.mark.emulator_only(reason="starts an emulator of its own with a 3-event history")
async def test_watch_past_the_kept_history_is_gone(tmp_path):
    async with own_emulator(tmp_path, history=3) as v1:
        first = await v1.create_namespaced_config_map("default", cm("c0"))
        for i in range(1, 5):
            last = await v1.create_namespaced_config_map("default", cm(f"c{i}"))
        with pytest.raises(ApiException) as error:
            await collect(
                v1.list_namespaced_config_map,
                "default",
                resource_version=first.metadata.resource_version,
            )
        recent = await collect(
            v1.list_namespaced_config_map,
            "default",
            resource_version=str(int(last.metadata.resource_version) - 1),
        )
        with pytest.raises(ApiException) as exact:
            await v1.list_namespaced_config_map(
                "default",
                resource_version=first.metadata.resource_version,
                resource_version_match="Exact",
            )
    assert error.value.status == 410
    assert error.value.reason.startswith("Expired: too old resource version")
    assert [(t, o["metadata"]["name"]) for t, o in recent] == [("ADDED", "c4")]
    assert exact.value.status == 410


@pytest.mark.emulator_only(reason="starts an emulator of its own with a 50-change history")
async def test_a_flood_of_other_kinds_does_not_expire_a_watch(tmp_path):
    # kube-apiserver keeps a watch cache per resource: 100 Secrets (a class's Events)
    # do not push a ConfigMap out of the ConfigMaps' history, nor end a ConfigMap watch
    async with own_emulator(tmp_path, history=50) as v1:
        rv = (await v1.list_namespaced_config_map("default")).metadata.resource_version
        await v1.create_namespaced_config_map("default", cm("c0"))
        for i in range(100):
            await v1.create_namespaced_secret(
                "default", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"}}
            )
        await v1.create_namespaced_config_map("default", cm("c1"))
        events = await collect(v1.list_namespaced_config_map, "default", resource_version=rv)
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "c0"), ("ADDED", "c1")]
