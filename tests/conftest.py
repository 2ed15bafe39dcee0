"""Fixtures every test codes against: `kube`, `cluster`, `emulator`, `openshift_emulator`,
`make_spawner`.

KUBECONFIG is set before anything imports kubernetes_asyncio, which reads the default
kubeconfig location at import time. With WORKSPACE_SPAWNER_TEST_KUBECONFIG set, `kube`
talks to that cluster instead (a fresh namespace per test) and emulator-only tests skip.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import urllib.error
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="workspace-spawner-tests-"))
# make test-cluster: the hub ServiceAccount's kubeconfig (what the spawner uses) and the
# admin's (who sets up each test's namespace), from workspace_spawner_testing.controlplane
REAL_KUBECONFIG = os.environ.get("WORKSPACE_SPAWNER_TEST_KUBECONFIG")
REAL_ADMIN_KUBECONFIG = os.environ.get("WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG", REAL_KUBECONFIG)
HELM_VALUES = Path(__file__).resolve().parent.parent / "helm-values"
# the OpenShift pass of make test-cluster: the control plane carries OpenShift's project
# API and SCC admission (workspace_spawner_testing.openshift); this names its description
REAL_OPENSHIFT = os.environ.get("WORKSPACE_SPAWNER_TEST_OPENSHIFT")
KUBECONFIG = Path(REAL_KUBECONFIG) if REAL_KUBECONFIG else _SESSION_DIR / "kubeconfig"
os.environ["KUBECONFIG"] = str(KUBECONFIG)

import pytest  # noqa: E402

HUB_NAMESPACE = "jupyterhub"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "openshift: run the test with the emulator in "
        "OpenShift mode, and in the OpenShift pass of "
        "make test-cluster",
    )
    config.addinivalue_line(
        "markers",
        "demo_on_cluster: runs its own demo stack, which make test-cluster puts on the real "
        "control plane (tests/e2e/demo_stack.py): in both of its passes",
    )
    config.addinivalue_line(
        "markers",
        "pods_on_cluster: runs pods for real without the kube fixture "
        "(tests/integration/podrunner_support.py): make test-cluster runs it with the node "
        "agent's process runtime",
    )


def wants_openshift(item: pytest.Item) -> bool:
    """Marked ``openshift``, or run with ``kube`` parametrized to "openshift"."""
    callspec = getattr(item, "callspec", None)
    return bool(item.get_closest_marker("openshift")) or (
        callspec is not None and callspec.params.get("kube") == "openshift"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The emulator does not enforce Pod Security, admission policies or RBAC escalation
    # checks, so a test whose point is one of them would pass for the wrong reason there.
    if REAL_KUBECONFIG:
        # a test that never reaches a cluster (its own demo stack, pure functions) proves
        # nothing more here than in make test
        off = pytest.mark.skip(
            reason="does not use the cluster (no kube fixture): make test runs it"
        )
        for item in items:
            if "kube" not in getattr(item, "fixturenames", ()) and not any(
                item.get_closest_marker(m)
                for m in ("real_cluster", "demo_on_cluster", "pods_on_cluster")
            ):
                item.add_marker(off)
        # each test runs on the control plane of its own kind: plain Kubernetes, or
        # with OpenShift's pieces (the second pass); the other pass leaves it out
        selected = [
            i
            for i in items
            if i.get_closest_marker("demo_on_cluster") or wants_openshift(i) == bool(REAL_OPENSHIFT)
        ]
        if len(selected) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in selected])
            items[:] = selected
        return
    skip = pytest.mark.skip(reason="needs a real kube-apiserver's enforcement: make test-cluster")
    for item in items:
        if item.get_closest_marker("real_cluster"):
            item.add_marker(skip)


@dataclass
class Kube:
    namespace: str
    kubeconfig: Path
    emulator: Any  # Emulator | None
    real: bool
    admin_kubeconfig: Path | None = None

    @asynccontextmanager
    async def api_client(self, *, admin: bool = False) -> AsyncIterator[Any]:
        """With the spawner's identity; ``admin=True``: the cluster admin's (the same on
        the emulator)."""
        from kubernetes_asyncio import client, config

        kubeconfig = self.admin_kubeconfig if admin and self.admin_kubeconfig else self.kubeconfig
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        async with client.ApiClient(configuration) as api:
            yield api


@pytest.fixture(scope="session")
def _session_emulator() -> Iterator[Any]:
    if REAL_KUBECONFIG:
        yield None
        return
    from workspace_spawner_testing.emulator import Emulator

    emulator = Emulator(namespace_finalize_seconds=0.05).start_in_thread()
    emulator.write_kubeconfig(KUBECONFIG)
    yield emulator
    emulator.stop_thread()


@pytest.fixture
async def kube(request: pytest.FixtureRequest, _session_emulator: Any) -> AsyncIterator[Kube]:
    from kubespawner.clients import load_config

    load_config.cache_clear()
    if _session_emulator is None:
        marker = request.node.get_closest_marker("emulator_only")
        if marker:
            pytest.skip(
                "needs the emulator: "
                + marker.kwargs.get(
                    "reason", "its own controls (request log, faults, simulated kubelet)"
                )
            )
        async for kube in _real_namespace():
            yield kube
        return
    openshift = (
        bool(request.node.get_closest_marker("openshift"))
        or getattr(request, "param", None) == "openshift"
    )
    _session_emulator.reset(openshift=openshift)
    _session_emulator.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HUB_NAMESPACE}}
    )
    yield Kube(HUB_NAMESPACE, KUBECONFIG, _session_emulator, False)


async def _real_namespace() -> AsyncIterator[Kube]:
    """A fresh namespace the admin makes, with the hub's shipped roles bound in it."""
    from workspace_spawner_testing.controlplane import Client, grant_hub

    assert REAL_ADMIN_KUBECONFIG
    admin = Client.from_kubeconfig(REAL_ADMIN_KUBECONFIG)
    namespace = f"wstest-{uuid.uuid4().hex[:8]}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    grant_hub(admin, helm_values=HELM_VALUES, namespace=namespace)
    yield Kube(namespace, KUBECONFIG, None, True, Path(REAL_ADMIN_KUBECONFIG))
    try:
        admin.request("DELETE", f"/api/v1/namespaces/{namespace}")
    except urllib.error.HTTPError as e:
        if e.code != 404:  # the test deleted it itself
            raise


