"""``workspace-admin reset``: ask for a reset of users' volumes at their next start."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from traitlets import Bool, Unicode

from ..constants import RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION
from ..kube.volumes import patch_pvc
from .command import (
    COMMON_ALIASES,
    COMMON_FLAGS,
    DRY_RUN_FLAG,
    Context,
    Row,
    UsersCommand,
    pick_pvc,
)
from .hub import server_status

__all__ = ["ResetCommand"]


class ResetCommand(UsersCommand):
    name = "workspace-admin reset"
    description = """Ask for a reset of users' volumes to the image's files at their next start.

Usage: workspace-admin reset USER... [options]

Sets the annotation workspace-spawner.jupyter.org/reset-requested (a timestamp) on
the user's main PVC; the spawner resets the volume when the server next starts,
and removes the annotation. --backup keeps the old content in a backup folder on
the volume. --now also stops a running server and starts it again, so the reset
happens at once.
"""
    examples = """
workspace-admin reset alice
workspace-admin reset alice bob --backup
workspace-admin reset alice --now --backup
workspace-admin reset alice --pvc claim-alice-data --dry-run
"""
    backup = Bool(False, config=True, help="Keep the old content in a backup.")
    now = Bool(False, config=True, help="Restart a running server so the reset happens at once.")
    pvc = Unicode("", config=True, help="The PVC to reset (default: the user's main PVC).")
    aliases = {**COMMON_ALIASES, "pvc": "ResetCommand.pvc"}
    flags = {
        **COMMON_FLAGS,
        **DRY_RUN_FLAG,
        "backup": (
            {"ResetCommand": {"backup": True}},
            "Keep the old content in a backup on the volume.",
        ),
        "now": (
            {"ResetCommand": {"now": True}},
            "Stop and start a running server, so the reset happens at once.",
        ),
    }

    async def run(self, ctx: Context) -> int:
        requested = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        async def reset(ctx: Context, row: Row, user: dict[str, Any]) -> None:
            ws = await self.workspace(ctx, user, with_projects=False)
            pvc = pick_pvc(ws, self.pvc)
            annotations: dict[str, str | None] = {
                RESET_REQUEST_ANNOTATION: requested,
                RESET_BACKUP_ANNOTATION: "true" if self.backup else None,
            }
            keep = " (keeping a backup of the old content)" if self.backup else ""
            self.say(
                row,
                f"annotate PVC {pvc} in {ws.namespace}: "
                f"reset to the image's files at the next start{keep}",
            )
            row.details["pvc"] = pvc
            if not self.dry_run:
                await patch_pvc(
                    api=ctx.core,
                    namespace=ws.namespace,
                    name=pvc,
                    patch={"metadata": {"annotations": annotations}},
                )
            if not self.now:
                return
            if server_status(user) == "stopped":
                self.say(
                    row,
                    "nothing to restart: the server is stopped, "
                    "the reset happens at its next start",
                )
                return
            await self.stop_server(ctx, row, user)
            self.say(row, "start the server through the hub (the reset happens now)")
            if not self.dry_run:
                await ctx.hub.start_server(row.user)
                await ctx.hub.wait_for_status(row.user, "running", timeout=self.timeout)
                self.log.info("%s: server running again", row.user)

        return self.finish(await self.each_user(ctx, list(self.extra_args), reset))
