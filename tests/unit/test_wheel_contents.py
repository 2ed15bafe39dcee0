"""The product wheel holds the product only: workspace_spawner/ with its scripts, none of
the test support (workspace_spawner_testing is its own distribution, in testsupport/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what a fresh clone has that a build reads, and nothing a local run left behind
LEFT_BEHIND = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".demo-data",
    "_build",
    "node_modules",
    "test-artifacts",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=LEFT_BEHIND)
    # the build backend of this environment: no download, no isolation
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp / "dist"),
            str(source),
        ],
        check=True,
    )
    (wheel,) = (tmp / "dist").glob("workspace_spawner-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_holds_only_the_product_package(wheel_names: list[str]) -> None:
    outside = [
        n
        for n in wheel_names
        if not n.startswith("workspace_spawner/") and not n.split("/")[0].endswith(".dist-info")
    ]
    assert outside == []
    assert [n for n in wheel_names if "workspace_spawner_testing" in n] == []


def test_wheel_holds_every_module_and_script_of_the_product(wheel_names: list[str]) -> None:
    package = ROOT / "workspace_spawner"
    expected = sorted(
        str(p.relative_to(ROOT))
        for p in package.rglob("*")
        if p.suffix in (".py", ".sh", ".json") and "__pycache__" not in p.parts
    )
    assert sorted(n for n in wheel_names if n.startswith("workspace_spawner/")) == expected
    assert "workspace_spawner/volumes/setup-volume.sh" in expected
    assert "workspace_spawner/conda/workspace-env.sh" in expected


def test_wheel_requires_no_test_support(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("jupyterhub-kubespawner" in line for line in requires)
    assert [line for line in requires if "testing" in line] == []


def test_wheel_metadata_has_the_version_and_entry_points(wheel: Path) -> None:
    """The version is workspace_spawner/_version.py's; the hub finds the spawner by name."""
    from workspace_spawner import __version__

    assert wheel.name == f"workspace_spawner-{__version__}-py3-none-any.whl"
    info = f"workspace_spawner-{__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        # .dist-info/licenses/ since setuptools 77 (PEP 639), .dist-info/ before
        licenses = [n for n in archive.namelist() if n.startswith(info) and "LICENSE" in n]
    assert f"\nVersion: {__version__}\n" in metadata
    assert "workspace = workspace_spawner:WorkspaceSpawner" in entry_points
    assert "workspace-admin = workspace_spawner.admin:main" in entry_points
    assert [n.rsplit("/", 1)[1] for n in licenses] == ["LICENSE"], licenses
