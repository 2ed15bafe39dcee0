"""``workspace-admin list``: the users' servers, volumes and projects, one row per user."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from traitlets import Bool, List, Unicode

from ..kube import KubeError
from .command import COMMON_ALIASES, COMMON_FLAGS, AdminCommand, Context, Row
from .hub import HubError
from .purge import print_retained
from .table import format_table

__all__ = ["ListCommand"]


class ListCommand(AdminCommand):
    name = "workspace-admin list"
    description = """List the users' servers, volumes and projects: one row per user.

Usage: workspace-admin list [USER...] [options]

Each row shows the server (running, pending, stopped), the user's PVCs (name,
requested and actual capacity, used bytes and use% as measured at the volume's
last start, phase, storage class, age), a pending reset request, and the workspace
project (name, phase, quota use). Names come from the server's
saved state, else the hub's config; PVCs are also found by their labels.
"""
    examples = """
workspace-admin list -f /etc/jupyterhub/jupyterhub_config.py
workspace-admin list --user alice --user bob --json
workspace-admin list -l team=physics
workspace-admin list --deleted
"""
    users = List(Unicode(), config=True, help="Only these users (repeat --user for more).")
    deleted = Bool(
        False, config=True, help="The claims of deleted users kept by volume_retention, instead."
    )
    aliases = {**COMMON_ALIASES, "user": "ListCommand.users"}
    flags = {
        **COMMON_FLAGS,
        "deleted": (
            {"ListCommand": {"deleted": True}},
            "Show the claims of deleted users that volume_retention keeps, and when they may "
            "be purged.",
        ),
    }

    async def run(self, ctx: Context) -> int:
        if self.deleted:
            return await print_retained(self, ctx)
        names = list(self.users) + list(self.extra_args)
        rows: list[Row] = []
        if names:
            users = []
            for name in names:
                try:
                    users.append(await ctx.hub.get_user(name))
                except HubError as e:
                    rows.append(Row(user=name, error=str(e)))
        else:
            users = await ctx.hub.list_users()
        workspaces = []
        for user in users:
            try:
                workspaces.append(await self.workspace(ctx, user))
            except KubeError as e:
                rows.append(Row(user=user["name"], error=str(e)))
        now = datetime.now(timezone.utc)
        if self.json:
            print(json.dumps([ws.as_dict(now=now) for ws in workspaces], indent=2))
        else:
            print(format_table([ws.as_dict(now=now) for ws in workspaces]))
        return self.finish(rows, print_json=False)  # the rows are printed: only the failures remain
