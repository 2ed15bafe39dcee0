"""KubeSpawner's own start/poll/stop, against the emulator (or a real cluster)."""

from __future__ import annotations

import asyncio

import pytest
from kubespawner import KubeSpawner

from workspace_spawner import WorkspaceSpawner

SPAWNERS = pytest.mark.parametrize(
    "spawner_class", [KubeSpawner, WorkspaceSpawner], ids=["KubeSpawner", "WorkspaceSpawner"]
)


@SPAWNERS
async def test_start_poll_stop(make_spawner, kube, spawner_class):
    spawner = make_spawner(spawner_class=spawner_class)
    url = await spawner.start()
    assert url.startswith("http://127.0.0.")
    assert await spawner.poll() is None
    await spawner.stop()
    assert await spawner.poll() is not None


@SPAWNERS
async def test_restart_from_saved_state(make_spawner, kube, spawner_class):
    first = make_spawner(spawner_class=spawner_class)
    await first.start()
    state = first.get_state()
    # as after a hub restart: a new spawner object from the saved state
    second = make_spawner(spawner_class=spawner_class, state=state)
    assert await second.poll() is None
    await second.stop()
    assert await second.poll() is not None


@SPAWNERS
async def test_existing_pod_is_replaced(make_spawner, kube, spawner_class):
    first = make_spawner(spawner_class=spawner_class)
    await first.start()
    uid = first.pod_reflector.pods[f"{kube.namespace}/{first.pod_name}"]["metadata"]["uid"]
    # the hub forgot the server: a new start hits 409 and replaces the old pod
    second = make_spawner(spawner_class=spawner_class)
    await second.start()
    pod = second.pod_reflector.pods[f"{kube.namespace}/{second.pod_name}"]
    assert pod["metadata"]["uid"] != uid
    await second.stop()


@SPAWNERS
async def test_progress_yields_kubelet_events(make_spawner, kube, spawner_class):
    spawner = make_spawner(spawner_class=spawner_class)
    start = spawner.start()
    messages = [event["message"] async for event in spawner.progress()]
    await start
    text = "\n".join(messages)
    for expected in (
        "Successfully assigned",
        "Pulling image",
        "Created container",
        "Started container",
    ):
        assert expected in text
    await spawner.stop()


@pytest.mark.slow
async def test_start_stop_cycle_twenty_times(make_spawner, kube):
    spawner = make_spawner(spawner_class=WorkspaceSpawner)
    for _ in range(20):
        await spawner.start()
        assert await spawner.poll() is None
        await spawner.stop()
        assert await asyncio.wait_for(spawner.poll(), 5) is not None
        spawner.clear_state()
