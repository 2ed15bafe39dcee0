"""What PyPI and the Zero to JupyterHub hub image get: the sdist, the wheel, images/hub.

The sdist and the wheel are built as `make dist` builds them (``python -m build``: the sdist,
then the wheel from the sdist, each in an isolated environment from pyproject.toml's build
requirements) and checked by ``twine check --strict``. The sdist holds the product and its
scripts, and nothing of the test support (workspace-spawner-testing, testsupport/, its own
distribution); tests/unit/test_wheel_contents.py lists the wheel. images/hub/requirements.txt,
what images/hub/Dockerfile installs, is installed into an environment made like the base
image's (its Python, JupyterHub and KubeSpawner).
Docker cannot run on the test machines, so the image itself is not built here.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from workspace_spawner import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "workspace_spawner"
HUB_IMAGE = ROOT / "images" / "hub"

# What the hub image of each Zero to JupyterHub release ships, read off the chart's
# images/hub/Dockerfile (FROM python:3.12-slim-bookworm) and images/hub/requirements.txt at
# its tag (github.com/jupyterhub/zero-to-jupyterhub-k8s). Bumping the FROM line in
# images/hub/Dockerfile needs a row here.
HUB_IMAGES = {
    "quay.io/jupyterhub/k8s-hub:4.4.0": {
        "python": "3.12",
        "pins": [
            "jupyterhub==5.5.0",
            "jupyterhub-kubespawner==7.0.0",
            "kubernetes-asyncio==36.1.0",
            "traitlets==5.15.1",
            "tornado==6.5.7",
            "sqlalchemy==2.0.50",
            "escapism==1.1.0",
            "aiohttp==3.14.1",
        ],
    },
}


def _run(*args: str | os.PathLike[str], timeout: float = 900, **kwargs) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, as `make dist` builds them."""
    pytest.importorskip("build", reason="the release extra is not installed")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def _product_files() -> set[str]:
    """The product's modules and scripts in the source tree, as paths in the wheel."""
    files = set()
    for pattern in ("**/*.py", "**/*.sh", "**/*.json"):
        for path in PRODUCT.glob(pattern):
            if "__pycache__" not in path.parts:
                files.add(path.relative_to(ROOT).as_posix())
    return files


def test_twine_check_passes(dist: Path) -> None:
    pytest.importorskip("twine", reason="the release extra is not installed")
    files = sorted(dist.iterdir())
    assert {f.suffix for f in files} == {".gz", ".whl"}, files
    out = _run(sys.executable, "-m", "twine", "check", "--strict", *files)
    assert out.count("PASSED") == 2, out


def test_sdist_holds_the_product_and_nothing_of_the_test_support(dist: Path) -> None:
    sdists = sorted(dist.glob("*.tar.gz"))
    assert [s.name for s in sdists] == [f"workspace_spawner-{__version__}.tar.gz"]
    with tarfile.open(sdists[0]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert not _product_files() - names, sorted(_product_files() - names)
    assert {"README.md", "setup.cfg", "pyproject.toml", "LICENSE"} <= names
    assert not [n for n in names if n.startswith(("testsupport/", "tests/", "testbed/"))]


def test_one_version_everywhere() -> None:
    """workspace_spawner/_version.py is the one place: setup.cfg and testsupport/setup.py read
    it, the hub image pins it, and the changelog has its section."""
    assert (
        "version = attr: workspace_spawner._version.__version__" in (ROOT / "setup.cfg").read_text()
    )
    testsupport = _run(
        sys.executable, "setup.py", "--version", cwd=ROOT / "testsupport", timeout=120
    )
    assert testsupport.strip().splitlines()[-1] == __version__, testsupport
    assert f"workspace-spawner=={__version__}\n" in (HUB_IMAGE / "requirements.txt").read_text()
    tag = f'tag: "{_base_image().rsplit(":", 1)[1]}-workspace-spawner-{__version__}"'
    assert tag in (ROOT / "helm-values" / "hub-image.yaml").read_text()
    assert f"\n## {__version__} " in (ROOT / "CHANGELOG.md").read_text()


def _base_image() -> str:
    froms = re.findall(r"^FROM (\S+)", (HUB_IMAGE / "Dockerfile").read_text(), re.MULTILINE)
    assert len(froms) == 1, froms
    return froms[0]


def _image_python(version: str) -> str:
    """A Python of the image's minor version on this machine (PATH or pyenv)."""
    candidates = [
        os.environ.get("WORKSPACE_SPAWNER_HUB_IMAGE_PYTHON", ""),
        shutil.which(f"python{version}") or "",
        *sorted(
            glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")),
            reverse=True,
        ),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version)"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.startswith(f"{version}."):
            return candidate
    message = f"no Python {version} (the hub image's) on this machine"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_hub_image_requirements_install_into_the_image_environment(
    dist: Path, tmp_path: Path
) -> None:
    image = HUB_IMAGES.get(_base_image())
    assert image, f"{_base_image()}: add what it ships to HUB_IMAGES"
    venv = tmp_path / "hub-image"
    _run(_image_python(image["python"]), "-m", "venv", venv)
    python = venv / "bin" / "python"
    # the base image's packages first, then the Dockerfile's `pip install -r requirements.txt`,
    # with this checkout's wheel standing in for the release on PyPI
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *image["pins"])
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--find-links",
        dist,
        "-r",
        HUB_IMAGE / "requirements.txt",
    )
    report = json.loads(
        _run(
            python,
            "-c",
            """if True:
        import json, sys
        from importlib.metadata import version
        from jupyterhub.app import JupyterHub
        from kubespawner import KubeSpawner
        from workspace_spawner import WorkspaceSpawner
        hub = JupyterHub()
        hub.spawner_class = "workspace"  # the entry point, as the chart's values name it
        assert hub.spawner_class is WorkspaceSpawner, hub.spawner_class
        assert issubclass(WorkspaceSpawner, KubeSpawner)
        print(json.dumps({"python": sys.version, "versions": {name: version(name) for name in (
            "jupyterhub", "jupyterhub-kubespawner", "workspace-spawner")}}))
        """,
            cwd=tmp_path,
        )
    )
    assert report["python"].startswith(image["python"] + "."), report
    pins = dict(p.split("==") for p in image["pins"])
    # the hub's own JupyterHub stays: the chart's configuration is made for it
    assert report["versions"]["jupyterhub"] == pins["jupyterhub"], report
    assert report["versions"]["workspace-spawner"] == __version__, report
    print(f"hub image environment: {report['versions']}")
