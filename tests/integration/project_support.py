"""Helpers of the project feature's integration tests: the hub as its ServiceAccount with
exactly the RBAC an admin installs: the chart's own hub Role plus every RBAC file in
helm-values/ (the project's, and those of the features that are on by default)."""

from __future__ import annotations

from pathlib import Path

import yaml

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
