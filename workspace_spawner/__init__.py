"""workspace-spawner: a KubeSpawner that gives every JupyterHub user a persistent workspace."""

from ._version import __version__
from .spawner import WorkspaceSpawner

__all__ = ["WorkspaceSpawner", "__version__"]
