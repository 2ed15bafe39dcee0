"""CondaMixin: traits and recipe steps of the persistent conda environment (being built)."""

from __future__ import annotations

from traitlets import HasTraits


class CondaMixin(HasTraits):
    async def ensure_conda_startup(self) -> None:
        """Create or update the hub's startup-script ConfigMap."""

    def apply_conda_startup_to_pod(self, pod) -> None:
        """Mount the startup script, or wrap the container command."""
