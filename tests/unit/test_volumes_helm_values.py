"""helm-values/volumes.yaml and rbac-volumes.yaml: valid for the chart and for Kubernetes.

The chart's values.yaml and values.schema.yaml (tests/data/z2jh, copied from
/work/shared/anchors/z2jh) stand in for helm, which these machines cannot install:
the values file is merged over the defaults the way ``helm install -f`` merges
(maps recursively, anything else replaced, null deletes) and validated with jsonschema.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from workspace_spawner import WorkspaceSpawner

ROOT = Path(__file__).parents[2]
CHART = ROOT / "tests/data/z2jh"
VALUES = ROOT / "helm-values/volumes.yaml"
RBAC = ROOT / "helm-values/rbac-volumes.yaml"


def helm_merge(base: dict, override: dict) -> dict:
    """Helm's coalescing of -f values over the chart's defaults."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = helm_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def test_helm_merge():
    assert helm_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2], "e": None}, "d": None}) == {"a": {"b": 1, "c": [2]}}


def test_values_validate_against_the_chart_schema():
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    merged = helm_merge(defaults, yaml.safe_load(VALUES.read_text()))
    jsonschema.validate(merged, schema)
    assert merged["singleuser"]["storage"]["type"] == "none"


def test_values_set_only_workspace_spawner_traits():
    settings = yaml.safe_load(VALUES.read_text())["hub"]["config"]["WorkspaceSpawner"]
    unknown = set(settings) - set(WorkspaceSpawner.class_trait_names(config=True))
    assert not unknown


def test_a_broken_values_file_is_caught():
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    broken = helm_merge(defaults, {"singleuser": {"storage": {"workspaceCapacity": "10Gi"}}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_rbac_manifest_is_valid_and_grants_only_patch_on_pvcs():
    objects = list(yaml.safe_load_all(RBAC.read_text()))
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37", strict=True)
    role, binding = objects
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["patch"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == "hub"
