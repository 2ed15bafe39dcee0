"""Hub admins select the spawner by its entry point name."""

from importlib.metadata import entry_points

from kubespawner import KubeSpawner

import workspace_spawner


def test_workspace_entry_point_loads_the_class():
    spawner_class = entry_points(group="jupyterhub.spawners")["workspace"].load()
    assert spawner_class is workspace_spawner.WorkspaceSpawner
    assert issubclass(spawner_class, KubeSpawner)


def test_kubespawner_config_section_applies():
    """c.KubeSpawner.* settings reach WorkspaceSpawner through the class hierarchy."""
    assert "KubeSpawner" in workspace_spawner.WorkspaceSpawner.section_names()
