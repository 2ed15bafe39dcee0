"""The demo's JupyterHub config lives with the demo and builds on the admins' example."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from workspace_spawner_testing import demo

DEMO_ENV = {
    "WORKSPACE_SPAWNER_DEMO_EXAMPLE_CONFIG": str(demo.EXAMPLE_CONFIG),
    "WORKSPACE_SPAWNER_DEMO_DATA": "/demo-data",
    "WORKSPACE_SPAWNER_DEMO_URL": "http://127.0.0.1:8000",
    "WORKSPACE_SPAWNER_DEMO_HUB_PORT": "8081",
    "WORKSPACE_SPAWNER_DEMO_PROXY_API_PORT": "8001",
    "WORKSPACE_SPAWNER_DEMO_PASSWORD": "secret",
    "WORKSPACE_SPAWNER_DEMO_NAMESPACE": "jupyterhub",
}


def _load(path):
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def test_the_admins_example_has_no_demo_settings():
    assert "WORKSPACE_SPAWNER_DEMO" not in demo.EXAMPLE_CONFIG.read_text()
    config = _load(demo.EXAMPLE_CONFIG)
    assert config.JupyterHub.spawner_class == "workspace"
    assert config.JupyterHub.hub_ip == "0.0.0.0"
    assert "namespace" not in config.KubeSpawner


def test_the_demo_config_is_the_example_plus_the_demo(monkeypatch: pytest.MonkeyPatch):
    assert demo.DEFAULT_CONFIG == Path(demo.__file__).with_name("demo_config.py")
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    config = _load(demo.DEFAULT_CONFIG)
    # from the example
    assert config.JupyterHub.spawner_class == "workspace"
    assert config.WorkspaceSpawner.volume_reset_backup is True
    assert config.WorkspaceSpawner.conda_allow_create_from_form is True
    # the demo's own, over the example's
    assert config.JupyterHub.hub_ip == "127.0.0.1"
    assert config.JupyterHub.hub_port == 8081
    assert config.JupyterHub.db_url == "sqlite:////demo-data/jupyterhub.sqlite"
    assert config.KubeSpawner.namespace == "jupyterhub"
    assert config.KubeSpawner.image == "workspace-spawner/demo-notebook:latest"
    assert config.WorkspaceSpawner.workspace_project_enabled is True
    assert "services" not in config.JupyterHub  # no API token asked for