@pytest.fixture
def cluster(kube: Kube) -> Any:
    """The cluster's objects as its admin, on either tier: ``create``, ``get`` (None when
    absent), ``list``, ``patch``, ``delete`` and ``openshift``; the emulator's own object
    API, or the same calls over REST on a real cluster (controlplane.objects)."""
    if kube.emulator is not None:
        return kube.emulator
    from workspace_spawner_testing.controlplane import Client
    from workspace_spawner_testing.controlplane.objects import ClusterObjects

    assert kube.admin_kubeconfig
    return ClusterObjects(Client.from_kubeconfig(kube.admin_kubeconfig))


@pytest.fixture
def termination(kube: Kube, cluster: Any) -> Any:
    """``hold(namespace)`` keeps a namespace Terminating once deleted until ``release``:
    the emulator's own control; on a real cluster an object with a finalizer of ours
    inside it, which the namespace controller must wait for."""
    finalizer = "workspace-spawner.test/hold"

    class Termination:
        def hold(self, namespace: str) -> None:
            if kube.emulator is not None:
                return kube.emulator.hold_namespace_termination(namespace)
            cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "hold", "namespace": namespace, "finalizers": [finalizer]},
                }
            )

        def release(self, namespace: str) -> None:
            if kube.emulator is not None:
                return kube.emulator.release_namespace_termination(namespace)
            cluster.patch("ConfigMap", "hold", {"metadata": {"finalizers": None}}, namespace)

    return Termination()


