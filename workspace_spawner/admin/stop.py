"""``workspace-admin stop``: stop users' servers through the hub."""

from __future__ import annotations

from typing import Any

from .command import COMMON_FLAGS, DRY_RUN_FLAG, Context, Row, UsersCommand
from .hub import server_status

__all__ = ["StopCommand"]


class StopCommand(UsersCommand):
    name = "workspace-admin stop"
    description = """Stop users' servers through the hub, and wait until they are stopped.

Usage: workspace-admin stop USER... [options]

The volumes and projects stay. A server that does not stop within --timeout
seconds fails its row (exit 1).
"""
    examples = """
workspace-admin stop alice bob
workspace-admin stop alice --timeout 300
workspace-admin stop alice --dry-run
"""
    flags = {**COMMON_FLAGS, **DRY_RUN_FLAG}

    async def run(self, ctx: Context) -> int:
        async def stop(ctx: Context, row: Row, user: dict[str, Any]) -> None:
            if server_status(user) == "stopped":
                self.note(row, "nothing to do: the server is stopped")
                return
            await self.stop_server(ctx, row, user)

        return self.finish(await self.each_user(ctx, list(self.extra_args), stop))
