"""workspace-admin end to end: the command line against a real JupyterHub and the emulator.

One hub per module (a subprocess, its REST API on loopback, its database in a tmp
dir) runs WorkspaceSpawner against an emulator of its own whose kubelet answers
the hub's readiness check at the pods' addresses
(:mod:`workspace_spawner_testing.emulator.httpstub`). The command line uses a
Kubernetes token of its own, so the emulator's request log tells its requests
from the hub's.

Most invocations run in this process (:meth:`Hub.run`): the console script's own
``main(argv)``, with its argv parsing, exit codes and output, its hub URL, token
and kubeconfig passed as options. Every Python start with the test extras spends
seconds importing (kubernetes_asyncio's ``dynamic`` imports kubernetes_validate,
jsonschema and rfc3987_syntax): :meth:`Hub.run_script` runs the installed console
script as a subprocess only where the process itself is under test (its
environment, a terminal or none, the exit codes 0, 1 and 2).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workspace_spawner.admin import main
from workspace_spawner.constants import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RESET_BACKUP_ANNOTATION,
    RESET_REQUEST_ANNOTATION,
    USERNAME_LABEL,
)
from workspace_spawner_testing.emulator import allow_all

pytestmark = [pytest.mark.emulator_only, pytest.mark.slow]

NAMESPACE = "jupyterhub"
CLI_KUBE_USER = "workspace-admin-cli"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
# The scopes the docs tell admins to give the tool's token: the tests use exactly these.
CLI_SCOPES = ["list:users", "read:users", "read:servers", "servers", "admin:server_state"]
WORKSPACE_ADMIN = str(Path(sys.executable).parent / "workspace-admin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUB_CONFIG = """
from jupyterhub.proxy import Proxy


class RoutesInMemory(Proxy):
    # The tests use only the hub's REST API: no proxy process is needed.
    routes = {{}}

    async def start(self):
        pass

    async def stop(self):
        pass

    async def add_route(self, routespec, target, data):
        self.routes[routespec] = {{"routespec": routespec, "target": target, "data": data}}

    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)

    async def get_all_routes(self):
        return dict(self.routes)


