"""``workspace-admin snapshots USER``: the VolumeSnapshots taken before the user's resets."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..kube import KubeError
from ..kube.snapshots import list_snapshots, snapshot_api_served
from ..volumes.snapshots import snapshot_rows, snapshot_selector
from .command import COMMON_FLAGS, Context, Refused, Row, UsageError, UsersCommand
from .hub import HubError
from .workspaces import age_of, username_label

__all__ = ["SnapshotsCommand", "format_snapshots"]


def format_snapshots(rows: list[dict[str, Any]], *, now: datetime) -> str:
    if not rows:
        return "No snapshots."
    head = ("SNAPSHOT", "PVC", "STATE", "SIZE", "AGE", "REASON")
    lines = [head] + [
        (
            r["name"],
            r["pvc"],
            r["state"] + (f": {r['error']}" if r["error"] else ""),
            r["size"],
            age_of(r["created"], now=now),
            r["reason"],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


class SnapshotsCommand(UsersCommand):
    name = "workspace-admin snapshots"
    description = """List the snapshots taken before a user's volume resets, newest first.

Usage: workspace-admin snapshots USER [options]

With c.WorkspaceSpawner.volume_snapshot_class set, every reset of a workspace
volume is preceded by a VolumeSnapshot of its claim; the newest
volume_snapshots_keep per volume are kept. This shows them: name, claim, state
(ready, pending, failed with the driver's message), size, age and the reason of
the reset. Needs list on volumesnapshots (snapshot.storage.k8s.io).
"""
    examples = """
workspace-admin snapshots alice
workspace-admin snapshots alice --json
"""
    flags = {**COMMON_FLAGS}

    def check_args(self) -> None:
        if len(self.extra_args) != 1:
            raise UsageError("Name one user: workspace-admin snapshots USER.")

    async def run(self, ctx: Context) -> int:
        (name,) = self.extra_args
        row = Row(user=name)
        rows: list[dict[str, Any]] = []
        try:
            user = await ctx.hub.get_user(name)
            ws = await self.workspace(ctx, user, with_projects=False)
            if not await snapshot_api_served(api=ctx.core):
                raise Refused(
                    "this cluster does not serve the VolumeSnapshot API "
                    "(snapshot.storage.k8s.io/v1): "
                    "there are no snapshots"
                )
            found = await list_snapshots(
                api=ctx.core,
                namespace=ws.namespace,
                label_selector=snapshot_selector(username_label=username_label(name)),
            )
            rows = snapshot_rows(found)
        except (HubError, KubeError, Refused) as e:
            row.error = str(e)
            return self.finish([row], print_json=False)
        if self.json:
            print(json.dumps(rows, indent=2))
        else:
            print(format_snapshots(rows, now=datetime.now(timezone.utc)))
        return 0
