"""``workspace-admin delete-project``: delete users' workspace projects (namespaces)."""

from __future__ import annotations

from datetime import datetime, timezone

from traitlets import Bool, Unicode

from ..constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE, USERNAME_LABEL
from ..kube.projects import delete_project, detect_openshift, read_namespace
from ..project.manifests import is_owned_by
from .command import (
    COMMON_ALIASES,
    COMMON_FLAGS,
    DRY_RUN_FLAG,
    STOP_FLAG,
    YES_FLAG,
    Context,
    Refused,
    UsageError,
)
from .delete_volume import DeleteVolumeCommand
from .workspaces import Workspace, age_of

__all__ = ["DeleteProjectCommand"]


class DeleteProjectCommand(DeleteVolumeCommand):
    name = "workspace-admin delete-project"
    description = """Delete users' workspace projects (namespaces), and everything deployed in them.

Usage: workspace-admin delete-project USER... [options]

Only a namespace labelled app.kubernetes.io/managed-by=workspace-spawner and
hub.jupyter.org/username=<the user's slug> is deleted: any other is refused.
Refuses while the user's server runs, unless --stop; asks for confirmation
unless --yes (required without a terminal). The next start of the user makes
a fresh project if the hub is configured to.
"""
    examples = """
workspace-admin delete-project alice
workspace-admin delete-project alice --stop --yes
workspace-admin delete-project alice --project alice-workspace-old --dry-run
"""
    project = Unicode(
        "", config=True, help="The project to delete (default: the user's, from state or labels)."
    )
    aliases = {**COMMON_ALIASES, "project": "DeleteProjectCommand.project"}
    flags = {**COMMON_FLAGS, **DRY_RUN_FLAG, **YES_FLAG, **STOP_FLAG}
    what = "project"
    all_stopped = Bool(False, help="Not offered for projects: name the users.")

    def check_args(self) -> None:
        if not self.extra_args:
            raise UsageError("Name at least one user.")
        if self.project and len(self.extra_args) != 1:
            raise UsageError("--project names one user's project: give exactly one user.")

    async def targets(self, ctx: Context, ws: Workspace) -> list[tuple[str, str]]:
        name = self.project or ws.project
        if not name:
            return []
        ns = (
            ws.project_namespace
            if name == ws.project
            else await read_namespace(api=ctx.core, name=name)
        )
        if ns is None:
            return []
        slug = ws.project_slug
        if not is_owned_by(ns, slug=slug, username=None):
            raise Refused(
                f"namespace {name} is not labelled as made for {ws.user} "
                f"({MANAGED_BY_LABEL}={MANAGED_BY_VALUE}, {USERNAME_LABEL}={slug}): "
                "refusing to delete it"
            )
        phase = (ns.get("status") or {}).get("phase", "")
        age = age_of(ns["metadata"].get("creationTimestamp"), now=datetime.now(timezone.utc))
        return [(name, f"project {name} ({phase}, {age} old) and everything in it")]

    async def delete(self, ctx: Context, ws: Workspace, name: str) -> bool:
        # on OpenShift through the Project, as the project feature deletes it
        if self._openshift is None:
            self._openshift = await detect_openshift(api=ctx.core)
        return await delete_project(api=ctx.core, name=name, openshift=self._openshift)

    _openshift: bool | None = None
