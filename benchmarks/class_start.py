"""A class starting at once: N users press Start in the same minute (issue 17).

N spawners start at the same time in this process (the hub's: JupyterHub's
``concurrent_spawn_limit`` is not in the way, since the spawner objects are driven
directly, as ``spawn_overhead.py`` does), against an API server in a process of its own:

- the emulator (``python -m workspace_spawner_testing.emulator``, its simulated
  status-only kubelet), the request log read from its ``/_emulator/requests``;
- with ``--real``, the real control plane (the controlplane harness and the
  status-only node agent; binaries from ``testbed/build.sh``), the requests counted by
  a small proxy in front of kube-apiserver that serves the same log.

Variants, one after the other on the same server in one run: KubeSpawner with its PVC,
WorkspaceSpawner with its defaults, WorkspaceSpawner with the project on. Each has a
first start and a warm restart (all stopped, then new spawners from the saved state, as
after a hub restart). Reported per wave: failures, wall time, p50 and p95 start latency
(start() to a running pod), this process's CPU seconds per spawn, API requests per spawn
by verb and resource, and the ratios to KubeSpawner; and the load average, since the
machine may be shared.

``--faults 0.05`` injects 429s and 500s on 5% of all requests (emulator faults, seeded):
every start must then succeed or fail with its reason, and no claim or project may be
created twice or be left without a user's saved state naming it (counted after the run).

Usage:

    .venv/bin/python benchmarks/class_start.py --n 500 [--variants ks,ws,wsp] [--faults 0.05]
    .venv/bin/python benchmarks/class_start.py --n 100 --real

As a library (the smoke test): ``run_wave(server_url=..., variant="ws", n=20)`` against
the server the ``KUBECONFIG`` of this process points at; ``server_url`` serves the
request log (``/_emulator/requests``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # before kubernetes_asyncio reads the default location
    _DIR = Path(tempfile.mkdtemp(prefix="class-start-"))
    os.environ["KUBECONFIG"] = str(_DIR / "kubeconfig")

import aiohttp  # noqa: E402
import yaml  # noqa: E402
from kubespawner import KubeSpawner  # noqa: E402
from kubespawner.clients import load_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hubsim import LIMITS, QUOTA, make  # noqa: E402

from workspace_spawner import WorkspaceSpawner  # noqa: E402

HUB_NAMESPACE = "jupyterhub"
# what must exist once per user: counted after a run with faults
WATCHED = ("persistentvolumeclaims", "namespaces", "projectrequests", "projects")
START_TIMEOUT = 900
REQUEST_TIMEOUT = 60
# z2jh's singleuser image: a tagged image, so its pull policy is IfNotPresent (the API's
# default for a tag other than latest) and a node that has it does not pull it again
# (KubeSpawner's own default, ...:latest, is pulled at every start: Always)
SINGLEUSER_IMAGE = "quay.io/jupyterhub/k8s-singleuser-sample:4.4.0"


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    cls: type
    traits: dict[str, Any]


def _kubespawner_pvc() -> dict[str, Any]:
    """KubeSpawner with its PVC, as z2jh configures it (claim-{username} at /home/jovyan)."""
    return dict(
        storage_pvc_ensure=True,
        storage_capacity="1Gi",
        pvc_name_template="claim-{username}",
        volumes=[{"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}"}}],
        volume_mounts=[{"name": "home", "mountPath": "/home/jovyan"}],
    )


VARIANTS = {
    v.key: v
    for v in (
        Variant("ks", "KubeSpawner with its PVC", KubeSpawner, _kubespawner_pvc()),
        Variant("ws", "WorkspaceSpawner, defaults", WorkspaceSpawner, {}),
        Variant(
            "wsp",
            "WorkspaceSpawner + project",
            WorkspaceSpawner,
            dict(
                workspace_project_enabled=True,
                workspace_project_quota=QUOTA,
                workspace_project_limit_range=LIMITS,
            ),
        ),
    )
}


# -- results ------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """One wave of N starts at once: a first start or a warm restart."""

    n: int
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # user -> its reason
    cpu: float = 0.0
    requests: list[dict] = field(default_factory=list)  # the server's request log
    load: list[float] = field(default_factory=list)  # 1-minute load average, sampled

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def by_verb_resource(self) -> dict[tuple[str, str], float]:
        counts = collections.Counter(
            (r["verb"], r["resource"] or "(discovery)") for r in self.requests
        )
        return {key: count / self.n for key, count in sorted(counts.items())}

    @property
    def requests_per_spawn(self) -> float:
        return len(self.requests) / self.n

    @property
    def cpu_per_spawn(self) -> float:
        return self.cpu / self.n


@dataclass
class WaveResult:
    """A variant's class: its first start and its warm restart."""

    variant: str
    first: PhaseResult
    warm: PhaseResult
    # user -> the state JupyterHub's User.stop saved after the last wave (the next loads it)
    states: dict[str, dict] = field(default_factory=dict)


