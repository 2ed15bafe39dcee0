"""The ``workspace-admin`` command line: list, stop, reset, expand and delete users' workspaces.

See docs/admin/admin-cli.md. The Kubernetes requests are in
:mod:`workspace_spawner.kube.admin`, the hub's in :mod:`.hub`.
"""

from .app import WorkspaceAdmin, main

__all__ = ["WorkspaceAdmin", "main"]
