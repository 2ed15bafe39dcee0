"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, controller manager,
scheduler (and a node agent), in one temporary directory, stopped with nothing left behind.

Modelled on controller-runtime's envtest (pkg/internal/testing/controlplane), with
what envtest leaves out and our tests need: RBAC, the default admission plugins
(PodSecurity, ValidatingAdmissionPolicy, ResourceQuota, NamespaceLifecycle, ...), a
controller manager (namespaces, garbage collection, ServiceAccount tokens, the root CA
ConfigMap, the PV binder with the host-path provisioner, resource quota), a
scheduler and a node. Each server runs in its own process group and gets SIGKILL
when the Python thread that started it dies (``PR_SET_PDEATHSIG``), so even a
killed test run leaves no server behind.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import seeds
from ..kubeconfig import Credentials
from ..nodeagent import MAX_PODS
from . import audit, pki

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES_ENV = "WORKSPACE_SPAWNER_TESTBED_BIN"
NODE_NAME = "testbed-node"
# A second node identity for a node agent that runs pods as real processes (the demo's
# on this control plane, ``--runner process``), started by whoever needs it. Its Node
# carries RUNNER_TAINT, so only pods that tolerate it (and select it) go there.
RUNNER_NODE_NAME = "testbed-runner"
RUNNER_TAINT = {"key": "workspace-spawner.test/pod-runner", "value": "true", "effect": "NoSchedule"}
ADMIN = "admin"
# static token users, stand-ins for OAuth users; carol is kept out of every test but
# one, so what she may see is exactly what that test gave her
TEST_USERS = ("alice", "bob", "carol")
SERVICE_CIDR = "10.96.0.0/16"
DEFAULT_STORAGE_CLASS = seeds.DEFAULT_STORAGE_CLASS
FIXED_STORAGE_CLASS = "fixed"
HOSTPATH_PV_ROOT = Path("/tmp/hostpath_pv")  # fixed in pkg/volume/hostpath/host_path.go
_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message names the log to read."""


@dataclass(frozen=True)
class User:
    name: str
    token: str
    groups: tuple[str, ...] = ()


def find_binaries(*, build: bool = True) -> Path:
    """The directory with the four binaries: $WORKSPACE_SPAWNER_TESTBED_BIN, else what
    ``testbed/build.sh`` prints (it builds them on first use, then only looks them up)."""
    if os.environ.get(BINARIES_ENV):
        directory = Path(os.environ[BINARIES_ENV])
    else:
        script = Path(__file__).resolve().parents[3] / "testbed" / "build.sh"
        if not (build and script.exists()):
            raise ControlPlaneError(
                f"no control-plane binaries: set {BINARIES_ENV} to the directory holding "
                f"{', '.join(BINARIES)}, or run testbed/build.sh from a checkout (needs Go "
                ">= 1.26)"
            )
        result = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True, check=True)
        directory = Path(result.stdout.strip().splitlines()[-1])
    missing = [b for b in BINARIES if not os.access(directory / b, os.X_OK)]
    if missing:
        raise ControlPlaneError(f"{directory} lacks {', '.join(missing)}: run testbed/build.sh")
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # SIGKILL the server when the thread that started it dies, however it dies
    # (https://man7.org/linux/man-pages/man2/pr_set_pdeathsig.2const.html)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class _Server:
    name: str
    process: subprocess.Popen
    log: Path


@dataclass
class ControlPlane:
    """``with ControlPlane() as cp:`` starts everything and waits until it serves.

    ``directory`` (default: a new temporary one, removed on stop) holds the certificates,
    tokens, kubeconfigs, etcd's data and one log per server (``logs/<server>.log``).
    """

    binaries: Path | None = None
    directory: Path | None = None
    node_agent: bool = True
    # the pods capacity of the node agent's node (kubelet --max-pods)
    max_pods: int = MAX_PODS
    # the VolumeSnapshot CRDs and the test snapshot controller (snapshotter.py)
    snapshots: bool = True
    users: tuple[str, ...] = TEST_USERS
    start_timeout: float = 120.0
    url: str = ""
    ca_file: Path = field(default=Path())
    started_seconds: float = 0.0
    tokens: dict[str, User] = field(default_factory=dict)
    _servers: list[_Server] = field(default_factory=list)
    _own_directory: bool = False

    # -- life cycle -----------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        began = time.monotonic()
        binaries = self.binaries or find_binaries()
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="workspace-spawner-controlplane-"))
            self._own_directory = True
        self.directory.mkdir(parents=True, exist_ok=True)
        for sub in ("pki", "logs", "etcd"):
            (self.directory / sub).mkdir(exist_ok=True)
        atexit.register(self.stop)
        try:
            self._start(binaries)
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - began
        return self

    def _start(self, binaries: Path) -> None:
        assert self.directory is not None
        d = self.directory
        certs = self._make_pki()
        self._make_users()
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(binaries / "etcd"),
                "--name=testbed",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=testbed={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self.url = f"https://127.0.0.1:{api_port}"
        self.ca_file = certs["ca"].cert
        self._spawn(
            "kube-apiserver",
            [
                str(binaries / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # the endpoint reconciler refuses a loopback address for the kubernetes Service;
                # nothing here reaches the API through that Service
                "--endpoint-reconciler-type=none",
                f"--secure-port={api_port}",
                f"--tls-cert-file={certs['apiserver'].cert}",
                f"--tls-private-key-file={certs['apiserver'].key}",
                f"--client-ca-file={certs['ca'].cert}",
                f"--token-auth-file={d / 'tokens.csv'}",
                # the Node authorizer and NodeRestriction confine the node agent to its own
                # node and pods, as a kubelet is confined
                # (https://kubernetes.io/docs/reference/access-authn-authz/node/)
                "--authorization-mode=Node,RBAC",
                # on top of the defaults (which include PodSecurity, ValidatingAdmissionPolicy,
                # ResourceQuota, NamespaceLifecycle, DefaultStorageClass,
                # PersistentVolumeClaimResize): NodeRestriction, as kubeadm enables it
                "--enable-admission-plugins=NodeRestriction",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={certs['sa'].cert}",
                f"--service-account-signing-key-file={certs['sa'].key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                # the aggregation layer, for aggregated API servers (OpenShift's projects)
                f"--requestheader-client-ca-file={certs['front-proxy-ca'].cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={certs['front-proxy-client'].cert}",
                f"--proxy-client-key-file={certs['front-proxy-client'].key}",
                f"--cert-dir={d / 'pki'}",
                # the hub's requests, for the tests that count them (controlplane.audit)
                f"--audit-policy-file={self._audit_policy()}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--v=1",
            ],
        )
        self._wait_ready("kube-apiserver", self.url + "/readyz", token=self.admin_token)
        kcm_port, sched_port = free_port(), free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries / "kube-controller-manager"),
                f"--kubeconfig={self._component_kubeconfig('kube-controller-manager')}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--tls-cert-file={certs['kube-controller-manager'].cert}",
                f"--tls-private-key-file={certs['kube-controller-manager'].key}",
                f"--service-account-private-key-file={certs['sa'].key}",
                f"--root-ca-file={certs['ca'].cert}",
                # each controller acts as its own ServiceAccount with its own RBAC role
                "--use-service-account-credentials=true",
                # still in 1.37 (cmd/kube-controller-manager/app/options/
                # persistentvolumebindercontroller.go): claims of a kubernetes.io/host-path
                # StorageClass get a PV under /tmp/hostpath_pv
                "--enable-hostpath-provisioner=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # a lost node's pods go at once: there is one node and it is ours
                "--node-monitor-grace-period=20s",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(binaries / "kube-scheduler"),
                f"--kubeconfig={self._component_kubeconfig('kube-scheduler')}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                f"--tls-cert-file={certs['kube-scheduler'].cert}",
                f"--tls-private-key-file={certs['kube-scheduler'].key}",
                "--v=1",
            ],
        )
        self._wait_ready("kube-controller-manager", f"https://127.0.0.1:{kcm_port}/healthz")
        self._wait_ready("kube-scheduler", f"https://127.0.0.1:{sched_port}/healthz")
        self._bootstrap()
        if self.snapshots:
            self.start_snapshots()
        if self.node_agent:
            self.start_node_agent()

    def start_snapshots(self) -> None:
        """The VolumeSnapshot CRDs, a default VolumeSnapshotClass, and the test snapshot
        controller (``snapshotter.py``) as one more server process."""
        from .snapshot_crds import GROUP, SNAPSHOT_CRDS
        from .snapshotter import snapshot_class

        assert self.directory is not None
        for crd in SNAPSHOT_CRDS:
            self.apply(crd)
        self._wait_for(
            lambda: self.request("GET", f"/apis/{GROUP}/v1/volumesnapshotclasses") is not None,
            "the VolumeSnapshot CRDs: served",
        )
        self.apply(snapshot_class())
        kubeconfig = self.write_kubeconfig(self.directory / "snapshotter.kubeconfig")
        self._spawn(
            "snapshotter",
            [
                sys.executable,
                "-m",
                "workspace_spawner_testing.controlplane.snapshotter",
                f"--kubeconfig={kubeconfig}",
                f"--data={self.directory / 'snapshots'}",
            ],
        )

    def start_node_agent(self, *, runner: str = "status") -> None:
        """The status-only node agent (``nodeagent.py``) as one more server process."""
        assert self.directory is not None
        kubeconfig = self.write_kubeconfig(
            self.directory / "node.kubeconfig", user=f"system:node:{NODE_NAME}"
        )
        self._spawn(
            "node-agent",
            [
                sys.executable,
                "-m",
                "workspace_spawner_testing.nodeagent",
                f"--kubeconfig={kubeconfig}",
                f"--node={NODE_NAME}",
                f"--runner={runner}",
                f"--max-pods={self.max_pods}",
            ],
        )
        self._wait_for(lambda: self._node_ready(), "node agent: Node Ready, untainted")

    def stop(self) -> None:
        """Stop every server (SIGTERM, then SIGKILL to its process group); remove the
        host-path volumes this control plane provisioned and its own directory."""
        atexit.unregister(self.stop)
        volumes = self._provisioned_volumes() if self._servers else []
        # one after the other, clients before the servers they use (etcd last)
        for server in reversed(self._servers):
            _signal_group(server.process, signal.SIGTERM)
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(server.process, signal.SIGKILL)  # and whatever it started
            server.process.wait()
        self._servers.clear()
        for path in volumes:
            shutil.rmtree(path, ignore_errors=True)
        if self._own_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
            self._own_directory = False

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._servers]

    # -- identities -----------------------------------------------------------------

    @property
    def admin_token(self) -> str:
        return self.tokens[ADMIN].token

    def _make_pki(self) -> dict[str, pki.KeyPair]:
        assert self.directory is not None
        d = self.directory / "pki"
        ca = pki.make_ca(directory=d, name="ca", common_name="workspace-spawner-testbed-ca")
        front_ca = pki.make_ca(
            directory=d,
            name="front-proxy-ca",
            common_name="workspace-spawner-testbed-front-proxy-ca",
        )
        local = {"dns_names": ("localhost",), "ips": ("127.0.0.1",)}
        certs = {
            "ca": ca,
            "front-proxy-ca": front_ca,
            "apiserver": pki.issue(
                ca=ca,
                directory=d,
                name="apiserver",
                common_name="kube-apiserver",
                server=True,
                dns_names=(
                    "localhost",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                ),
                ips=("127.0.0.1", "10.96.0.1"),
            ),
            "front-proxy-client": pki.issue(
                ca=front_ca,
                directory=d,
                name="front-proxy-client",
                common_name="front-proxy-client",
                client=True,
            ),
            "sa": pki.make_signing_key(directory=d, name="sa"),
        }
        for name in ("kube-controller-manager", "kube-scheduler"):
            certs[name] = pki.issue(
                ca=ca, directory=d, name=name, common_name=name, server=True, **local
            )
        return certs

    def _make_users(self) -> None:
        """Static tokens (--token-auth-file: token,user,uid,"groups")."""
        assert self.directory is not None
        users = [
            User(ADMIN, secrets.token_hex(16), ("system:masters",)),
            User("kube-controller-manager", secrets.token_hex(16)),
            User("kube-scheduler", secrets.token_hex(16)),
            User(f"system:node:{NODE_NAME}", secrets.token_hex(16), ("system:nodes",)),
            User(f"system:node:{RUNNER_NODE_NAME}", secrets.token_hex(16), ("system:nodes",)),
        ]
        users += [User(name, secrets.token_hex(16)) for name in self.users]
        # the components' users are the ones their default RBAC roles are bound to
        names = {
            "kube-controller-manager": "system:kube-controller-manager",
            "kube-scheduler": "system:kube-scheduler",
        }
        lines = []
        for user in users:
            self.tokens[user.name] = user
            groups = ",".join(user.groups)
            lines.append(f'{user.token},{names.get(user.name, user.name)},{user.name},"{groups}"')
        path = self.directory / "tokens.csv"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        user: str = ADMIN,
        token: str | None = None,
        namespace: str | None = None,
    ) -> Path:
        """A kubeconfig for ``user`` (a static token user) or any ``token``."""
        context: dict[str, Any] = {"cluster": "testbed", "user": user}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "testbed",
            "clusters": [
                {
                    "name": "testbed",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "contexts": [{"name": "testbed", "context": context}],
            "users": [{"name": user, "user": {"token": token or self.tokens[user].token}}],
            "preferences": {},
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    # -- talking to it --------------------------------------------------------------

    @property
    def admin(self) -> Client:
        """The admin's client (``system:masters``)."""
        return Client(self.url, self.ca_file, self.admin_token)

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        return self.admin.request(method, path, body)

    def apply(self, obj: dict) -> dict:
        return self.admin.apply(obj)

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def audit_log(self) -> Path:
        """The kube-apiserver's audit log of the hub's requests (controlplane.audit)."""
        assert self.directory is not None
        return self.directory / "logs" / "audit.log"

    # -- internals ------------------------------------------------------------------

    def _audit_policy(self) -> Path:
        assert self.directory is not None
        path = self.directory / "audit-policy.json"
        path.write_text(json.dumps(audit.policy()))
        return path

    def _component_kubeconfig(self, name: str) -> Path:
        assert self.directory is not None
        return self.write_kubeconfig(self.directory / f"{name}.kubeconfig", user=name)

    def _spawn(self, name: str, args: list[str]) -> None:
        assert self.directory is not None
        log = self.directory / "logs" / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                cwd=self.directory,
            )
        self._servers.append(_Server(name, process, log))

    def _check_alive(self) -> None:
        for server in self._servers:
            if server.process.poll() is not None:
                tail = server.log.read_text(errors="replace").splitlines()[-15:]
                raise ControlPlaneError(
                    f"{server.name} exited with {server.process.returncode}; its log "
                    f"{server.log} ends:\n" + "\n".join(tail)
                )

    def _wait_for(self, ok: Any, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_alive()
            try:
                if ok():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{what}: not ready after {self.start_timeout}s (logs in {self.directory}/logs)"
                )
            time.sleep(0.1)

    def _wait_ready(self, name: str, url: str, *, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def ready() -> bool:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, context=self._ssl(), timeout=5) as answer:
                return answer.status == 200

        self._wait_for(ready, f"{name} {url}")

    def _bootstrap(self) -> None:
        # the controller manager runs: the default ServiceAccount and the root CA
        # ConfigMap appear in every namespace
        self._wait_for(
            lambda: (
                self.request("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
                and self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            ),
            "kube-controller-manager: root CA ConfigMap and default ServiceAccount",
        )
        for name, expandable, default in (
            (DEFAULT_STORAGE_CLASS, True, True),
            (FIXED_STORAGE_CLASS, False, False),
        ):
            self.apply(
                seeds.storage_class(
                    name=name,
                    provisioner="kubernetes.io/host-path",
                    expandable=expandable,
                    default=default,
                )
            )

    def _node_ready(self) -> bool:
        return node_ready(self.admin, NODE_NAME)

    def write_node_kubeconfig(self, path: str | Path, *, node: str = RUNNER_NODE_NAME) -> Path:
        """A kubeconfig with the identity of ``node`` (``system:node:<node>``)."""
        return self.write_kubeconfig(path, user=f"system:node:{node}")

    def _provisioned_volumes(self) -> list[Path]:
        try:
            pvs = self.request("GET", "/api/v1/persistentvolumes")["items"]
        except (OSError, urllib.error.URLError):
            return []
        paths = [
            Path(pv["spec"]["hostPath"]["path"]) for pv in pvs if "hostPath" in pv.get("spec", {})
        ]
        return [p for p in paths if p.parent == HOSTPATH_PV_ROOT]


def node_ready(admin: Client, name: str, *, own_taints: tuple[dict, ...] = ()) -> bool:
    """Is the Node Ready, with no taints but ``own_taints`` (those it registered with)?"""
    try:
        node = admin.request("GET", f"/api/v1/nodes/{name}")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )
    # the node lifecycle controller lifts the not-ready taint once Ready is True
    keys = {t["key"] for t in own_taints}
    return ready and not [t for t in node["spec"].get("taints") or [] if t["key"] not in keys]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@dataclass(frozen=True)