c = get_config()
c.JupyterHub.proxy_class = RoutesInMemory
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = "sqlite:///{dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{dir}/cookie_secret"
c.JupyterHub.pid_file = "{dir}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = False
# DELETE /users/x/server answers 202 after this long, as a hub with a slow spawner does
c.JupyterHub.tornado_settings = {{"slow_stop_timeout": 0.5, "slow_spawn_timeout": 0.5}}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [
    {{"name": "workspace-admin", "api_token": "{cli_token}"}},
    {{"name": "test-setup", "api_token": "{setup_token}"}},
]
c.JupyterHub.load_roles = [
    {{"name": "workspace-admin", "scopes": {cli_scopes!r}, "services": ["workspace-admin"]}},
    {{"name": "test-setup", "scopes": ["admin:users", "admin:servers"], "services": ["test-setup"]}},
]
""".lstrip()

SPAWNER_CONFIG = """
c.JupyterHub.spawner_class = "workspace"
c.KubeSpawner.namespace = "{namespace}"
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.storage_capacity = "1Gi"
c.KubeSpawner.start_timeout = 30
c.KubeSpawner.http_timeout = 30
c.KubeSpawner.image = "quay.io/jupyter/minimal-notebook:2026-11-16"
c.WorkspaceSpawner.workspace_project_enabled = True
c.WorkspaceSpawner.workspace_project_quota = {{"pods": "4", "requests.memory": "2Gi"}}
"""


@dataclass
class Result:
    """What one workspace-admin invocation did; ``json``: stdout parsed when --json was given."""

    returncode: int | str
    stdout: str
    stderr: str
    json: Any

    @classmethod
    def of(cls, args: tuple[str, ...], returncode: int | str, stdout: str, stderr: str) -> Result:
        parsed = json.loads(stdout) if "--json" in args and stdout.strip() else None
        return cls(returncode, stdout, stderr, parsed)


@dataclass
class Hub:
    url: str
    cli_token: str
    setup_token: str
    config: Path  # the hub's config file, which the command line reads too
    kubeconfig: Path  # the command line's (its own Kubernetes user)
    dir: Path
    emulator: Any

    def api(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Authorization", f"token {token or self.setup_token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None

    def user(self, name: str) -> dict[str, Any]:
        status, body = self.api("GET", f"/users/{name}?include_stopped_servers=1")
        assert status == 200, body
        return body

    def add_users(self, *names: str) -> None:
        status, body = self.api("POST", "/users", {"usernames": list(names)})
        assert status == 201, body

    def wait_server(self, name: str, *, running: bool, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            user = self.user(name)
            server = user["servers"].get("")
            if running and server and server.get("ready"):
                return user
            if (
                not running
                and (server is None or server.get("stopped"))
                and not user.get("pending")
            ):
                return user
            assert time.monotonic() < deadline, (
                f"{name}'s server not {'running' if running else 'stopped'}: {user}"
            )
            time.sleep(0.05)  # a spawn or stop on the emulator takes a few tenths of a second

    def start(self, name: str) -> dict[str, Any]:
        status, body = self.api("POST", f"/users/{name}/server")
        assert status in (201, 202), body
        return self.wait_server(name, running=True)

    def stop(self, name: str) -> dict[str, Any]:
        status, body = self.api("DELETE", f"/users/{name}/server")
        assert status in (202, 204), body
        return self.wait_server(name, running=False)

    def run(self, *args: str, config: Path | None = None, token: str | None = None) -> Result:
        """Run workspace-admin in this process through its entry point ``main(argv)``.

        In a thread of its own (the command runs its own event loop), its output
        captured; the hub URL, token (in a file) and kubeconfig are options, so
        nothing comes from this process's environment.
        """
        argv = [*args]
        if "--hub-url" not in args:
            argv += ["--hub-url", self.url]
        if "--token-file" not in args:
            argv += [
                "--token-file",
                str(self.token_file(self.cli_token if token is None else token)),
            ]
        argv += ["--kubeconfig", str(self.kubeconfig), "-f", str(config or self.config)]
        stdout, stderr = io.StringIO(), io.StringIO()

        def run_main() -> int:
            with redirect_stdout(stdout), redirect_stderr(stderr):
                try:
                    main(argv)
                except SystemExit as e:
                    return 0 if e.code is None else e.code
            raise AssertionError(f"workspace-admin {argv} returned without an exit code")

        pool = ThreadPoolExecutor(1, thread_name_prefix="workspace-admin")
        try:
            code = pool.submit(run_main).result(timeout=120)
        finally:
            pool.shutdown(wait=False)  # after a timeout: fail, rather than wait for a hung command
        return Result.of(args, code, stdout.getvalue(), stderr.getvalue())

    def run_script(self, *args: str, stdin: Any = subprocess.DEVNULL) -> Result:
        """Run the installed console script, the token and kubeconfig in its environment."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "JUPYTERHUB_API_TOKEN": self.cli_token,
        }
        command = [WORKSPACE_ADMIN, *args, "--hub-url", self.url, "-f", str(self.config)]
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, stdin=stdin
        )
        return Result.of(args, result.returncode, result.stdout, result.stderr)

    def token_file(self, token: str) -> Path:
        path = self.dir / "tokens" / hashlib.sha256(token.encode()).hexdigest()
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_text(token + "\n")
        return path

    def cli_writes(self) -> list[Any]:
        return [
            r for r in self.emulator.requests if r.user == CLI_KUBE_USER and r.verb in WRITE_VERBS
        ]

    def pvc(self, name: str) -> dict[str, Any] | None:
        return self.emulator.get("persistentvolumeclaims", name, NAMESPACE)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    from workspace_spawner_testing.emulator.httpstub import SingleuserStubEmulator

    directory = tmp_path_factory.mktemp("admin-hub")
    emulator = SingleuserStubEmulator(namespace_finalize_seconds=0.05).start_in_thread()
    yield from launch_hub(directory, emulator, spawner_config=SPAWNER_CONFIG)