@pytest.fixture
def api_log(kube: Kube) -> Any:
    """The requests the API server saw since ``clear_requests()`` (or the test's start):
    ``requests``, each with user, verb, path, resource, namespace and name. The
    emulator's request log (every client's: the test's kubeconfig is the only one, or
    the hub's ServiceAccount where a test installs RBAC); on a real cluster the
    kube-apiserver's audit log of the hub's ServiceAccount, which the kubeconfig is
    there (controlplane.audit)."""
    if kube.emulator is not None:
        kube.emulator.clear_requests()
        return kube.emulator
    from workspace_spawner_testing.controlplane.audit import HUB_USER, AuditLog

    path = os.environ.get("WORKSPACE_SPAWNER_TEST_AUDIT_LOG")
    if not path:
        pytest.skip("needs the control plane's audit log (WORKSPACE_SPAWNER_TEST_AUDIT_LOG)")
    log = AuditLog(path, user=HUB_USER)
    log.clear_requests()
    return log


@pytest.fixture
def faults(kube: Kube, cluster: Any, tmp_path: Path) -> Iterator[Any]:
    """``inject_fault(verb=, resource=, status=, count=)`` and ``clear()`` on either tier:
    the emulator's faults, or a webhook of the test's own answering the hub's writes with
    the status (controlplane.faults; it sees no reads, nor an aggregated API's requests).
    Each returns the fault, whose ``count`` is what is left of it."""
    if kube.emulator is not None:
        yield SimpleNamespace(
            inject_fault=kube.emulator.inject_fault, clear=kube.emulator.faults.clear
        )
        return
    from workspace_spawner_testing.controlplane.audit import HUB_USER
    from workspace_spawner_testing.controlplane.faults import AdmissionFaults

    with AdmissionFaults(cluster.client, directory=tmp_path) as webhook:
        yield SimpleNamespace(
            inject_fault=functools.partial(webhook.inject_fault, user=HUB_USER), clear=webhook.clear
        )


@pytest.fixture
def emulator(kube: Kube) -> Any:
    if kube.emulator is None:
        pytest.skip(
            "needs the emulator: the test steers or reads it (its store, kubelet, "
            "request log or faults)"
        )
    return kube.emulator


@pytest.fixture
def openshift_emulator(
    request: pytest.FixtureRequest, _session_emulator: Any, kube: Kube, cluster: Any
) -> Any:
    """The emulator in OpenShift mode (projects served, discovery shows them). In the
    OpenShift pass of make test-cluster (tests marked ``openshift``), the real cluster's
    objects (``cluster``), whose projects the stand-in serves: one test judges both."""
    if kube.emulator is None:
        if not REAL_OPENSHIFT:
            pytest.skip("needs the emulator's OpenShift mode or make test-cluster's OpenShift pass")
        return cluster
    if not kube.emulator.openshift:
        kube.emulator.reset(openshift=True)
        kube.emulator.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HUB_NAMESPACE}}
        )
    return kube.emulator


@pytest.fixture(autouse=True)
async def _stop_reflectors() -> AsyncIterator[None]:
    yield
    from kubespawner import KubeSpawner

    await KubeSpawner._stop_all_reflectors()
    KubeSpawner.reflectors.clear()
    # kubespawner.clients.shared_client keeps one client per event loop and closes it
    # when its close_client_task is cancelled, which it leaves to JupyterHub's shutdown.
    # Each test has its own loop: close them here, or their sockets to the API server
    # are garbage-collected open (ResourceWarning, an error here) in a later test.
    closers = [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.endswith("close_client_task")
    ]
    for task in closers:
        task.cancel()
    await asyncio.gather(*closers, return_exceptions=True)
    await asyncio.sleep(0)
    _abort_open_transports()
    await asyncio.sleep(0)