# -- the request log ------------------------------------------------------------------------


async def _log(http: aiohttp.ClientSession, server_url: str, method: str) -> list[dict]:
    async with http.request(method, f"{server_url}/_emulator/requests") as response:
        response.raise_for_status()
        return await response.json()


async def _faults(http: aiohttp.ClientSession, server_url: str, rate: float, seed: int) -> None:
    """Half 429s, half 500s, on every verb and resource, from the seed."""
    await http.delete(f"{server_url}/_emulator/faults")
    if not rate:
        return
    for status, offset in ((429, 0), (500, 1)):
        body = {"status": status, "rate": rate / 2, "seed": seed + offset, "count": None}
        async with http.post(f"{server_url}/_emulator/faults", json=body) as response:
            response.raise_for_status()


@contextlib.asynccontextmanager
async def _load_sampler(into: list[float]) -> AsyncIterator[None]:
    async def sample() -> None:
        while True:
            into.append(os.getloadavg()[0])
            await asyncio.sleep(5)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        into.append(os.getloadavg()[0])


async def _stop_reflectors() -> None:
    # each wave starts with no reflector, as a hub (re)starting: their list and watch
    # are in its count, shared by the class
    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()


# -- one wave -----------------------------------------------------------------------------


async def _start_all(spawners: dict[str, Any], phase: PhaseResult) -> None:
    async def one(user: str, spawner: Any) -> None:
        began = time.perf_counter()
        try:
            await spawner.start()
        except Exception as e:  # the reason the spawn page would show
            phase.failures[user] = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        else:
            phase.latencies.append(time.perf_counter() - began)

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(u, s) for u, s in spawners.items()))
    phase.wall = time.perf_counter() - began
    phase.cpu = time.process_time() - cpu


async def _stop_all(spawners: dict[str, Any]) -> dict[str, dict]:
    """Stop them as JupyterHub's ``User.stop`` does; the state it then saves, per user.

    ``User.stop`` (also run at once after a failed start, from ``User.spawn``) calls
    ``spawner.stop()``, then, even if that failed, ``clear_state()`` and saves
    ``get_state()``: what a user's next start loads, and what must name every claim
    and project the failed start created.
    """

    async def one(spawner: Any) -> dict:
        with contextlib.suppress(Exception):  # a failed start may have no pod to stop
            await spawner.stop(now=True)
        spawner.clear_state()
        return spawner.get_state()

    states = await asyncio.gather(*(one(s) for s in spawners.values()))
    return dict(zip(spawners, states, strict=True))


def _spawners(variant: Variant, users: list[str], states: dict[str, dict] | None) -> dict:
    spawners = {}
    for index, user in enumerate(users):
        spawner = make(variant.cls, user, 10_000 + index, **variant.traits)
        spawner.start_timeout = START_TIMEOUT
        spawner.image = SINGLEUSER_IMAGE
        # KubeSpawner's 3 s per request is short for an emulator at load: its retries
        # would pile on (7 pod creates per spawn at N=100); the same for every variant
        spawner.k8s_api_request_timeout = REQUEST_TIMEOUT
        spawner.k8s_api_request_retry_timeout = 2 * REQUEST_TIMEOUT
        if states is not None:
            spawner.load_state(states[user])
        spawners[user] = spawner
    return spawners


