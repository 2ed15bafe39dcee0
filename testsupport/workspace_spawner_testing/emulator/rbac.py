"""Token authentication helpers and an RBAC authoriser for the emulator.

Plugs into the emulator's replaceable ``authorizer`` hook::

    from workspace_spawner_testing.emulator.rbac import Rbac
    rbac = Rbac.install(emulator)
    token = rbac.service_account_token("jupyterhub", "hub")

It decides like Kubernetes' RBAC authoriser
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/): a request is
allowed when a rule of a Role or ClusterRole bound to the user, one of its
groups, or its ServiceAccount matches the verb, the API group, the resource
(``pods/log`` for a subresource) and, where the rule names them, the object's
name. ClusterRoleBindings apply everywhere, RoleBindings in their namespace.
Requests on a Namespace or Project object (``get namespaces foo``) count as in
that namespace, as the API server's request info makes them, so a RoleBinding in
``foo`` can grant them.

On OpenShift the requester of a ProjectRequest is the new project's admin, as
OpenShift's default project template makes it
(https://docs.openshift.com/container-platform/latest/applications/projects/configuring-project-creation.html):
the ``admin`` ClusterRole's rules apply in a namespace whose
``openshift.io/requester`` names the user.

Not emulated: RBAC's escalation checks on creating bindings, role aggregation,
non-resource URLs.
"""

from __future__ import annotations

import secrets
from typing import Any

from .emulator import Emulator
from .selectors import Selector

__all__ = ["Rbac", "DEFAULT_CLUSTER_ROLES", "service_account_user", "service_account_groups"]

REQUESTER = "openshift.io/requester"
RBAC_GROUP = "rbac.authorization.k8s.io"
_RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_RO = ["get", "list", "watch"]

# A subset of Kubernetes' default user-facing roles
# (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles).
_EDIT_RULES = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "pods/exec",
            "pods/attach",
            "pods/portforward",
            "pods/proxy",
            "services",
            "configmaps",
            "secrets",
            "persistentvolumeclaims",
            "serviceaccounts",
            "endpoints",
            "replicationcontrollers",
        ],
        "verbs": _RW,
    },
    {
        "apiGroups": [""],
        "resources": ["events", "resourcequotas", "limitranges", "namespaces"],
        "verbs": _RO,
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"],
        "verbs": _RW,
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _RW},
]
_ADMIN_RULES = _EDIT_RULES + [
    {"apiGroups": [RBAC_GROUP], "resources": ["roles", "rolebindings"], "verbs": _RW},
    # OpenShift's admin may manage its own project
    {
        "apiGroups": ["project.openshift.io"],
        "resources": ["projects"],
        "verbs": ["delete", "get", "patch", "update"],
    },
]
# view reads everything edit may touch, except secrets and the pods' exec/attach/port-forward/proxy
_NOT_VIEW = {"secrets", "pods/exec", "pods/attach", "pods/portforward", "pods/proxy"}
_VIEW_RULES = [
    dict(rule, verbs=_RO, resources=[r for r in rule["resources"] if r not in _NOT_VIEW])
    for rule in _EDIT_RULES
]

DEFAULT_CLUSTER_ROLES = {"admin": _ADMIN_RULES, "edit": _EDIT_RULES, "view": _VIEW_RULES}


def service_account_user(namespace: str, name: str) -> str:
    """The user name a ServiceAccount's token authenticates as."""
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_groups(namespace: str) -> list[str]:
    """The groups of a ServiceAccount (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects)."""
    return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]


