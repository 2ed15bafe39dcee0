"""The emulator's RBAC authoriser decides like Kubernetes' (table-driven)."""

import pytest

from workspace_spawner_testing.emulator.rbac import Rbac

pytestmark = pytest.mark.emulator_only(
    reason="tests the emulator's own RBAC authoriser class, in process"
)

SA = "system:serviceaccount:jupyterhub:nb"
SA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:jupyterhub", "system:authenticated"]


@pytest.fixture
def rbac(emulator):
    rbac = Rbac.install(emulator)
    for name in ("proj", "other"):
        emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    emulator.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "logs", "namespace": "proj"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["get"],
                    "resourceNames": ["settings"],
                },
            ],
        }
    )
    emulator.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "logs", "namespace": "proj"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "logs"},
            "subjects": [{"kind": "ServiceAccount", "name": "nb", "namespace": "jupyterhub"}],
        }
    )
    emulator.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "viewers"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [
                {
                    "kind": "Group",
                    "apiGroup": "rbac.authorization.k8s.io",
                    "name": "system:serviceaccounts:jupyterhub",
                }
            ],
        }
    )
    emulator.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "edit-carol", "namespace": "other"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "carol"}
            ],
        }
    )
    return rbac


@pytest.mark.parametrize(
    "user, groups, verb, group, resource, sub, namespace, name, allowed",
    [
        (SA, SA_GROUPS, "get", "", "pods", "log", "proj", "p", True),  # subresource rule
        (SA, SA_GROUPS, "get", "", "pods", "exec", "proj", "p", False),
        (SA, SA_GROUPS, "get", "", "configmaps", None, "proj", "settings", True),  # resourceNames
        (SA, SA_GROUPS, "get", "", "configmaps", None, "proj", "other", True),  # view via group
        (SA, SA_GROUPS, "delete", "", "configmaps", None, "proj", "settings", False),
        (
            SA,
            SA_GROUPS,
            "list",
            "apps",
            "deployments",
            None,
            "other",
            None,
            True,
        ),  # cluster binding
        (SA, SA_GROUPS, "create", "apps", "deployments", None, "other", None, False),
        (
            "carol",
            ["system:authenticated"],
            "create",
            "apps",
            "deployments",
            None,
            "other",
            None,
            True,
        ),
        (
            "carol",
            ["system:authenticated"],
            "create",
            "apps",
            "deployments",
            None,
            "proj",
            None,
            False,
        ),
        ("carol", ["system:authenticated"], "get", "", "namespaces", None, None, "other", True),
        ("carol", ["system:authenticated"], "get", "", "namespaces", None, None, "proj", False),
        ("x", ["system:masters"], "delete", "", "namespaces", None, None, "proj", True),
    ],
)
def test_decisions(rbac, user, groups, verb, group, resource, sub, namespace, name, allowed):
    assert rbac(user, groups, verb, group, resource, sub, namespace, name) is allowed


def test_requester_is_admin_of_its_project_on_openshift(openshift_emulator):
    rbac = Rbac.install(openshift_emulator)
    openshift_emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "p", "annotations": {"openshift.io/requester": "dave"}},
        }
    )
    assert rbac("dave", [], "create", "rbac.authorization.k8s.io", "rolebindings", None, "p", None)
    assert rbac("dave", [], "delete", "project.openshift.io", "projects", None, None, "p")
    assert not rbac(
        "erin", [], "create", "rbac.authorization.k8s.io", "rolebindings", None, "p", None
    )
