"""Every file in helm-values/ is checked the way helm and the API server would check it.

- A Zero to JupyterHub values file is merged over the chart's values.yaml the way
  `helm install -f` merges (maps recursively, lists and scalars replaced, null
  deletes the key: https://helm.sh/docs/chart_template_guide/values_files/) and
  validated against the chart's values.schema.yaml.
- A file of Kubernetes manifests (every document has apiVersion and kind), such as
  the extra RBAC a feature needs, is validated strictly against the Kubernetes schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from z2jh_support import ROOT, Z2JH, helm_merge

HELM_VALUES = sorted((ROOT / "helm-values").glob("*.yaml"))
KUBERNETES_VERSION = "1.37.0"


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _is_manifest_file(docs: list[Any]) -> bool:
    return bool(docs) and all(
        isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs
    )


@pytest.mark.parametrize(
    ("base", "override", "expected"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"b": 1}}, {"a": None}, {}),
        ({"a": 1}, {"b": {"c": 2}}, {"a": 1, "b": {"c": 2}}),
    ],
)
def test_helm_merge(base, override, expected):
    assert helm_merge(base, override) == expected


@pytest.mark.skipif(
    not (Z2JH / "values.yaml").exists(), reason="the z2jh chart data is not beside this checkout"
)
def test_schema_rejects_unknown_singleuser_key():
    """The check is real: the chart's schema refuses a key it does not know."""
    values = yaml.safe_load((Z2JH / "values.yaml").read_text())
    schema = yaml.safe_load((Z2JH / "values.schema.yaml").read_text())
    bad = helm_merge(values, {"singleuser": {"storage": {"workspaceReset": True}}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("path", HELM_VALUES, ids=[p.name for p in HELM_VALUES])
def test_helm_values_file(path: Path):
    docs = _documents(path)
    assert docs, f"{path.name} is empty"
    if _is_manifest_file(docs):
        for doc in docs:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        _check_rbac_rules(path)
        return
    if not (Z2JH / "values.yaml").exists():
        pytest.skip("the z2jh chart data is not beside this checkout")
    assert len(docs) == 1, f"{path.name}: a values file is one YAML document"
    values = yaml.safe_load((Z2JH / "values.yaml").read_text())
    schema = yaml.safe_load((Z2JH / "values.schema.yaml").read_text())
    jsonschema.validate(helm_merge(values, docs[0]), schema)
    _check_spawner_settings(docs[0])


def _check_spawner_settings(values: dict) -> None:
    """Every hub.config.WorkspaceSpawner key is a setting of the spawner: a typo would be ignored."""
    from workspace_spawner import WorkspaceSpawner

    settings = ((values.get("hub") or {}).get("config") or {}).get("WorkspaceSpawner") or {}
    traits = WorkspaceSpawner.class_trait_names(config=True)
    unknown = sorted(set(settings) - set(traits))
    assert not unknown, f"not settings of WorkspaceSpawner: {unknown}"


def _check_rbac_rules(path: Path) -> None:
    """RBAC we ask admins to apply: no wildcards, and a comment giving the reason for every rule."""
    lines = path.read_text().splitlines()
    for doc in _documents(path):
        for rule in doc.get("rules") or []:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in (rule.get(field) or []), f"{path.name}: wildcard in {rule}"
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[i - 1].strip().startswith("#"), (
                f"{path.name}:{i + 1}: a rule without its reason"
            )
