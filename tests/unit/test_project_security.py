"""Builders and settings of a user project's isolation (issue 11): strict schema, exact content."""

from __future__ import annotations

import kubernetes_validate
import pytest
from traitlets import TraitError

from workspace_spawner.kube.projects import is_managed
from workspace_spawner.project import security
from workspace_spawner.project.mixin import ProjectMixin

KUBERNETES_VERSION = "1.37.0"


def test_default_levels_enforce_baseline_and_warn_and_audit_restricted():
    levels = ProjectMixin().workspace_project_pod_security
    assert security.pod_security_labels(levels) == {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
    }


@pytest.mark.parametrize(
    "labels, patch",
    [
        (
            {},
            {
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        ),
        (
            {
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
            {"pod-security.kubernetes.io/enforce": "baseline"},
        ),
        (
            {
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "other": "x",
            },
            None,
        ),
    ],
)
def test_pod_security_patch_changes_only_what_differs(labels, patch):
    namespace = {"metadata": {"name": "alice-workspace", "labels": labels}}
    expected = None if patch is None else {"metadata": {"labels": patch}}
    assert security.pod_security_patch(namespace, {"enforce": "baseline"}) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ({"enforce": "privileged"}, "'privileged' would let anyone"),
        ({"enforce": "strict"}, "use baseline or restricted"),
        ({"deny": "baseline"}, "unknown mode 'deny'"),
    ],
)
def test_bad_pod_security_levels_are_refused(value, message):
    with pytest.raises(TraitError, match=message):
        ProjectMixin(workspace_project_pod_security=value)


def test_the_network_policy_is_valid_and_isolates_the_project():
    policy = security.make_network_policy(
        namespace="alice-workspace",
        hub_namespace="jupyterhub",
        user_label="alice",
        slug="alice",
        username="alice",
    )
    kubernetes_validate.validate(policy, KUBERNETES_VERSION, strict=True)
    spec = policy["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {
            "from": [
                {"podSelector": {}},
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "jupyterhub"}
                    },
                    "podSelector": {
                        "matchLabels": {
                            "component": "singleuser-server",
                            "hub.jupyter.org/username": "alice",
                        }
                    },
                },
            ]
        }
    ]
    blocks = [
        peer["ipBlock"] for rule in spec["egress"] for peer in rule["to"] if "ipBlock" in peer
    ]
    assert {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]} in blocks
    assert all("169.254.169.254" not in b["cidr"] for b in blocks)
    assert policy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspace-spawner"
    assert is_managed(policy)
