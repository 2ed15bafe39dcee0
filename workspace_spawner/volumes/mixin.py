"""VolumesMixin: traits and recipe steps of the workspace volumes (being built)."""

from __future__ import annotations

from traitlets import HasTraits


class VolumesMixin(HasTraits):
    async def ensure_workspace_volumes(self) -> None:
        """Create or adopt the user's PVCs before the pod is made."""

    def apply_workspace_volumes_to_pod(self, pod) -> None:
        """Mount the volumes and add the init container to the pod."""
