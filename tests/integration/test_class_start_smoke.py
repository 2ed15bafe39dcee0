"""A class starting at once (issue 17), short: 20 users, the defaults, against the API server.

Every start must succeed, and the API requests per spawn stay near KubeSpawner's own
with its PVC, measured in the same run on the same emulator: a first spawn at most 2
more (the hub's conda ConfigMap, read and created once), a warm restart (new spawners
from the saved state, as after a hub restart) at most 1 more (the claim read afresh
for its owner and an admin's reset request). The shared
reflectors' lists and watches are counted apart: shared by the class as they are in a
hub, they grow with the wave's length (a reflector lists again after 10 s without
events), not with the number of users. Timings are for benchmarks/, not asserted here. The spawners are driven directly, so JupyterHub's
``concurrent_spawn_limit`` does not apply.

Counted from ``api_log``: the emulator's request log, or on the real control plane the
kube-apiserver's audit log of the hub's ServiceAccount, which the spawners run as there.
"""

from __future__ import annotations

import asyncio

import pytest
from kubespawner import KubeSpawner

from workspace_spawner import WorkspaceSpawner

pytestmark = pytest.mark.slow

N = 20
# Generous timeouts: 20 starts share one emulator, in this process, on a shared machine,
# and an attempt cut short is retried (a pod create then answers 409, and KubeSpawner
# deletes and creates it again): requests a quieter API server would not see.
TIMEOUTS = {
    "k8s_api_request_timeout": 30,
    "k8s_api_request_retry_timeout": 60,
    "start_timeout": 120,
}
VARIANTS = {
    "kubespawner": (KubeSpawner, {"storage_pvc_ensure": True, "storage_capacity": "10Gi"}),
    "defaults": (WorkspaceSpawner, {}),
}
# what the hub's shared reflectors list and watch: once per hub, not per spawn
REFLECTED = {"pods", "events", "persistentvolumeclaims"}


async def _stop_hub(cluster, namespace: str, spawners) -> None:
    """Stop the servers, wait for their pods to go, then stop the hub's reflectors:
    the next wave is a restarted hub."""
    await asyncio.gather(*(s.stop(now=True) for s in spawners))
    for _ in range(200):
        if not cluster.list("pods", namespace):
            break
        await asyncio.sleep(0.05)
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()


async def _wave(api_log, spawners) -> tuple[float, int]:
    """Start all at once: (requests per spawn, the shared reflectors' lists and watches)."""
    api_log.clear_requests()
    results = await asyncio.gather(*(s.start() for s in spawners), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    requests = api_log.requests
    shared = [r for r in requests if r.verb in ("list", "watch") and r.resource in REFLECTED]
    return (len(requests) - len(shared)) / len(spawners), len(shared)


async def _class_start(make_spawner, cluster, api_log, namespace: str, variant: str):
    cls, traits = VARIANTS[variant]
    traits = {**TIMEOUTS, **traits}
    names = [f"{variant[:2]}{i}" for i in range(N)]
    first = [make_spawner(name, spawner_class=cls, **traits) for name in names]
    first_counts = await _wave(api_log, first)
    states = [s.get_state() for s in first]
    await _stop_hub(cluster, namespace, first)
    warm = [
        make_spawner(name, spawner_class=cls, state=state, **traits)
        for name, state in zip(names, states, strict=True)
    ]
    warm_counts = await _wave(api_log, warm)
    await _stop_hub(cluster, namespace, warm)
    return first_counts, warm_counts


async def test_a_class_of_20_starts_with_requests_near_kubespawners(
    make_spawner, kube, cluster, api_log
):
    (base_first, _), (base_warm, _) = await _class_start(
        make_spawner, cluster, api_log, kube.namespace, "kubespawner"
    )
    (first, first_shared), (warm, warm_shared) = await _class_start(
        make_spawner, cluster, api_log, kube.namespace, "defaults"
    )
    counts = (
        f"first {first:.2f} vs {base_first:.2f}, warm {warm:.2f} vs {base_warm:.2f} per spawn "
        f"(the shared reflectors' lists and watches: {first_shared}, {warm_shared})"
    )
    assert first <= base_first + 2, counts
    assert warm <= base_warm + 1, counts
