"""Pure builders of the project feature, compared to literal dicts."""

import json

import pytest

from workspace_spawner.project import manifests as m
from workspace_spawner.project import objects

OWNER = {"app.kubernetes.io/managed-by": "workspace-spawner", "hub.jupyter.org/username": "alice"}
META_LABELS = {**OWNER, "app.kubernetes.io/component": "workspace-project"}
META_ANN = {"hub.jupyter.org/username": "alice"}


def test_namespace():
    assert m.make_namespace(name="alice-workspace", slug="alice", username="alice") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "alice-workspace", "labels": META_LABELS, "annotations": META_ANN},
    }


def test_project_request_and_owner_patch():
    assert m.make_project_request(name="alice-workspace", username="alice") == {
        "apiVersion": "project.openshift.io/v1",
        "kind": "ProjectRequest",
        "metadata": {"name": "alice-workspace"},
        "displayName": "alice's workspace",
        "description": "Workloads of JupyterHub user alice",
    }
    assert m.make_owner_patch(slug="alice", username="alice") == {
        "metadata": {"labels": META_LABELS, "annotations": META_ANN}
    }


@pytest.mark.parametrize(
    "labels, annotations, owned",
    [
        (OWNER, META_ANN, True),
        ({}, {}, False),  # a namespace somebody else made
        ({**OWNER, "hub.jupyter.org/username": "bob"}, {"hub.jupyter.org/username": "bob"}, False),
        (OWNER, {"hub.jupyter.org/username": "Alice"}, False),  # same slug, other raw name
        ({"hub.jupyter.org/username": "alice"}, META_ANN, False),  # not managed by us
    ],
)
def test_is_owned_by(labels, annotations, owned):
    ns = {"metadata": {"name": "alice-workspace", "labels": labels, "annotations": annotations}}
    assert m.is_owned_by(ns, slug="alice", username="alice") is owned


@pytest.mark.parametrize(
    "namespace, terminating",
    [
        ({"metadata": {}, "status": {"phase": "Active"}}, False),
        ({"metadata": {}, "status": {"phase": "Terminating"}}, True),
        ({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, True),
    ],
)
def test_is_terminating(namespace, terminating):
    assert m.is_terminating(namespace) is terminating


def test_quota_and_limit_range():
    assert m.make_resource_quota(
        namespace="alice-workspace",
        hard={"pods": 4, "requests.cpu": "2"},
        slug="alice",
        username="alice",
    ) == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "workspace-quota",
            "namespace": "alice-workspace",
            "labels": META_LABELS,
            "annotations": META_ANN,
        },
        "spec": {"hard": {"pods": "4", "requests.cpu": "2"}},
    }
    limits = [{"type": "Container", "default": {"cpu": "500m"}}]
    assert m.make_limit_range(
        namespace="alice-workspace", limits=limits, slug="alice", username="alice"
    )["spec"] == {"limits": limits}


def test_role_binding():
    assert m.make_role_binding(
        namespace="alice-workspace",
        role="edit",
        users=["alice"],
        groups=["teachers"],
        service_accounts=[("jupyterhub", "notebook-alice-workspace")],
        slug="alice",
        username="alice",
    ) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": "workspace-access",
            "namespace": "alice-workspace",
            "labels": META_LABELS,
            "annotations": META_ANN,
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "teachers"},
            {
                "kind": "ServiceAccount",
                "name": "notebook-alice-workspace",
                "namespace": "jupyterhub",
            },
        ],
    }


def test_kubeconfig_names_the_project_and_holds_no_token():
    config = json.loads(
        m.make_kubeconfig(
            namespace="alice-workspace",
            token_file="/var/run/secrets/kubernetes.io/serviceaccount/token",
        )
    )
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {
                    "server": "https://kubernetes.default.svc",
                    "certificate-authority": "/var/run/secrets/workspace-spawner/kubeconfig/ca.crt",
                },
            }
        ],
        "users": [
            {
                "name": "notebook",
                "user": {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
            }
        ],
        "contexts": [
            {
                "name": "alice-workspace",
                "context": {
                    "cluster": "in-cluster",
                    "user": "notebook",
                    "namespace": "alice-workspace",
                },
            }
        ],
        "current-context": "alice-workspace",
    }


