"""ProjectMixin: traits and recipe steps of the workspace project (being built)."""

from __future__ import annotations

from traitlets import HasTraits


class ProjectMixin(HasTraits):
    async def ensure_workspace_project(self) -> None:
        """Create or check the user's project, its quota, limits and access."""

    def apply_workspace_project_to_pod(self, pod) -> None:
        """Run the pod as the user's service account, with PROJECT_NAMESPACE set."""
