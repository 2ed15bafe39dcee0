"""Every file in helm-values/ is checked the way helm and the API server would check it.

- A Zero to JupyterHub values file is merged over the chart's values.yaml the way
  `helm install -f` merges (maps recursively, lists and scalars replaced, null
  deletes the key: https://helm.sh/docs/chart_template_guide/values_files/) and
  validated against the chart's values.schema.yaml.
- A file of Kubernetes manifests (every document has apiVersion and kind), such as
  the extra RBAC a feature needs, is validated strictly against the Kubernetes schema.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
Z2JH = ROOT.parent / "shared" / "anchors" / "z2jh"
HELM_VALUES = sorted((ROOT / "helm-values").glob("*.yaml"))
KUBERNETES_VERSION = "1.37.0"


def helm_merge(base: Any, override: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _is_manifest_file(docs: list[Any]) -> bool:
    return bool(docs) and all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs)


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


@pytest.mark.skipif(not (Z2JH / "values.yaml").exists(), reason="the z2jh chart data is not beside this checkout")
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
        return
    if not (Z2JH / "values.yaml").exists():
        pytest.skip("the z2jh chart data is not beside this checkout")
    assert len(docs) == 1, f"{path.name}: a values file is one YAML document"
    values = yaml.safe_load((Z2JH / "values.yaml").read_text())
    schema = yaml.safe_load((Z2JH / "values.schema.yaml").read_text())
    jsonschema.validate(helm_merge(values, docs[0]), schema)
