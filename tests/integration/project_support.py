"""Helpers and fixtures of the project feature's integration tests: the hub as its
ServiceAccount with exactly the RBAC an admin installs: the chart's own hub Role plus every
RBAC file in helm-values/ (the project's, and those of the features that are on by default),
and spawners with the feature on.

A test module takes the fixtures as its attributes (``hub = project_support.hub``): pytest
finds fixtures in the test module's namespace, and this module is no conftest, so only the
project tests get them (``fresh_caches`` is autouse).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from kubespawner.clients import load_config

from workspace_spawner.project.mixin import ProjectMixin
from workspace_spawner_testing.emulator.rbac import Rbac

REPO = Path(__file__).resolve().parents[2]
RBAC_YAML = REPO / "helm-values" / "workspace-project-rbac.yaml"
# Kubernetes mode only: the hub makes and deletes Namespaces
KUBERNETES_RBAC_YAML = REPO / "helm-values" / "workspace-project-rbac-kubernetes.yaml"
OTHER_RBAC_YAMLS = sorted(
    p
    for p in (REPO / "helm-values").glob("*rbac*.yaml")
    if p not in (RBAC_YAML, KUBERNETES_RBAC_YAML)
)

# Zero to JupyterHub 4.x templates/hub/rbac.yaml: the hub's Role in its namespace
CHART_HUB_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "hub", "namespace": "jupyterhub"},
    "rules": [
        {
            "apiGroups": [""],
            "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
            "verbs": ["get", "watch", "list", "create", "delete"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]},
    ],
}
CHART_HUB_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "hub", "namespace": "jupyterhub"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
    "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": "jupyterhub"}],
}
HUB_USER = "system:serviceaccount:jupyterhub:hub"
PROJECT = {"workspace_project_enabled": True}


def project_rbac_objects(*, openshift: bool = False) -> list[dict]:
    return _objects(RBAC_YAML) + ([] if openshift else _objects(KUBERNETES_RBAC_YAML))


def _objects(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def install_hub_rbac(emulator, *, with_project_rbac: bool = True) -> tuple[Rbac, str]:
    """RBAC on, the chart's hub Role and (unless told not to) the project RBAC; the hub's token."""
    rbac = Rbac.install(emulator)
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "hub", "namespace": "jupyterhub"},
        }
    )
    emulator.create(CHART_HUB_ROLE)
    emulator.create(CHART_HUB_BINDING)
    for path in OTHER_RBAC_YAMLS:
        for obj in _objects(path):
            # applied with `kubectl apply -n <hub namespace>`, as their comments say
            if obj["kind"] in ("Role", "RoleBinding"):
                obj["metadata"].setdefault("namespace", "jupyterhub")
            emulator.create(obj)
    if with_project_rbac:
        for obj in project_rbac_objects(openshift=emulator.openshift):
            emulator.create(obj)
    return rbac, rbac.service_account_token("jupyterhub", "hub")


class ClusterAccounts:
    """ServiceAccount tokens on the real control plane, as the emulator's
    ``Rbac.service_account_token`` gives them: the TokenRequest API, as the admin."""

    def __init__(self, admin) -> None:
        self.admin = admin

    def service_account_token(self, namespace: str, name: str) -> str:
        return self.admin.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )["status"]["token"]


def kubeconfig_with_token(source: Path, path: Path, token: str) -> Path:
    """``source`` (the same server and CA) for the bearer ``token``: another identity."""
    config = yaml.safe_load(source.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def project(kube, cluster):
    """``project(user)``: the name of the user's project. On a real cluster each test has
    its own (namespaces outlive a test, and take a while to go), deleted afterwards."""
    suffix = f"-{uuid.uuid4().hex[:6]}" if kube.real else "-workspace"
    made = set()

    def name(username="alice"):
        made.add(f"{username}{suffix}")
        return f"{username}{suffix}"

    name.template = "{username}" + suffix
    yield name
    if kube.real:
        for each in made:
            if (namespace := cluster.get("Namespace", each)) and not namespace["metadata"].get(
                "deletionTimestamp"
            ):
                cluster.delete("Namespace", each)


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test is a new hub process: the per-process facts (OpenShift or not, the pods'
    default ServiceAccount, the conda ConfigMap) are asked afresh."""
    ProjectMixin.reset_caches()
    yield
    ProjectMixin.reset_caches()


@pytest.fixture
def hub(kube, cluster):
    """The hub runs as its ServiceAccount under the shipped RBAC; what gives the tokens of
    other ServiceAccounts. On the emulator its kubeconfig holds that token while the test
    runs; the real control plane's harness made the hub so (controlplane.setup_hub)."""
    if kube.real:
        yield ClusterAccounts(cluster.client)
        return
    rbac, token = install_hub_rbac(cluster)
    admin = kube.kubeconfig.read_text()
    cluster.write_kubeconfig(kube.kubeconfig, token=token)
    load_config.cache_clear()
    yield rbac
    kube.kubeconfig.write_text(admin)
    load_config.cache_clear()


@pytest.fixture
def spawn(make_spawner, hub, project):
    """make_spawner with the project feature on, named by ``project``."""

    def make(username="alice", **traits):
        project(username)
        traits = {**PROJECT, "workspace_project_template": project.template, **traits}
        return make_spawner(username, **traits)

    return make


async def stop(spawner):
    await spawner.stop(now=True)


def hub_requests(api_log):
    """The requests of the hub's ServiceAccount in ``api_log`` (the emulator's request log,
    or the real kube-apiserver's audit log): the spawner's, not the test's own."""
    return [r for r in api_log.requests if r.user == HUB_USER]
