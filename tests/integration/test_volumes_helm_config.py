"""The WorkspaceSpawner settings of helm-values/volumes.yaml configure a spawner without error."""

from __future__ import annotations

from pathlib import Path

import yaml
from traitlets.config import Config

VALUES = Path(__file__).parents[2] / "helm-values/volumes.yaml"


async def test_helm_values_configure_the_spawner(make_spawner):
    settings = yaml.safe_load(VALUES.read_text())["hub"]["config"]["WorkspaceSpawner"]
    config = Config()
    for key, value in settings.items():
        setattr(config.WorkspaceSpawner, key, value)
    spawner = make_spawner(config=config)
    assert spawner.volume_reset_backup is True
    assert spawner.workspace_volumes["datasets"]["mount_path"] == "/home/jovyan/datasets"
    assert spawner.pvc_name == "claim-alice"