async def run_wave(
    *,
    server_url: str,
    variant: str,
    n: int,
    prefix: str | None = None,
    fault_rate: float = 0.0,
    seed: int = 1,
) -> WaveResult:
    """N users of ``variant`` (``ks``, ``ws``, ``wsp``) start at once, stop, and restart
    warm from their saved state, on the API server of this process's ``KUBECONFIG``.

    ``server_url`` serves the request log (``/_emulator/requests``; the emulator's URL,
    or a :class:`CountingProxy`'s). Users are ``<prefix>-<i>`` (default: the variant's
    key). ``fault_rate``: emulator faults on that fraction of requests during the waves.
    The namespace ``jupyterhub`` must exist. The servers are left stopped.
    """
    chosen = VARIANTS[variant]
    users = [f"{prefix or variant}-{i}" for i in range(n)]
    result = WaveResult(variant, PhaseResult(n), PhaseResult(n))
    load_config.cache_clear()
    async with aiohttp.ClientSession() as http:
        for phase in (result.first, result.warm):
            await _stop_reflectors()
            # the warm restart loads what the first start saved (result.states is
            # rebound after each wave: read here, not when the loop began)
            states = result.states if phase is result.warm else None
            spawners = _spawners(chosen, users, states)
            await _log(http, server_url, "DELETE")
            await _faults(http, server_url, fault_rate, seed)
            async with _load_sampler(phase.load):
                await _start_all(spawners, phase)
            ended = time.time()
            await _faults(http, server_url, 0.0, seed)
            # as JupyterHub's User.spawn: a start that failed is stopped at once and its
            # cleared state saved (User.stop); the others' state is saved as they run
            failed = {u: s for u, s in spawners.items() if u in phase.failures}
            saved = await _stop_all(failed)
            await _stop_reflectors()
            # the requests the wave began; a watch is logged when it ends, and the server
            # sees a watcher leave within a second
            await asyncio.sleep(1.5)
            phase.requests = [r for r in await _log(http, server_url, "GET") if r["time"] <= ended]
            running = {u: s for u, s in spawners.items() if u not in failed}
            saved.update(await _stop_all(running))
            # what the next wave loads: the state User.stop saved, in the users' order
            result.states = {u: saved[u] for u in users}
    await _stop_reflectors()
    return result


# -- after a run with faults: every claim and project once, none orphaned --------------------


def integrity(result: WaveResult, objects: dict[str, list[dict]], prefix: str) -> list[str]:
    """What is wrong with what the class left (empty: nothing).

    Every start succeeded or gave its reason; each claim and project was created at
    most once over both waves (successful creates in the log); and each one of the
    class's (named ``<prefix>-<i>``) is named by a user's saved state.
    """
    problems = [
        f"{user}: failed without a reason"
        for phase in (result.first, result.warm)
        for user, reason in phase.failures.items()
        if not reason.strip()
    ]
    creates = collections.Counter(
        (r["resource"], r["namespace"], r["name"])
        for phase in (result.first, result.warm)
        for r in phase.requests
        if r["verb"] == "create" and r["status"] == 201 and r["resource"] in WATCHED
    )
    problems += [
        f"{res}/{name} (in {ns}): created {c} times"
        for (res, ns, name), c in creates.items()
        if c > 1
    ]
    # KubeSpawner finds its claim by the template's name at every start, not by the state
    named = {f"claim-{user}" for user in result.states} if result.variant == "ks" else set()
    for state in result.states.values():
        named.update((state.get("workspace_pvcs") or {}).values())
        named.update(
            v for k, v in state.items() if k in ("pvc_name", "workspace_project_name") and v
        )
    ours = re.compile(rf"(^|[^a-z0-9]){re.escape(prefix)}-[0-9]+($|[^0-9])")
    for resource, items in objects.items():
        for obj in items:
            name = obj["metadata"]["name"]
            if ours.search(name) and name not in named:
                problems.append(f"{resource}/{name}: orphaned (no user's saved state names it)")
    return problems


# -- the servers ---------------------------------------------------------------------------


def _verb_and_target(method: str, path: str, watching: bool) -> dict[str, str | None]:
    """verb, resource, namespace, name of a Kubernetes API path (as an audit event has)."""
    parts = path.strip("/").split("/")
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest and rest[0] else None
    name = rest[1] if len(rest) > 1 else None
    if method == "GET":
        verb = "get" if name else ("watch" if watching else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "delete")
        if method == "DELETE" and not name:
            verb = "deletecollection"
    return {"verb": verb, "resource": resource, "namespace": namespace, "name": name}