def _abort_open_transports() -> None:
    """Close the sockets the test's clients left to their TLS shutdown.

    Closing a client over TLS (kube-apiserver's HTTPS) starts the TLS shutdown, which
    closes the socket only once the server's close_notify came back, some loop iterations
    later (asyncio/sslproto.py); the test's event loop is closed first, so the socket was
    garbage-collected open in a later test (ResourceWarning, an error here). The test is
    over: whatever the loop still carries is closed at once.
    """
    loop = asyncio.get_running_loop()
    # the selector loop's transports, by file descriptor (asyncio/selector_events.py)
    for transport in list(getattr(loop, "_transports", {}).values()):
        if transport is not None:
            transport.abort()  # closes the socket in the next iteration, whatever its state


class _User:
    """What a Spawner reads of JupyterHub's User (jupyterhub/user.py)."""

    def __init__(self, name: str, uid: int) -> None:
        from jupyterhub.utils import url_escape_path

        self.name = name
        self.id = uid
        self.escaped_name = url_escape_path(name)
        self.url = f"/user/{self.escaped_name}/"
        self.base_url = self.url
        self.groups: list[Any] = []
        self.admin = False
        self.server = None
        self.settings: dict[str, Any] = {}
        self.spawners: dict[str, Any] = {}

    async def get_auth_state(self) -> dict | None:
        # JupyterHub answers None when c.Authenticator.enable_auth_state is off
        return None

    def progress_url(self, server_name: str = "") -> str:
        return f"/hub/api/users/{self.escaped_name}/servers/{server_name}/progress"

    def url_for(self, path: str = "") -> str:  # pragma: no cover - only for completeness
        return self.url + path


@pytest.fixture
def make_spawner(kube: Kube) -> Any:
    from jupyterhub.objects import Hub
    from traitlets.config import Config

    from workspace_spawner import WorkspaceSpawner

    counter = iter(range(1, 10_000))

    def make(
        username: str = "alice",
        *,
        spawner_class: type = WorkspaceSpawner,
        servername: str = "",
        config: Config | None = None,
        state: dict | None = None,
        **trait_values: Any,
    ) -> Any:
        cfg = Config()
        section = cfg[spawner_class.__name__]
        section.namespace = kube.namespace
        section.start_timeout = 30
        section.k8s_api_request_timeout = 3
        section.k8s_api_request_retry_timeout = 10
        section.delete_grace_period = 1
        if config is not None:
            cfg.merge(config)
        hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
        user = _User(username, next(counter))
        # JupyterHub's ORM row for the server, without a database: name and server
        orm_spawner = SimpleNamespace(
            name=servername,
            server=None,
            last_activity=None,
            user=None,
            state=None,
            user_options=None,
        )
        spawner = spawner_class(
            config=cfg,
            user=user,
            orm_spawner=orm_spawner,
            hub=hub,
            api_token="test-token",
            oauth_client_id=f"jupyterhub-user-{username}",
            **trait_values,
        )
        if state is not None:
            spawner.load_state(state)
        return spawner

    return make


@pytest.fixture(autouse=True)
def _fresh_conda_configmap_cache() -> Iterator[None]:
    """Each test starts as a new hub process: no ConfigMap known to be current."""
    yield
    from workspace_spawner.conda import CondaMixin

    CondaMixin.reset_caches()


# The workspace volume as Zero to JupyterHub mounts it: the user's PVC at the home.
Z2JH_HOME_VOLUME = {
    "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}"}}],
    "volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"}],
    # only this volume: the workspace volume feature (its init container) stays off
    "storage_pvc_ensure": False,
}


@pytest.fixture
def conda_spawner(make_spawner: Any) -> Any:
    """``conda_spawner(**traits)``: alice's WorkspaceSpawner with z2jh's home volume.

    For the conda tests that need its pod manifest (unit and e2e tiers).
    """

    def make(**traits: Any) -> Any:
        return make_spawner("alice", **{**Z2JH_HOME_VOLUME, **traits})

    return make