class Rbac:
    """The RBAC authoriser over the emulator's store; callable as its ``authorizer``."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    @classmethod
    def install(cls, emulator: Emulator, *, default_roles: bool = True) -> Rbac:
        """Make ``emulator`` authorise with RBAC, with admin/edit/view ClusterRoles unless told not to."""
        rbac = cls(emulator)
        if default_roles:
            for name, rules in DEFAULT_CLUSTER_ROLES.items():
                if emulator.get("ClusterRole", name) is None:
                    emulator.create(
                        {
                            "apiVersion": "rbac.authorization.k8s.io/v1",
                            "kind": "ClusterRole",
                            "metadata": {"name": name},
                            "rules": rules,
                        }
                    )
        emulator._call(setattr, emulator, "authorizer", rbac)
        return rbac

    def service_account_token(self, namespace: str, name: str) -> str:
        """A new bearer token authenticating as the ServiceAccount ``namespace/name``."""
        token = secrets.token_urlsafe(24)
        self.emulator.add_token(
            token,
            user=service_account_user(namespace, name),
            groups=service_account_groups(namespace),
        )
        return token

    # -- the authoriser hook ---------------------------------------------------------

    def __call__(
        self,
        user: str,
        groups: list[str],
        verb: str,
        api_group: str,
        resource: str | None,
        subresource: str | None,
        namespace: str | None,
        name: str | None,
    ) -> bool:
        if "system:masters" in groups:
            return True
        if resource is None:
            return True  # discovery, allowed to every authenticated user (system:discovery)
        if (api_group, resource, verb) == ("authentication.k8s.io", "selfsubjectreviews", "create"):
            return True  # "who am I?", every authenticated user's (system:basic-user)
        if resource in ("namespaces", "projects") and name:
            # the API server (and OpenShift's request info resolver for projects)
            # counts a request on a namespace as in that namespace
            namespace = name
        full = f"{resource}/{subresource}" if subresource else resource
        for rules in self._rules_for(user, groups, namespace):
            for rule in rules:
                if _matches(rule, verb=verb, api_group=api_group, resource=full, name=name):
                    return True
        return False

    def _items(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        api, registry = self.emulator.api, self.emulator.registry
        return api.list(registry.lookup(kind), namespace, Selector((), ()))

    def _role_rules(self, ref: dict[str, Any], namespace: str | None) -> list[dict[str, Any]]:
        api, registry = self.emulator.api, self.emulator.registry
        if ref.get("kind") == "ClusterRole":
            role = api.store.get(registry.lookup("clusterroles"), "", ref.get("name", ""))
        elif namespace:
            role = api.store.get(registry.lookup("roles"), namespace, ref.get("name", ""))
        else:
            role = None
        return (role or {}).get("rules") or []

    def _rules_for(self, user: str, groups: list[str], namespace: str | None):
        for binding in self._items("clusterrolebindings"):
            if _binds(binding, user, groups, binding_namespace=None):
                yield self._role_rules(binding.get("roleRef") or {}, None)
        if not namespace:
            return
        for binding in self._items("rolebindings", namespace):
            if _binds(binding, user, groups, binding_namespace=namespace):
                yield self._role_rules(binding.get("roleRef") or {}, namespace)
        if self.emulator.openshift:
            ns = self.emulator.api.store.get(
                self.emulator.registry.lookup("namespaces"), "", namespace
            )
            requester = (((ns or {}).get("metadata") or {}).get("annotations") or {}).get(REQUESTER)
            if requester and requester == user:
                yield self._role_rules({"kind": "ClusterRole", "name": "admin"}, None)


def _binds(
    binding: dict[str, Any], user: str, groups: list[str], *, binding_namespace: str | None
) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user:
            return True
        if kind == "Group" and name in groups:
            return True
        if kind == "ServiceAccount":
            sa_namespace = subject.get("namespace") or binding_namespace
            if user == service_account_user(sa_namespace or "", name or ""):
                return True
    return False


def _matches(
    rule: dict[str, Any], *, verb: str, api_group: str, resource: str, name: str | None
) -> bool:
    if not _has(rule.get("verbs"), verb):
        return False
    if not _has(rule.get("apiGroups"), api_group):
        return False
    resources = rule.get("resources") or []
    base, _, sub = resource.partition("/")
    if not (resource in resources or "*" in resources or (sub and f"*/{sub}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    if names:
        # a rule naming objects never matches a request without a name (create, list)
        return name is not None and name in names
    return True


def _has(values: list[str] | None, value: str) -> bool:
    values = values or []
    return value in values or "*" in values