def serve_counting_proxy(upstream: str, ca_file: str, port: int) -> None:
    """A plain-HTTP proxy to kube-apiserver logging each request as the emulator does.

    Run in a process of its own (``--proxy``), so its work is not the hub's CPU time.
    """
    import ssl

    from aiohttp import web

    context = ssl.create_default_context(cafile=ca_file)
    log: list[dict] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_emulator/requests"):
            if request.method == "DELETE":
                log.clear()
            return web.json_response(log if request.method == "GET" else {})
        if request.path.startswith("/_emulator/faults"):
            if request.method == "DELETE":
                return web.json_response({})
            return web.json_response({"error": "faults are the emulator's"}, status=501)
        watching = (request.query.get("watch") or "").lower() in ("true", "1")
        record = _verb_and_target(request.method, request.path, watching)
        record.update(time=time.time(), status=0)
        log.append(record)
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        async with session.request(
            request.method,
            upstream + request.rel_url.path_qs,
            data=await request.read(),
            headers=headers,
            ssl=context,
            timeout=aiohttp.ClientTimeout(total=None),
        ) as upstream_response:
            record["status"] = upstream_response.status
            out = web.StreamResponse(
                status=upstream_response.status,
                headers={"Content-Type": upstream_response.content_type},
            )
            await out.prepare(request)
            body = b""
            try:
                async for chunk in upstream_response.content.iter_any():
                    await out.write(chunk)
                    if record["verb"] == "create":
                        body += chunk
                if record["verb"] == "create" and upstream_response.status == 201:
                    record["name"] = json.loads(body).get("metadata", {}).get("name")
                await out.write_eof()
            except ConnectionResetError:
                pass  # the hub ended a watch (a reflector stopped): nothing more to pass on
            return out

    async def main() -> None:
        app = web.Application(client_max_size=16 * 2**20)
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"counting proxy on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


