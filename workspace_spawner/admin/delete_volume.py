"""``workspace-admin delete-volume``: delete users' PVCs, after showing what is lost."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tqdm import tqdm
from traitlets import Bool

from ..kube import KubeError
from ..kube.volumes import delete_pvc
from .command import (
    COMMON_FLAGS,
    DRY_RUN_FLAG,
    PARTIAL_FAILURE,
    STOP_FLAG,
    YES_FLAG,
    AdminCommand,
    Context,
    Refused,
    Row,
    UsageError,
)
from .hub import HubError, server_status
from .workspaces import Workspace

__all__ = ["DeleteVolumeCommand", "Plan"]


@dataclass
class Plan:
    """What a deleting command is to do for one user: ``targets`` are (name, description)."""

    row: Row
    user: dict[str, Any]
    workspace: Workspace
    targets: list[tuple[str, str]]


class DeleteVolumeCommand(AdminCommand):
    name = "workspace-admin delete-volume"
    description = """Delete users' PVCs, and with them all their files, for good.

Usage: workspace-admin delete-volume (USER... | --all-stopped) [options]

Refuses while the user's server runs, unless --stop (stop it first through the
hub). Shows what will be lost (PVC names, sizes, ages) and asks for confirmation,
unless --yes; without a terminal, --yes is required. --all-stopped deletes the
volumes of every user whose server is stopped. The next start of the user makes
a fresh volume from the image's files. Every deletion is logged.
"""
    examples = """
workspace-admin delete-volume alice
workspace-admin delete-volume alice --stop --yes
workspace-admin delete-volume --all-stopped --dry-run
workspace-admin delete-volume --all-stopped --yes --json
"""
    all_stopped = Bool(False, config=True, help="Every user whose server is stopped.")
    flags = {
        **COMMON_FLAGS,
        **DRY_RUN_FLAG,
        **YES_FLAG,
        **STOP_FLAG,
        "all-stopped": (
            {"DeleteVolumeCommand": {"all_stopped": True}},
            "Every user whose server is stopped.",
        ),
    }
    what = "PVC"

    def check_args(self) -> None:
        if bool(self.extra_args) == bool(self.all_stopped):
            raise UsageError("Name the users, or pass --all-stopped (not both).")

    async def targets(self, ctx: Context, ws: Workspace) -> list[tuple[str, str]]:
        """(name, description) of the objects to delete."""
        now = datetime.now(timezone.utc)
        return [
            (
                row["name"],
                f"PVC {row['name']} in {ws.namespace}: {row['capacity'] or row['requested']}, "
                f"{row['phase'] or 'no phase'}, {row['age']} old",
            )
            for row in ws.pvc_rows(now=now)
        ]

    async def delete(self, ctx: Context, ws: Workspace, name: str) -> bool:
        return await delete_pvc(api=ctx.core, namespace=ws.namespace, name=name)

    async def run(self, ctx: Context) -> int:
        if self.all_stopped:
            users = [u for u in await ctx.hub.list_users() if server_status(u) == "stopped"]
        else:
            users = []
        names = [u["name"] for u in users] if users else list(self.extra_args)
        # 1. what would be lost, and the refusals, before anything is changed
        rows, plans = await self.plan(ctx, names=names, users={u["name"]: u for u in users})
        if plans and not self.confirm_plans(plans):
            print("Nothing deleted: not confirmed.", file=sys.stderr)
            return PARTIAL_FAILURE
        # 2. the deletions
        await self.carry_out(ctx, plans)
        return self.finish(rows)

    async def plan(
        self, ctx: Context, *, names: list[str], users: dict[str, dict[str, Any]]
    ) -> tuple[list[Row], list[Plan]]:
        """The rows to report and what to delete for each user; nothing is changed.

        ``users`` holds the user models already read (--all-stopped), by name.
        """
        rows: list[Row] = []
        plans: list[Plan] = []
        for name in names:
            row = Row(user=name)
            rows.append(row)
            try:
                user = users.get(name) or await ctx.hub.get_user(name)
                ws = await self.workspace(ctx, user)
                targets = await self.targets(ctx, ws)
                if not targets:
                    if not self.all_stopped:
                        self.note(row, f"nothing to delete: no {self.what} found")
                    continue
                status = server_status(user)
                if status != "stopped" and not self.stop:
                    raise Refused(
                        f"the server is {status}: deleting its {self.what} now would break it. "
                        "Stop it first (workspace-admin stop), or pass --stop"
                    )
                plans.append(Plan(row=row, user=user, workspace=ws, targets=targets))
            except (HubError, KubeError, Refused) as e:
                row.error = str(e)
        if self.all_stopped:
            # only the users with something to delete, or a failure, are reported
            rows = [row for row in rows if row.error or any(p.row is row for p in plans)]
        return rows, plans

    def confirm_plans(self, plans: list[Plan]) -> bool:
        """Show what will be lost and ask for confirmation (see :meth:`confirm`)."""
        if not self.json:
            print(
                f"{'Would delete' if self.dry_run else 'Will delete'} (the data is lost for good):"
            )
            for plan in plans:
                for _, description in plan.targets:
                    print(f"  {plan.row.user}: {description}")
        count = sum(len(plan.targets) for plan in plans)
        return self.confirm(f"Delete these {count} {self.what}s of {len(plans)} users?")

    async def carry_out(self, ctx: Context, plans: list[Plan]) -> None:
        """Stop the servers still running (with --stop) and delete; a failure fails its row."""
        progress = tqdm(
            plans,
            desc=f"deleting {self.what}s",
            unit="user",
            disable=None if len(plans) > 1 else True,
            file=sys.stderr,
        )
        for plan in progress:
            row, ws = plan.row, plan.workspace
            try:
                if server_status(plan.user) != "stopped":
                    await self.stop_server(ctx, row, plan.user)
                for name, description in plan.targets:
                    self.say(row, f"delete {description}")
                    if not self.dry_run and not await self.delete(ctx, ws, name):
                        self.log.info("%s: %s %s was already gone", row.user, self.what, name)
                key = "deleted" if not self.dry_run else "would_delete"
                row.details[key] = [name for name, _ in plan.targets]
            except (HubError, KubeError, TimeoutError) as e:
                row.error = str(e)