def launch_hub(directory: Path, emulator: Any, *, spawner_config: str) -> Iterator[Hub]:
    """Run a hub against ``emulator`` (started; stopped after) and yield it; the command
    line gets a Kubernetes user of its own. ``spawner_config``: the spawner's part of the
    hub's config, ``{namespace}`` filled in."""
    hub_kubeconfig = emulator.write_kubeconfig(directory / "hub-kubeconfig")
    cli_kube_token = secrets.token_urlsafe(16)
    emulator.add_token(cli_kube_token, user=CLI_KUBE_USER)
    cli_kubeconfig = emulator.write_kubeconfig(
        directory / "cli-kubeconfig", token=cli_kube_token, user="cli"
    )
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})

    hub_port = _free_port()
    cli_token, setup_token = secrets.token_hex(16), secrets.token_hex(16)
    config = directory / "jupyterhub_config.py"
    config.write_text(
        HUB_CONFIG.format(
            proxy_port=_free_port(),
            hub_port=hub_port,
            dir=directory,
            cli_token=cli_token,
            setup_token=setup_token,
            cli_scopes=CLI_SCOPES,
        )
        + spawner_config.format(namespace=NAMESPACE)
    )
    log = open(directory / "jupyterhub.log", "w")
    env = {**os.environ, "KUBECONFIG": str(hub_kubeconfig)}
    env.pop("JUPYTERHUB_API_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config), "--debug"],
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    hub = Hub(
        url=f"http://127.0.0.1:{hub_port}/hub/api",
        cli_token=cli_token,
        setup_token=setup_token,
        config=config,
        kubeconfig=cli_kubeconfig,
        dir=directory,
        emulator=emulator,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (directory / "jupyterhub.log").read_text()[-5000:]
            try:
                if hub.api("GET", "/")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (directory / "jupyterhub.log").read_text()[-5000:]
            time.sleep(0.05)
        yield hub
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        emulator.stop_thread()
        # the in-process runs may have loaded this emulator's kubeconfig as the process's
        # default; the next spawner loads the default again (as the kube fixture does)
        from kubespawner.clients import load_config

        load_config.cache_clear()


def _stderr(result) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def _make_pvc(
    hub: Hub, name: str, user: str, *, size: str = "1Gi", storage_class: str | None = None
) -> None:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    hub.emulator.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {"component": "singleuser-storage", USERNAME_LABEL: user},
            },
            "spec": spec,
        }
    )