def test_pod_env_has_no_token():
    assert m.pod_env(namespace="alice-workspace") == {
        "PROJECT_NAMESPACE": "alice-workspace",
        "OPENSHIFT_PROJECT": "alice-workspace",
        "KUBECONFIG": "/var/run/secrets/workspace-spawner/kubeconfig/config",
    }


def test_user_token_volume_is_a_secret_file():
    volumes = m.pod_volumes(token_secret="notebook-alice-workspace-token")
    assert volumes[1] == {
        "name": "workspace-project-user-token",
        "secret": {"secretName": "notebook-alice-workspace-token", "defaultMode": 0o444},
    }
    assert m.pod_volume_mounts(token_secret="t")[1] == {
        "name": "workspace-project-user-token",
        "mountPath": "/var/run/secrets/workspace-spawner/user-token",
        "readOnly": True,
    }


def test_applied_hash_is_stable_and_sensitive():
    a = m.applied_hash([{"b": 1, "a": [1, 2]}, None])
    assert a == m.applied_hash([{"a": [1, 2], "b": 1}, None])
    assert a != m.applied_hash([{"a": [1, 2], "b": 2}, None])


# -- objects.py: what is wanted, what may be left ------------------------------------------


@pytest.mark.parametrize(
    "kind, previous, fresh, left",
    [
        # the saved state names what the last start applied
        ("ResourceQuota", ["ResourceQuota", "RoleBinding"], False, True),
        ("ResourceQuota", ["RoleBinding"], False, False),
        # a project made again (an admin deleted it): only the hub-namespace objects survive
        ("ResourceQuota", ["ResourceQuota"], True, False),
        ("Secret", ["Secret"], True, True),
        # no state, project made now: the user's first start, nothing of theirs is left
        ("Secret", None, True, False),
        ("NetworkPolicy", None, True, False),
        # no state, project found existing (older version, reset hub database): anything may be
        ("Secret", None, False, True),
        ("LimitRange", None, False, True),
    ],
)
def test_may_be_left(kind, previous, fresh, left):
    assert objects.may_be_left(kind, previous=previous, fresh=fresh) is left


def test_desired_objects_are_the_builders_and_none_for_what_is_off():
    wanted = objects.Wanted(
        project="alice-workspace",
        hub_namespace="jhub",
        slug="alice",
        username="alice",
        role="edit",
        user_subject="alice",
        user_label="alice",
        service_account="notebook-alice-workspace",
        token_secret="notebook-alice-workspace-token",
        quota={"pods": 2},
        network_policy=False,
    )
    desired = objects.desired_objects(wanted)
    assert list(desired) == list(objects.KINDS)
    assert desired["Secret"] is None and desired["LimitRange"] is None
    assert desired["NetworkPolicy"] is None
    assert desired["ResourceQuota"] == m.make_resource_quota(
        namespace="alice-workspace", hard={"pods": 2}, slug="alice", username="alice"
    )
    assert desired["RoleBinding"]["subjects"][-1] == {
        "kind": "ServiceAccount",
        "name": "notebook-alice-workspace",
        "namespace": "jhub",
    }
    names = objects.object_names(
        project="alice-workspace",
        hub_namespace="jhub",
        service_account="notebook-alice-workspace",
        token_secret="notebook-alice-workspace-token",
    )
    assert set(names) == set(objects.KINDS)
    assert names["Secret"] == ("notebook-alice-workspace-token", "jhub")
    assert names["ResourceQuota"] == (m.QUOTA_NAME, "alice-workspace")
