"""helm-values files of the project feature: valid for the chart, and the RBAC has no wildcards."""

from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = Path("/work/shared/anchors/z2jh")


def merge(base, override):
    """helm's merge of a values file over the chart's values.yaml (maps merge, the rest replaces)."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return override


@pytest.mark.skipif(not CHART.exists(), reason="needs the chart's values and schema")
def test_values_validate_against_the_chart_schema():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    ours = yaml.safe_load((REPO / "helm-values" / "workspace-project.yaml").read_text())
    merged = merge(values, ours)
    jsonschema.validate(merged, schema)
    spawner = merged["hub"]["config"]["WorkspaceSpawner"]
    assert spawner["workspace_project_enabled"] is True


def test_values_are_traits_of_the_spawner():
    from workspace_spawner import WorkspaceSpawner

    ours = yaml.safe_load((REPO / "helm-values" / "workspace-project.yaml").read_text())
    traits = WorkspaceSpawner.class_trait_names(config=True)
    for key in ours["hub"]["config"]["WorkspaceSpawner"]:
        assert key in traits, key


def test_rbac_has_no_wildcards_and_every_rule_a_reason():
    text = (REPO / "helm-values" / "workspace-project-rbac.yaml").read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    rules = [rule for d in docs for rule in d.get("rules", [])]
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), rule
    # a comment before every rule
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[i - 1].strip().startswith("#"), line