class Client:
    """A few synchronous API calls with a bearer token (setting up, not testing)."""

    url: str
    ca_file: Path
    token: str

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> Client:
        credentials = Credentials.from_kubeconfig(path)
        return cls(credentials.server, Path(credentials.ca_file or ""), credentials.token)

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> Any:
        """One API call; the decoded answer (urllib.error.HTTPError on failure)."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def apply(self, obj: dict) -> dict:
        """Create ``obj``, or replace it if it exists (by name)."""
        path = resource_path(obj)
        try:
            return self.request("POST", path.collection, obj)
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise _api_error(e) from None
        current = self.request("GET", path.item)
        obj = {
            **obj,
            "metadata": {
                **obj["metadata"],
                "resourceVersion": current["metadata"]["resourceVersion"],
            },
        }
        return self.request("PUT", path.item, obj)


@dataclass(frozen=True)
class _Path:
    collection: str
    item: str


def resource_path(obj: dict) -> _Path:
    """The REST paths of a manifest's collection and item (core and named groups)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    plural = _PLURALS.get(kind, kind.lower() + "s")
    namespace = obj["metadata"].get("namespace")
    base = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    return _Path(base, f"{base}/{obj['metadata']['name']}")


_PLURALS = {
    "StorageClass": "storageclasses",
    "PriorityClass": "priorityclasses",
    "NetworkPolicy": "networkpolicies",
    "ResourceQuota": "resourcequotas",
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "VolumeSnapshotClass": "volumesnapshotclasses",
}


def _api_error(error: urllib.error.HTTPError) -> ControlPlaneError:
    body = error.read().decode(errors="replace")
    return ControlPlaneError(f"{error.code} {error.reason}: {body}")