FORWARDED = {"authorization", "content-type", "accept", "user-agent"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str], pattern: str) -> tuple[subprocess.Popen, str]:
    """A server process and the URL it prints when it listens."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()  # type: ignore[union-attr]
    found = re.search(pattern, line)
    if not found:
        process.kill()
        raise RuntimeError(f"{args[0:3]} did not start: {line!r}")
    return process, found.group(0)


@contextlib.contextmanager
def emulator_server(kubeconfig: Path) -> Iterator[str]:
    """The emulator in a process of its own; its URL (API and request log)."""
    args = [
        sys.executable,
        "-m",
        "workspace_spawner_testing.emulator",
        "--kubeconfig",
        str(kubeconfig),
    ]
    process, url = _launch(args, r"http://127\.0\.0\.1:\d+")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(30)


@contextlib.contextmanager
def control_plane_server(kubeconfig: Path, *, n: int) -> Iterator[str]:
    """The real control plane, the status-only node agent, and the counting proxy in
    front of it (the hub's kubeconfig points at the proxy); the proxy's URL.

    The node takes a wave's ``n`` pods and as many again of the wave before that are
    still being deleted (the kubelet's default, 110 pods, would leave a wave of more
    Pending: kube-scheduler places no pod beyond the node's pods capacity)."""
    from workspace_spawner_testing.controlplane import ControlPlane
    from workspace_spawner_testing.nodeagent import MAX_PODS

    with ControlPlane(max_pods=max(MAX_PODS, 2 * n)) as cp:
        port = _free_port()
        args = [sys.executable, __file__, "--proxy", cp.url, str(cp.ca_file), str(port)]
        process, url = _launch(args, r"http://127\.0\.0\.1:\d+")
        try:
            config = yaml.safe_load(cp.write_kubeconfig(kubeconfig).read_text())
            config["clusters"][0]["cluster"] = {"server": url}  # plain HTTP to the proxy
            kubeconfig.write_text(yaml.safe_dump(config))
            yield url
        finally:
            process.terminate()
            process.wait(30)


async def _admin(kubeconfig: Path, method: str, path: str, body: dict | None = None) -> Any:
    config = yaml.safe_load(kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, server + path, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return await response.json()


# -- reporting -----------------------------------------------------------------------------


def _row(label: str, phase: PhaseResult, base: PhaseResult | None) -> str:
    def ratio(value: float, of: float) -> str:
        return f" ({value / of:.1f}×)" if base is not None and of else ""

    b = base or phase
    load = f"{statistics.mean(phase.load):.1f}/{max(phase.load):.1f}" if phase.load else "-"
    return (
        f"| {label} | {phase.n} | {len(phase.failures)} | {phase.wall:.1f}{ratio(phase.wall, b.wall)} "
        f"| {phase.quantile(0.5):.1f}{ratio(phase.quantile(0.5), b.quantile(0.5))} "
        f"| {phase.quantile(0.95):.1f}{ratio(phase.quantile(0.95), b.quantile(0.95))} "
        f"| {phase.cpu_per_spawn:.3f}{ratio(phase.cpu_per_spawn, b.cpu_per_spawn)} "
        f"| {phase.requests_per_spawn:.1f} ({phase.requests_per_spawn - b.requests_per_spawn:+.1f}) "
        f"| {load} |"
    )


def report(results: list[WaveResult], *, server: str, n: int) -> str:
    lines = []
    for which in ("first", "warm"):
        title = "first start" if which == "first" else "warm restart"
        lines += [
            "",
            f"**{server}, N={n} at once, {title}** (ratios to KubeSpawner; requests: difference)",
            "",
            "| variant | N | failed | wall s | p50 s | p95 s | hub CPU s/spawn | requests/spawn "
            "| load avg (mean/max) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        base = getattr(results[0], which) if results[0].variant == "ks" else None
        for result in results:
            phase = getattr(result, which)
            lines.append(
                _row(VARIANTS[result.variant].label, phase, base if phase is not base else None)
            )
    keys = sorted({k for r in results for p in (r.first, r.warm) for k in p.by_verb_resource()})
    lines += [
        "",
        "**API requests per spawn, by verb and resource** (first start / warm restart)",
        "",
        "| verb resource | " + " | ".join(VARIANTS[r.variant].label for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for key in keys:
        cells = []
        for r in results:
            first, warm = (
                r.first.by_verb_resource().get(key, 0),
                r.warm.by_verb_resource().get(key, 0),
            )
            cells.append(f"{first:.2f} / {warm:.2f}")
        lines.append(f"| {key[0]} {key[1]} | " + " | ".join(cells) + " |")
    failures = collections.Counter(
        # one line per reason, whoever's: user numbers folded
        re.sub(r"-[0-9]+\b", "-N", reason)[:110]
        for r in results
        for p in (r.first, r.warm)
        for reason in p.failures.values()
    )
    if failures:
        lines += ["", "Failures (reason: count):"] + [
            f"- {k}: {v}" for k, v in failures.most_common(10)
        ]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    kubeconfig = Path(os.environ["KUBECONFIG"])
    server = functools.partial(control_plane_server, n=args.n) if args.real else emulator_server
    name = "real control plane" if args.real else "emulator"
    results, problems = [], []
    with server(kubeconfig) as url:
        await _admin(
            kubeconfig, "POST", "/api/v1/namespaces", {"metadata": {"name": HUB_NAMESPACE}}
        )
        for key in args.variants.split(","):
            print(f"{name}: {VARIANTS[key].label}, N={args.n} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            result = await run_wave(
                server_url=url, variant=key, n=args.n, fault_rate=args.faults, seed=args.seed
            )
            results.append(result)
            print(f"  done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
            if args.faults:
                objects = {
                    kind: (await _admin(kubeconfig, "GET", path))["items"]
                    for kind, path in (
                        ("persistentvolumeclaims", "/api/v1/persistentvolumeclaims"),
                        ("namespaces", "/api/v1/namespaces"),
                    )
                }
                problems += [f"{key}: {p}" for p in integrity(result, objects, key)]
    faults = f", faults on {args.faults:.0%} of requests (seed {args.seed})" if args.faults else ""
    print(report(results, server=name + faults, n=args.n))
    if args.faults:
        print(
            "\nIntegrity after the faults: "
            + (
                "; ".join(problems)
                if problems
                else "no start "
                "failed without its reason, no claim or project created twice or orphaned"
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--proxy"]:
        serve_counting_proxy(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="users starting at once")
    parser.add_argument(
        "--variants", default="ks,ws,wsp", help="of ks, ws, wsp (ks first: the base)"
    )
    parser.add_argument("--faults", type=float, default=0.0, help="fraction of requests failing")
    parser.add_argument("--seed", type=int, default=1, help="of the faults")
    parser.add_argument("--real", action="store_true", help="the real control plane")
    sys.exit(asyncio.run(main(parser.parse_args())))
