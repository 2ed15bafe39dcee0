"""The layer contracts of docs/dev/architecture.md (.importlinter) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = [
    "The product is layered",
    "The features (volumes, project, conda) do not import each other",
    "kube/ imports no feature",
    "The product never imports the test support",
    "The emulator is layered without a circle",
    "The node agent runs the real tier's nodes",
]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kept = [line for line in result.stdout.splitlines() if line.endswith(" KEPT")]
    # every contract was checked (a contract missing from .importlinter fails here)
    for name in CONTRACTS:
        assert any(name in line for line in result.stdout.splitlines()), (name, result.stdout)
    assert len(kept) == len(CONTRACTS), result.stdout
