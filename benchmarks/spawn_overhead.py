"""Spawn overhead of WorkspaceSpawner against plain KubeSpawner, on one emulator.

Two figures, each for KubeSpawner (without and with its PVC), WorkspaceSpawner with its
default features (the workspace volume and the conda logic) and WorkspaceSpawner with the
project feature too:

- API requests of a first spawn and of a warm restart (a new spawner from the saved
  state, as after a hub restart), from the emulator's request log: all of them (the
  reflectors' list/watch of a hub that starts with this spawn included, so the figures
  compare like with like), and those of the spawn itself (without the shared
  reflectors' lists and watches, which a hub makes once for all its spawns), by verb and
  resource;
- the time from start() to a running pod, as the median over interleaved rounds
  (one spawn of each variant per round, so machine noise hits all alike), and its
  ratio to KubeSpawner's. The emulator's simulated kubelet and provisioner take the
  same time for every variant; the difference is the spawner's own work and requests.

Usage:

    .venv/bin/python benchmarks/spawn_overhead.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

_DIR = Path(tempfile.mkdtemp(prefix="api-requests-"))
os.environ["KUBECONFIG"] = str(_DIR / "kubeconfig")  # before kubernetes_asyncio is imported

from hubsim import LIMITS, QUOTA, make  # noqa: E402
from kubespawner import KubeSpawner  # noqa: E402
from kubespawner.clients import load_config  # noqa: E402

from workspace_spawner import WorkspaceSpawner  # noqa: E402
from workspace_spawner_testing.emulator import Emulator  # noqa: E402

# the kinds of the hub's shared reflectors (pods, events, claims): their lists and
# watches are made once per hub, not per spawn
REFLECTED = {"pods", "events", "persistentvolumeclaims"}


def _shared(record) -> bool:
    # a reflector lists and watches a whole kind; a list of one object's events is a spawn's
    one_object = "involvedObject.name" in record.query.get("fieldSelector", "")
    return record.verb in ("list", "watch") and record.resource in REFLECTED and not one_object


def split(requests) -> tuple[int, list[str]]:
    """(all requests, the per-spawn ones as "verb resource") of a request log."""
    per_spawn = [f"{r.verb} {r.resource}" for r in requests if not _shared(r)]
    return len(requests), per_spawn


async def measure(emulator, cls, username, uid, **traits):
    emulator.clear_requests()
    first = make(cls, username, uid, **traits)
    await first.start()
    first_counts = split(emulator.requests)
    await first.stop(now=True)
    state = first.get_state()
    # a warm restart: a new spawner (as after a hub restart) from the saved state
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    emulator.clear_requests()
    second = make(cls, username, uid, **traits)
    second.load_state(state)
    await second.start()
    warm_counts = split(emulator.requests)
    await second.stop(now=True)
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    return first_counts, warm_counts


VARIANTS = [
    ("KubeSpawner", KubeSpawner, {}),
    (
        "KubeSpawner with its PVC",
        KubeSpawner,
        {"storage_pvc_ensure": True, "storage_capacity": "10Gi"},
    ),
    ("WorkspaceSpawner, project off", WorkspaceSpawner, {}),
    (
        "WorkspaceSpawner, project on",
        WorkspaceSpawner,
        dict(
            workspace_project_enabled=True,
            workspace_project_quota=QUOTA,
            workspace_project_limit_range=LIMITS,
        ),
    ),
]


async def timed_spawn(cls, username, uid, **traits) -> float:
    spawner = make(cls, username, uid, **traits)
    began = time.perf_counter()
    await spawner.start()
    elapsed = time.perf_counter() - began
    await spawner.stop(now=True)
    return elapsed


async def timings(rounds: int) -> None:
    emulator = Emulator(namespace_finalize_seconds=0.05).start_in_thread()
    emulator.write_kubeconfig(os.environ["KUBECONFIG"])
    load_config.cache_clear()
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}})
    times: dict[str, list[float]] = {label: [] for label, _, _ in VARIANTS}
    uid = 100
    for round_ in range(rounds + 1):
        for label, cls, traits in VARIANTS:
            uid += 1
            elapsed = await timed_spawn(cls, f"t{uid}", uid, **traits)
            if round_:  # the first round warms imports, reflectors and validators up
                times[label].append(elapsed)
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    emulator.stop_thread()
    base = statistics.median(times["KubeSpawner"])
    print(f"\nFirst-spawn time, start() to a running pod: median of {rounds} interleaved rounds")
    print(f"{'':32} {'median (s)':>11} {'vs KubeSpawner':>15}")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:32} {median:>11.3f} {median / base:>14.2f}x")


async def main(openshift: bool) -> None:
    emulator = Emulator(openshift=openshift, namespace_finalize_seconds=0.05).start_in_thread()
    emulator.write_kubeconfig(os.environ["KUBECONFIG"])
    load_config.cache_clear()
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}})
    rows = [
        (label, await measure(emulator, cls, f"u{uid}", uid, **traits))
        for uid, (label, cls, traits) in enumerate(VARIANTS, start=1)
    ]
    emulator.stop_thread()
    mode = "OpenShift" if openshift else "Kubernetes"
    print(f"\n{mode}: API requests (emulator request log)")
    print("all: every request; per spawn: without the shared reflectors' lists and watches")
    print(f"{'':32} {'first: all':>10} {'per spawn':>10} {'warm: all':>10} {'per spawn':>10}")
    for label, ((first, first_own), (warm, warm_own)) in rows:
        print(f"{label:32} {first:>10} {len(first_own):>10} {warm:>10} {len(warm_own):>10}")
    for label, ((_, first_own), (_, warm_own)) in rows:
        print(f"  {label}: first {dict(Counter(first_own))}; warm {dict(Counter(warm_own))}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved timing rounds")
    parser.add_argument("--no-timings", action="store_true", help="the request counts only")
    args = parser.parse_args()
    for openshift in (False, True):
        asyncio.run(main(openshift))
    if not args.no_timings:
        asyncio.run(timings(args.rounds))
