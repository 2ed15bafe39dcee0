"""The documentation builds without a warning, the config reference included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docs_build_without_warnings(tmp_path: Path):
    pytest.importorskip("sphinx", reason="the docs extra is not installed in this environment")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    reference = (tmp_path / "html" / "reference" / "config.html").read_text()
    assert "KUBESPAWNER_ONLY_TRAITS" not in reference
    assert "CHANGED_DEFAULTS_TABLE" not in reference
