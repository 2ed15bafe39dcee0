"""``make demo``: the emulator, the pod runner and JupyterHub with WorkspaceSpawner on this machine.

    python -m workspace_spawner_testing.demo [--data-dir .demo-data] [--port 8000]

The emulator (OpenShift mode) runs in this process; its node agent (the same one
as on a real control plane) runs the pods with the process runtime; JupyterHub
runs as a child process with :file:`demo_config.py` (next to this module), which
loads the repository's ``jupyterhub_config.py``, the admins' example, and adds
what the demo needs. Ctrl-C stops the hub (which stops the users' servers), then
the pods that are left, then the emulator. The volumes and the hub's database stay
in the data dir for the next run.

On a real control plane (:class:`Cluster`, the tests of make test-cluster), the hub
runs as its ServiceAccount and the pods run on a node of their own: a node agent
with the process runtime (``nodeagent --runner process``) that this stack starts with
the node's identity; the hub's pods select that node and tolerate its taint.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .podrunner import ProcessEmulator, SandboxUnavailable

REPO = Path(__file__).resolve().parents[2]
# the admins' example, which the demo's own config loads first
EXAMPLE_CONFIG = REPO / "jupyterhub_config.py"
DEFAULT_CONFIG = Path(__file__).with_name("demo_config.py")
# configurable-http-proxy, the Node.js proxy JupyterHub and Zero to JupyterHub run,
# installed by the Makefile from package-lock.json (npm ci)
NODE_BIN = REPO / "node_modules" / ".bin"
NAMESPACE = "jupyterhub"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    """A real control plane for the demo: the hub's, the admin's and a node's kubeconfigs."""

    hub_kubeconfig: Path
    admin_kubeconfig: Path
    node_kubeconfig: Path
    openshift: bool = False


