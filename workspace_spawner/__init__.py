"""workspace-spawner: a KubeSpawner that gives every JupyterHub user a persistent workspace."""

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .spawner import WorkspaceSpawner

__all__ = ["WorkspaceSpawner", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use (PEP 562), so `workspace_spawner_testing` (the emulator run
    # standalone for the demo) starts without loading kubespawner and JupyterHub.
    if name == "WorkspaceSpawner":
        from .spawner import WorkspaceSpawner

        return WorkspaceSpawner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
