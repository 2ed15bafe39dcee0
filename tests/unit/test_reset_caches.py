"""WorkspaceSpawner.reset_caches(): the public way to act as a new hub process."""

from __future__ import annotations

from workspace_spawner import WorkspaceSpawner
from workspace_spawner.conda import CondaMixin
from workspace_spawner.project import ProjectMixin


def test_reset_caches_forgets_every_hub_process_cache():
    ProjectMixin._workspace_project_openshift_by_host["https://api.example:6443"] = True
    ProjectMixin._workspace_project_hub_users.add("system:serviceaccount:jhub:hub")
    CondaMixin._conda_configmaps_current.add(("https://api", "jhub", "cm", "hash"))
    WorkspaceSpawner.reset_caches()
    assert ProjectMixin._workspace_project_openshift_by_host == {}
    assert ProjectMixin._workspace_project_hub_users == set()
    assert CondaMixin._conda_configmaps_current == set()
