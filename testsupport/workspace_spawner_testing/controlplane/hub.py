"""The hub's identity on the real control plane: the ServiceAccount ``hub`` holding
exactly the RBAC we ship, Zero to JupyterHub's hub Role plus helm-values/*rbac*.yaml.

Tests run the spawner with this ServiceAccount's token, while the admin sets up
each test's namespace: :func:`grant_hub` binds the same namespaced roles there, as
an admin does with ``kubectl apply -n <namespace> -f helm-values/...``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from .cluster import Client, ControlPlane

HUB_SERVICE_ACCOUNT = "hub"

# Zero to JupyterHub 4.x templates/hub/rbac.yaml, the Role its hub ServiceAccount gets
# in the release namespace
# (https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/4.x/jupyterhub/templates/hub/rbac.yaml)
Z2JH_HUB_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "hub"},
    "rules": [
        {
            "apiGroups": [""],
            "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
            "verbs": ["get", "watch", "list", "create", "delete"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]},
    ],
}
Z2JH_HUB_ROLE_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "hub"},
    "subjects": [{"kind": "ServiceAccount", "name": HUB_SERVICE_ACCOUNT}],
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
}


def shipped_rbac(helm_values: Path, *, openshift: bool = False) -> list[dict]:
    """The RBAC objects of helm-values/ (every ``*rbac*.yaml``), z2jh's first. On
    OpenShift without the ``*rbac-kubernetes.yaml`` files, which are for Kubernetes only
    (the hub makes namespaces itself there), as helm-values/README.md says."""
    objects = [Z2JH_HUB_ROLE, Z2JH_HUB_ROLE_BINDING]
    for path in sorted(helm_values.glob("*rbac*.yaml")):
        if openshift and path.name.endswith("rbac-kubernetes.yaml"):
            continue
        objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
    return objects


def placed(obj: dict, *, namespace: str, hub_namespace: str) -> dict:
    """``obj`` as applied with ``-n namespace``, its ServiceAccount subjects the hub's."""
    obj = copy.deepcopy(obj)
    if obj["kind"] in ("Role", "RoleBinding"):
        obj["metadata"]["namespace"] = namespace
    for subject in obj.get("subjects", []):
        if subject["kind"] == "ServiceAccount":
            subject["namespace"] = hub_namespace
    return obj


def setup_hub(
    cp: ControlPlane,
    *,
    helm_values: Path,
    namespace: str = "jupyterhub",
    kubeconfig: Path,
    openshift: bool = False,
) -> Path:
    """Make the hub's namespace and ServiceAccount with the shipped RBAC (for OpenShift,
    with ``openshift``); write a kubeconfig with a token of that ServiceAccount
    (TokenRequest API)."""
    cp.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cp.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": HUB_SERVICE_ACCOUNT, "namespace": namespace},
        }
    )
    for obj in shipped_rbac(helm_values, openshift=openshift):
        cp.apply(placed(obj, namespace=namespace, hub_namespace=namespace))
    token = cp.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{HUB_SERVICE_ACCOUNT}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 48 * 3600},
        },
    )["status"]["token"]
    return cp.write_kubeconfig(
        kubeconfig, user=f"system:serviceaccount:{namespace}:hub", token=token, namespace=namespace
    )


def grant_hub(
    admin: Client, *, helm_values: Path, namespace: str, hub_namespace: str = "jupyterhub"
) -> None:
    """In ``namespace`` (another namespace the hub's pods go to), the shipped namespaced
    roles, bound to the hub's ServiceAccount."""
    for obj in shipped_rbac(helm_values):
        if obj["kind"] in ("Role", "RoleBinding"):
            admin.apply(placed(obj, namespace=namespace, hub_namespace=hub_namespace))
