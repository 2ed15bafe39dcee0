"""The config reference's table of changed KubeSpawner defaults, as docs/conf.py makes it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kubespawner import KubeSpawner

from workspace_spawner import WorkspaceSpawner

CONF = Path(__file__).resolve().parents[2] / "docs" / "conf.py"


def _docs_conf():
    spec = importlib.util.spec_from_file_location("workspace_spawner_docs_conf", CONF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _changed_defaults() -> set[str]:
    """The KubeSpawner traits whose default a class of ours changes with @default."""
    parent = set(KubeSpawner.__mro__)
    configurable = KubeSpawner.class_traits(config=True)
    return {
        name
        for cls in WorkspaceSpawner.__mro__
        if cls not in parent
        for name in vars(cls).get("_trait_default_generators", {})
        if name in configurable
    }


def test_changed_defaults_table_has_a_row_per_default_and_no_empty_cell():
    table = _docs_conf()._changed_defaults_table().splitlines()
    header, rule, *rows = table
    assert header.startswith("| setting |") and rule.startswith("| ---")
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert {c[0].removeprefix("`c.KubeSpawner.").removesuffix("`") for c in cells} == (
        _changed_defaults()
    )
    empty = [row for row, c in zip(rows, cells, strict=True) if not all(c)]
    assert not empty, f"defaults without a docstring (its first line fills the cell): {empty}"
