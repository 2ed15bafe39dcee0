"""What helm-values/volumes.yaml and rbac-volumes.yaml must say (test_helm_values.py checks
every file there against the chart's schema and the Kubernetes schema)."""

from __future__ import annotations

from pathlib import Path

import yaml

from workspace_spawner import WorkspaceSpawner

ROOT = Path(__file__).parents[2]
VALUES = yaml.safe_load((ROOT / "helm-values/volumes.yaml").read_text())
RBAC = list(yaml.safe_load_all((ROOT / "helm-values/rbac-volumes.yaml").read_text()))


def test_values_set_only_workspace_spawner_traits():
    settings = VALUES["hub"]["config"]["WorkspaceSpawner"]
    assert set(settings) - set(WorkspaceSpawner.class_trait_names(config=True)) == set()


def test_values_turn_off_the_charts_own_home_volume():
    # the chart's volume at homeMountPath would be a second mount on /home/jovyan
    assert VALUES["singleuser"]["storage"]["type"] == "none"


def test_rbac_grants_only_patch_on_pvcs_to_the_hub():
    role, binding = RBAC
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["patch"]}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert (
        binding["subjects"][0]["kind"] == "ServiceAccount"
        and binding["subjects"][0]["name"] == "hub"
    )