def _wait_for(
    condition: Callable[[], Any], explain: Callable[[], Any], *, timeout: float = 10
) -> None:
    """Poll ``condition`` until it holds; fail with ``explain()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.02)


def _wait_bound(hub: Hub, name: str) -> dict[str, Any]:
    _wait_for(
        lambda: hub.pvc(name).get("status", {}).get("phase") == "Bound", lambda: hub.pvc(name)
    )
    return hub.pvc(name)


def _make_project(hub: Hub, name: str, user: str, *, managed: bool = True) -> None:
    labels = {USERNAME_LABEL: user}
    if managed:
        labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    hub.emulator.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )


# -- list ----------------------------------------------------------------------------


def test_list_shows_servers_volumes_resets_and_projects(hub: Hub) -> None:
    hub.add_users("anna", "ben", "cleo")
    hub.start("anna")  # running: the hub's spawner made claim-anna
    hub.start("ben")
    hub.stop("ben")  # stopped: the name stays in the server's state
    _make_pvc(hub, "claim-cleo", "cleo", size="2Gi")  # never started: found from config and labels
    _wait_bound(hub, "claim-cleo")
    hub.emulator.patch(
        "persistentvolumeclaims",
        "claim-cleo",
        {"metadata": {"annotations": {RESET_REQUEST_ANNOTATION: "2026-11-20T10:00:00Z"}}},
        NAMESPACE,
    )

    result = hub.run("list", "--json", "--user", "anna", "--user", "ben", "--user", "cleo")
    assert result.returncode == 0, _stderr(result)
    rows = {row["user"]: row for row in result.json}
    assert [rows[u]["server"] for u in ("anna", "ben", "cleo")] == ["running", "stopped", "stopped"]
    anna = rows["anna"]
    assert [p["name"] for p in anna["pvcs"]] == ["claim-anna"]
    assert anna["pvcs"][0] | {"age": "", "created": ""} == {
        "name": "claim-anna",
        "volume": "home",  # the volumes feature's label
        "requested": "1Gi",
        "capacity": "1Gi",
        "phase": "Bound",
        "storage_class": "standard",
        "age": "",
        "created": "",
        "reset_requested": None,
        "reset_backup": False,
        # no usage measured: the stand-in kubelet runs no setup-volume script
        "used": "",
        "used_bytes": None,
        "size_bytes": None,
        "use_percent": None,
        "usage_measured": "",
        "usage_age": "",
    }
    # the project the spawner made, with the quota from the config
    assert anna["project"]["name"] == "anna-workspace"
    assert anna["project"]["phase"] == "Active"
    assert anna["project"]["quota"]["pods"]["hard"] == "4"
    assert anna["project"]["quota"]["requests.memory"]["hard"] == "2Gi"
    assert [p["name"] for p in rows["ben"]["pvcs"]] == ["claim-ben"]
    assert rows["ben"]["project"]["name"] == "ben-workspace"  # from the saved state
    # never started: the name from the config, and no namespace yet
    assert rows["cleo"]["project"] | {"age": ""} == {
        "name": "cleo-workspace",
        "phase": "Missing",
        "age": "",
        "quota": {},
    }
    cleo = rows["cleo"]["pvcs"][0]
    assert (cleo["name"], cleo["requested"], cleo["reset_requested"]) == (
        "claim-cleo",
        "2Gi",
        "2026-11-20T10:00:00Z",
    )

    table = hub.run("list")
    assert table.returncode == 0, _stderr(table)
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["USER", "SERVER", "PVC", "REQUESTED"]
    anna_line = next(line for line in lines if line.startswith("anna "))
    assert anna_line.split()[:7] == [
        "anna",
        "running",
        "claim-anna",
        "1Gi",
        "1Gi",
        "Bound",
        "standard",
    ]
    assert "anna-workspace" in anna_line and "pods 0/4" in anna_line


def test_list_prefers_the_saved_names_over_a_changed_template(hub: Hub) -> None:
    hub.add_users("dora", "emil")
    hub.start("dora")
    hub.stop("dora")
    _make_pvc(hub, "home-emil", "emil")
    changed = hub.dir / "changed_config.py"
    changed.write_text(
        hub.config.read_text() + '\nc.KubeSpawner.pvc_name_template = "home-{username}"\n'
    )
    result = hub.run("list", "--json", "dora", "emil", config=changed)
    assert result.returncode == 0, _stderr(result)
    rows = {row["user"]: row for row in result.json}
    # dora's state says claim-dora: the new template would point at home-dora
    assert [p["name"] for p in rows["dora"]["pvcs"]] == ["claim-dora"]
    assert [p["name"] for p in rows["emil"]["pvcs"]] == ["home-emil"]


def test_list_selector_filters_volumes(hub: Hub) -> None:
    hub.add_users("fynn")
    _make_pvc(hub, "claim-fynn", "fynn")
    hub.emulator.patch(
        "persistentvolumeclaims", "claim-fynn", {"metadata": {"labels": {"team": "a"}}}, NAMESPACE
    )
    match = hub.run("list", "--json", "fynn", "-l", "team=a")
    other = hub.run("list", "--json", "fynn", "--selector", "team=b")
    assert [p["name"] for p in match.json[0]["pvcs"]] == ["claim-fynn"]
    assert other.json[0]["pvcs"] == []


def test_clear_errors_for_unknown_users_a_bad_token_and_an_unreachable_hub(hub: Hub) -> None:
    hub.add_users("gus")
    result = hub.run("list", "--json", "gus", "nobody")
    assert result.returncode == 1, _stderr(result)
    assert [row["user"] for row in result.json] == ["gus"]
    assert "No user 'nobody' in the hub" in result.stderr
    assert "failed: nobody" in result.stderr

    token_file = hub.dir / "token"
    token_file.write_text(hub.cli_token + "\n")
    from_file = hub.run("list", "--json", "gus", "--token-file", str(token_file), token="")
    assert from_file.returncode == 0, _stderr(from_file)
    assert [row["user"] for row in from_file.json] == ["gus"]

    rejected = hub.run("list", token="not-a-token")
    assert rejected.returncode == 1
    assert "The hub rejected the token" in rejected.stderr and "HTTP 403" in rejected.stderr

    unreachable = hub.run("stop", "gus", "--hub-url", f"http://127.0.0.1:{_free_port()}/hub/api")
    assert unreachable.returncode == 1
    assert "Cannot reach the hub" in unreachable.stderr


# -- stop ----------------------------------------------------------------------------


def test_stop_waits_until_stopped_and_dry_run_changes_nothing(hub: Hub) -> None:
    hub.add_users("hana", "ivo")
    hub.start("hana")
    hub.emulator.clear_requests()
    dry = hub.run("stop", "hana", "ivo", "--dry-run", "--json")
    assert dry.returncode == 0, _stderr(dry)
    assert [row["actions"] for row in dry.json] == [
        ["would stop the server through the hub"],
        ["nothing to do: the server is stopped"],
    ]
    assert hub.user("hana")["servers"][""]["ready"]
    assert [
        r for r in hub.emulator.requests if r.verb in WRITE_VERBS
    ] == []  # not even the hub wrote

    result = hub.run("stop", "hana", "--json")
    assert result.returncode == 0, _stderr(result)
    assert result.json == [
        {"user": "hana", "ok": True, "actions": ["stop the server through the hub"], "error": None}
    ]
    assert hub.user("hana")["servers"][""]["stopped"]


def test_stop_that_does_not_finish_in_time_fails_its_row(hub: Hub) -> None:
    hub.add_users("jan")
    user = hub.start("jan")
    pod = user["servers"][""]["state"]["pod_name"]
    # the pod's deletion hangs until KubeSpawner's request times out (k8s_api_request_timeout,
    # 3 s, longer than --timeout 1); its retry then stops the server
    hub.emulator.inject_fault(verb="delete", resource="pods", name=pod, hang=True, count=1)
    result = hub.run("stop", "jan", "--timeout", "1", "--json")
    assert result.returncode == 1, _stderr(result)
    assert "jan's server did not stop in time" in result.json[0]["error"]
    assert "failed: jan" in result.stderr
    hub.wait_server("jan", running=False, timeout=60)


# -- reset ---------------------------------------------------------------------------


def test_reset_annotates_the_volume_and_dry_run_writes_nothing(hub: Hub) -> None:
    hub.add_users("kai")
    hub.start("kai")
    hub.stop("kai")
    hub.emulator.clear_requests()
    dry = hub.run("reset", "kai", "--backup", "--dry-run", "--json")
    assert dry.returncode == 0, _stderr(dry)
    assert dry.json[0]["actions"] == [
        f"would annotate PVC claim-kai in {NAMESPACE}: reset to the image's files at the next start "
        "(keeping a backup of the old content)"
    ]
    assert hub.cli_writes() == []
    assert RESET_REQUEST_ANNOTATION not in (
        hub.pvc("claim-kai")["metadata"].get("annotations") or {}
    )

    result = hub.run("reset", "kai", "--backup", "--json")
    assert result.returncode == 0, _stderr(result)
    annotations = hub.pvc("claim-kai")["metadata"]["annotations"]
    assert annotations[RESET_BACKUP_ANNOTATION] == "true"
    requested = annotations[RESET_REQUEST_ANNOTATION]
    assert requested.endswith("Z") and requested[:4].isdigit()

    again = hub.run("reset", "kai", "--json")  # without --backup: the backup flag goes
    assert again.returncode == 0, _stderr(again)
    assert RESET_BACKUP_ANNOTATION not in hub.pvc("claim-kai")["metadata"]["annotations"]


def test_reset_now_restarts_a_running_server(hub: Hub) -> None:
    hub.add_users("lea")
    before = hub.start("lea")["servers"][""]["started"]
    result = hub.run("reset", "lea", "--now", "--json")
    assert result.returncode == 0, _stderr(result)
    assert result.json[0]["actions"] == [
        f"annotate PVC claim-lea in {NAMESPACE}: reset to the image's files at the next start",
        "stop the server through the hub",
        "start the server through the hub (the reset happens now)",
    ]
    after = hub.user("lea")["servers"][""]
    assert after["ready"] and after["started"] != before
    # the spawner did the reset at the restart, and removed the request (its watcher of
    # the setup-volume init container does that beside the start: wait for it)
    _wait_for(
        lambda: RESET_REQUEST_ANNOTATION not in hub.pvc("claim-lea")["metadata"]["annotations"],
        lambda: hub.pvc("claim-lea")["metadata"],
    )


# -- expand --------------------------------------------------------------------------


def test_expand_raises_the_request_and_refuses_a_shrink(hub: Hub) -> None:
    hub.add_users("mia")
    hub.start("mia")
    hub.stop("mia")
    hub.emulator.clear_requests()
    dry = hub.run("expand", "mia", "3Gi", "--dry-run", "--json")
    assert dry.returncode == 0, _stderr(dry)
    assert dry.json[0]["actions"] == [
        f"would raise the request of PVC claim-mia in {NAMESPACE} from 1Gi to 3Gi"
    ]
    assert hub.cli_writes() == []

    result = hub.run("expand", "mia", "3Gi")
    assert result.returncode == 0, _stderr(result)
    assert "storage_capacity" in result.stdout and "to 3Gi too" in result.stdout
    assert hub.pvc("claim-mia")["spec"]["resources"]["requests"]["storage"] == "3Gi"

    shrink = hub.run("expand", "mia", "500Mi", "--json")
    assert shrink.returncode == 1, _stderr(shrink)
    assert "cannot shrink" in shrink.json[0]["error"]
    assert "failed: mia" in shrink.stderr
    assert hub.pvc("claim-mia")["spec"]["resources"]["requests"]["storage"] == "3Gi"


def test_expand_refuses_a_storage_class_that_cannot_expand(hub: Hub) -> None:
    hub.add_users("nico")
    hub.emulator.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "fixed"},
            "provisioner": "emulator.local/hostpath",
            "allowVolumeExpansion": False,
        }
    )
    _make_pvc(hub, "claim-nico", "nico", storage_class="fixed")
    result = hub.run("expand", "nico", "5Gi", "--json")
    assert result.returncode == 1, _stderr(result)
    assert "StorageClass fixed does not allow volume expansion" in result.json[0]["error"]
    assert hub.pvc("claim-nico")["spec"]["resources"]["requests"]["storage"] == "1Gi"


# -- delete-volume -------------------------------------------------------------------


def test_delete_volume_refuses_a_running_server_and_asks_for_yes(hub: Hub) -> None:
    hub.add_users("olga")
    hub.start("olga")
    running = hub.run("delete-volume", "olga", "--yes", "--json")
    assert running.returncode == 1, _stderr(running)
    assert (
        "the server is running" in running.json[0]["error"] and "--stop" in running.json[0]["error"]
    )
    assert hub.pvc("claim-olga") is not None

    no_tty = hub.run_script("delete-volume", "olga", "--stop")  # the process's own stdin: none
    assert no_tty.returncode == 2, _stderr(no_tty)
    assert "Pass --yes" in no_tty.stderr
    assert "claim-olga" in no_tty.stdout  # what would be lost was shown
    assert hub.pvc("claim-olga") is not None and hub.user("olga")["servers"][""]["ready"]

    hub.emulator.clear_requests()
    dry = hub.run("delete-volume", "olga", "--stop", "--dry-run")
    assert dry.returncode == 0, _stderr(dry)
    assert "olga: would stop the server through the hub" in dry.stdout
    assert f"olga: would delete PVC claim-olga in {NAMESPACE}: 1Gi, Bound" in dry.stdout
    assert hub.cli_writes() == []

    result = hub.run("delete-volume", "olga", "--stop", "--yes", "--json")
    assert result.returncode == 0, _stderr(result)
    assert result.json[0]["deleted"] == ["claim-olga"]
    assert hub.pvc("claim-olga") is None
    assert hub.user("olga")["servers"][""]["stopped"]
    assert "olga: delete PVC claim-olga" in result.stderr  # the deletion is logged


@pytest.mark.parametrize("answer, deleted", [("n", False), ("y", True)])
def test_delete_volume_asks_on_a_terminal(hub: Hub, answer: str, deleted: bool) -> None:
    name = f"wendy-{answer}"
    hub.add_users(name)
    _make_pvc(hub, f"claim-{name}", name)
    terminal, user_side = pty.openpty()
    try:
        os.write(terminal, f"{answer}\n".encode())
        result = hub.run_script("delete-volume", name, stdin=user_side)
    finally:
        os.close(terminal)
        os.close(user_side)
    assert f"{name}: PVC claim-{name} in {NAMESPACE}: 1Gi" in result.stdout
    assert "Delete these 1 PVCs of 1 users? [y/N]" in result.stdout
    if deleted:
        assert result.returncode == 0, _stderr(result)
        assert hub.pvc(f"claim-{name}") is None
    else:
        assert result.returncode == 1, _stderr(result)
        assert "Nothing deleted: not confirmed." in result.stderr
        assert hub.pvc(f"claim-{name}") is not None


def test_delete_volume_all_stopped_with_a_partial_failure(hub: Hub) -> None:
    hub.add_users("paul", "quin", "rosa")
    for name in ("paul", "quin", "rosa"):
        _make_pvc(hub, f"claim-{name}", name)
    hub.start("rosa")  # running: left alone by --all-stopped
    stopped_before = {
        row["user"]
        for row in hub.run("list", "--json").json
        if row["server"] == "stopped" and row["pvcs"]
    }
    assert {"paul", "quin"} <= stopped_before and "rosa" not in stopped_before

    hub.emulator.clear_requests()
    dry = hub.run("delete-volume", "--all-stopped", "--dry-run", "--json")
    assert dry.returncode == 0, _stderr(dry)
    assert {row["user"] for row in dry.json} == stopped_before
    assert hub.cli_writes() == []

    hub.emulator.inject_fault(
        verb="delete", resource="persistentvolumeclaims", name="claim-quin", status=500
    )
    result = hub.run("delete-volume", "--all-stopped", "--yes", "--json")
    assert result.returncode == 1, _stderr(result)
    rows = {row["user"]: row for row in result.json}
    assert not rows["quin"]["ok"] and "delete PVC claim-quin" in rows["quin"]["error"]
    assert rows["paul"]["ok"] and rows["paul"]["deleted"] == ["claim-paul"]
    assert "failed: quin" in result.stderr
    assert hub.pvc("claim-paul") is None and hub.pvc("claim-quin") is not None
    assert hub.pvc("claim-rosa") is not None


def test_forbidden_names_the_missing_right(hub: Hub) -> None:
    hub.add_users("sven")
    _make_pvc(hub, "claim-sven", "sven")

    def no_pvc_deletes_for_the_cli(
        user, groups, verb, api_group, resource, subresource, namespace, name
    ):
        return not (
            user == CLI_KUBE_USER and verb == "delete" and resource == "persistentvolumeclaims"
        )

    hub.emulator.authorizer = no_pvc_deletes_for_the_cli
    try:
        result = hub.run("delete-volume", "sven", "--yes")
    finally:
        hub.emulator.authorizer = allow_all
    assert result.returncode == 1, _stderr(result)
    assert f"Could not delete PVC claim-sven in {NAMESPACE}" in result.stderr
    assert "HTTP 403" in result.stderr and "lacks this right" in result.stderr
    assert hub.pvc("claim-sven") is not None


# -- delete-project ------------------------------------------------------------------


def test_delete_project_only_deletes_the_users_own_namespace(hub: Hub) -> None:
    hub.add_users("tom", "uma")
    _make_project(hub, "tom-workspace", "tom")
    _make_project(hub, "uma-scratch", "uma", managed=False)

    foreign = hub.run("delete-project", "tom", "--project", "kube-public", "--yes", "--json")
    assert foreign.returncode == 1, _stderr(foreign)
    assert "namespace kube-public is not labelled as made for tom" in foreign.json[0]["error"]
    someone_elses = hub.run("delete-project", "tom", "--project", "uma-scratch", "--yes")
    assert someone_elses.returncode == 1 and "not labelled as made for tom" in someone_elses.stderr

    hub.emulator.clear_requests()
    dry = hub.run("delete-project", "tom", "--dry-run", "--json")
    assert dry.returncode == 0, _stderr(dry)
    assert dry.json[0]["would_delete"] == ["tom-workspace"]
    assert hub.cli_writes() == []

    result = hub.run("delete-project", "tom", "--yes", "--json")
    assert result.returncode == 0, _stderr(result)
    assert result.json[0]["deleted"] == ["tom-workspace"]
    namespace = hub.emulator.get("namespaces", "tom-workspace")
    assert namespace is None or "deletionTimestamp" in namespace["metadata"]
    assert hub.emulator.get("namespaces", "kube-public") is not None
    assert hub.emulator.get("namespaces", "uma-scratch") is not None


def test_delete_project_made_by_the_spawner_but_not_while_the_server_runs(hub: Hub) -> None:
    hub.add_users("vera")
    hub.start("vera")  # the project feature makes vera-workspace
    assert hub.emulator.get("namespaces", "vera-workspace") is not None
    result = hub.run("delete-project", "vera", "--yes")
    assert result.returncode == 1, _stderr(result)
    assert "the server is running" in result.stderr
    assert "deletionTimestamp" not in hub.emulator.get("namespaces", "vera-workspace")["metadata"]

    stopped = hub.run("delete-project", "vera", "--stop", "--yes", "--json")
    assert stopped.returncode == 0, _stderr(stopped)
    assert stopped.json[0]["actions"][0] == "stop the server through the hub"
    assert stopped.json[0]["deleted"] == ["vera-workspace"]
    namespace = hub.emulator.get("namespaces", "vera-workspace")
    assert namespace is None or "deletionTimestamp" in namespace["metadata"]