class ProcessNode:
    """A node agent with the process runtime on a real control plane, as a child process.

    It has the identity of ``controlplane.RUNNER_NODE_NAME`` and registers that Node
    with ``controlplane.RUNNER_TAINT``; the containers' logs and scratch space are in
    ``data_dir`` (its own log: ``node-agent.log`` there).
    """

    def __init__(
        self,
        *,
        admin_kubeconfig: Path,
        node_kubeconfig: Path,
        data_dir: Path,
        ip_prefix: str = "127.0.0",
    ) -> None:
        self.admin_kubeconfig = admin_kubeconfig
        self.node_kubeconfig = node_kubeconfig
        self.data_dir = Path(data_dir)
        self.ip_prefix = ip_prefix
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log(self) -> Path:
        return self.data_dir / "node-agent.log"

    def start(self, *, timeout: float = 60) -> None:
        from .controlplane import RUNNER_NODE_NAME, RUNNER_TAINT, Client, node_ready

        taint = RUNNER_TAINT
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workspace_spawner_testing.nodeagent",
                    f"--kubeconfig={self.node_kubeconfig}",
                    f"--node={RUNNER_NODE_NAME}",
                    "--runner=process",
                    f"--data-dir={self.data_dir}",
                    f"--pod-network={self.ip_prefix}.0/24",
                    f"--register-with-taint={taint['key']}={taint['value']}:{taint['effect']}",
                ],
                cwd=self.data_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        admin = Client.from_kubeconfig(self.admin_kubeconfig)
        deadline = time.monotonic() + timeout
        while not node_ready(admin, RUNNER_NODE_NAME, own_taints=(taint,)):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the node agent exited with {self.process.returncode}; see {self.log}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"node {RUNNER_NODE_NAME} not Ready in {timeout}s")
            time.sleep(0.3)

    def stop(self, *, timeout: float = 60) -> None:
        """SIGTERM: the agent kills the processes of the pods left, then ends."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


class DemoStack:
    """The emulator with its pod runner, and a JupyterHub process using it; or, with
    ``cluster``, a node agent running pods on that control plane, and the hub."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int = 8000,
        config: str | os.PathLike[str] = DEFAULT_CONFIG,
        ip_prefix: str = "127.0.0",
        hub_log: str | os.PathLike[str] | None = None,
        api_token: str | None = None,
        extra_env: dict[str, str] | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.cluster = cluster
        self.node: ProcessNode | None = None
        self.port = port
        self.config = Path(config)
        self.ip_prefix = ip_prefix
        self.hub_log = Path(hub_log) if hub_log else None
        # an admin token of the hub's "demo-scripts" service, for benchmarks and tests
        self.api_token = api_token
        self.extra_env = dict(extra_env or {})
        if api_token:
            self.extra_env["WORKSPACE_SPAWNER_DEMO_API_TOKEN"] = api_token
        self.env: dict[str, str] = {}
        self.emulator: ProcessEmulator | None = None
        self.hub: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        if self.cluster is not None:
            return self.cluster.hub_kubeconfig
        return self.data_dir / "kubeconfig"

    @property
    def service_pids(self) -> list[int]:
        """The hub's and the node agent's processes (not the pods')."""
        pids = [self.hub.pid] if self.hub is not None else []
        return pids + ([self.node.pid] if self.node is not None else [])

    # -- what the cluster holds, on either (tests and benchmarks read it) ----------------

    def get(self, plural: str, name: str, namespace: str) -> dict | None:
        if self.emulator is not None:
            return self.emulator.get(plural, name, namespace)
        try:
            return self._admin().request("GET", f"/api/v1/namespaces/{namespace}/{plural}/{name}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def list(self, plural: str, namespace: str) -> list[dict]:
        if self.emulator is not None:
            return self.emulator.list(plural, namespace)
        return self._admin().request("GET", f"/api/v1/namespaces/{namespace}/{plural}")["items"]

    def claim_dir(self, namespace: str, claim: str) -> Path | None:
        """The directory of a claim's volume (None: the claim has no volume now)."""
        if self.emulator is not None:
            return self.emulator.runner.claim_dir(namespace, claim)
        pvc = self.get("persistentvolumeclaims", claim, namespace)
        volume = (pvc or {}).get("spec", {}).get("volumeName")
        if not volume:
            return None
        pv = self._admin().request("GET", f"/api/v1/persistentvolumes/{volume}")
        return Path(pv["spec"]["hostPath"]["path"])

    def _admin(self) -> Any:
        from .controlplane import Client

        assert self.cluster is not None
        return Client.from_kubeconfig(self.cluster.admin_kubeconfig)

    @property
    def password(self) -> str:
        """The dummy authenticator's password, made once per data dir."""
        path = self.data_dir / "password"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(9) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def start(self, *, timeout: float = 60) -> None:
        if not (NODE_BIN / "configurable-http-proxy").exists():
            raise RuntimeError(
                f"configurable-http-proxy is not in {NODE_BIN}: run "
                "`make node_modules/.installed` (npm ci) in the repository"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.cluster is None:
            self._start_emulator()
        else:
            self._start_node(timeout)
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "WORKSPACE_SPAWNER_DEMO_EXAMPLE_CONFIG": str(EXAMPLE_CONFIG),
            "WORKSPACE_SPAWNER_DEMO_DATA": str(self.data_dir),
            "WORKSPACE_SPAWNER_DEMO_URL": self.url,
            "WORKSPACE_SPAWNER_DEMO_HUB_PORT": str(free_port()),
            "WORKSPACE_SPAWNER_DEMO_PROXY_API_PORT": str(free_port()),
            "WORKSPACE_SPAWNER_DEMO_PASSWORD": self.password,
            "WORKSPACE_SPAWNER_DEMO_NAMESPACE": NAMESPACE,
            # the hub starts configurable-http-proxy by name
            "PATH": os.pathsep.join(
                [str(NODE_BIN), os.path.dirname(sys.executable), os.environ.get("PATH", "")]
            ),
            **self._placement(),
            **self.extra_env,
        }
        self.env = env
        out = open(self.hub_log, "ab") if self.hub_log else None  # noqa: SIM115
        try:
            self.hub = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config)],
                cwd=self.data_dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                stdin=subprocess.DEVNULL,
                # our own session: a Ctrl-C reaches this process only, which stops the
                # hub first (it stops the servers), then the pods, then the emulator
                start_new_session=True,
            )
        finally:
            if out:
                out.close()
        self._wait_for_hub(timeout)

    def _start_emulator(self) -> None:
        self.emulator = ProcessEmulator(
            data_dir=self.data_dir, openshift=True, ip_prefix=self.ip_prefix
        )
        self.emulator.start_in_thread()
        self.emulator.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        # The demo image's files belong to uid 1000 (docker-stacks' jovyan), so its pods
        # run as the anyuid SCC allows, granted as an OpenShift admin does it:
        # `oc adm policy add-scc-to-group anyuid system:serviceaccounts:jupyterhub`
        # (docs/admin/deployments.md); restricted-v2 would give them a uid of the range.
        self.emulator.grant_scc("anyuid", group=f"system:serviceaccounts:{NAMESPACE}")
        self.emulator.write_kubeconfig(self.kubeconfig, namespace=NAMESPACE)

    def _start_node(self, timeout: float) -> None:
        """The node agent that runs the hub's pods as processes, on the real control plane."""
        from .openshift.install import scc_group_grant

        assert self.cluster is not None
        if self.cluster.openshift:
            # as on the emulator: `oc adm policy add-scc-to-group anyuid
            # system:serviceaccounts:jupyterhub`
            self._admin().apply(
                scc_group_grant(
                    "anyuid", namespace=NAMESPACE, group=f"system:serviceaccounts:{NAMESPACE}"
                )
            )
        self.node = ProcessNode(
            admin_kubeconfig=self.cluster.admin_kubeconfig,
            node_kubeconfig=self.cluster.node_kubeconfig,
            data_dir=self.data_dir,
            ip_prefix=self.ip_prefix,
        )
        self.node.start(timeout=timeout)

    def _placement(self) -> dict[str, str]:
        """On a real control plane: the node the hub's pods go to, and its taint."""
        if self.cluster is None:
            return {}
        from .controlplane import RUNNER_NODE_NAME, RUNNER_TAINT

        return {
            "WORKSPACE_SPAWNER_DEMO_NODE": RUNNER_NODE_NAME,
            "WORKSPACE_SPAWNER_DEMO_NODE_TAINT": RUNNER_TAINT["key"],
        }

    def _wait_for_hub(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hub is not None and self.hub.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited with {self.hub.returncode}"
                    + (f"; see {self.hub_log}" if self.hub_log else "")
                )
            try:
                with urllib.request.urlopen(f"{self.url}/hub/health", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"JupyterHub did not answer at {self.url} in {timeout}s")

    def stop(self, *, timeout: float = 60) -> None:
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub.pid, signal.SIGKILL)
                self.hub.wait()
        if self.hub is not None:
            # the proxy the hub started, if the hub could not stop it
            try:
                os.killpg(self.hub.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.hub = None
        if self.node is not None:
            self.node.stop(timeout=timeout)
            self.node = None
        if self.emulator is not None:
            self.emulator.stop_thread()
            self.emulator = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workspace_spawner_testing.demo")
    parser.add_argument("--data-dir", default=".demo-data")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument(
        "--ip-prefix",
        default="127.0.0",
        help="the loopback /24 the pods' addresses come from (127.x.y)",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "make demo runs the pods in private mount namespaces and as their users: "
            "run it as root",
            file=sys.stderr,
        )
        return 2
    stack = DemoStack(args.data_dir, port=args.port, config=args.config, ip_prefix=args.ip_prefix)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start()
    except SandboxUnavailable as e:
        print(f"make demo cannot run here: {e}", file=sys.stderr)
        return 2
    except BaseException:
        stack.stop()
        raise
    print(
        f"""
workspace-spawner demo is running: {stack.url}

  Log in as any user name (alice, bob, ...) with the password: {stack.password}
  "admin" is a hub admin (Admin page: {stack.url}/hub/admin).

  Try the reset: start your server, open a terminal in JupyterLab, run
      touch .delete-volume
  then stop and start your server from File > Hub Control Panel: the spawn page
  says the volume is reset, and the image's files (Welcome.ipynb, README.md) are back.

  Kubernetes API emulator (OpenShift mode): KUBECONFIG={stack.kubeconfig}
  Volumes and the hub's database stay in {stack.data_dir} (make demo-clean removes them).
  Ctrl-C stops everything.
""",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            if stack.hub is not None and stack.hub.poll() is not None:
                print(f"JupyterHub exited with {stack.hub.returncode}", file=sys.stderr)
                break
    finally:
        print("stopping the hub, the servers and the emulator ...", flush=True)
        stack.stop()
    print("stopped; nothing is left running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
