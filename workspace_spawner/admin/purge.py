"""``workspace-admin purge`` and ``list --deleted``: the claims kept after their users were deleted.

With ``volume_retention`` the spawner keeps a deleted user's claims, labelled
(:mod:`workspace_spawner.volumes.retention`). ``list --deleted`` shows them with the
time they may be purged; ``purge`` deletes those whose time is up. Both find the
claims by label in the spawner's namespace (every namespace with
``enable_user_namespaces``), so they work for users the hub no longer knows.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..constants import (
    DELETED_AT_ANNOTATION,
    DELETED_USERNAME_LABEL,
    RAW_USERNAME_ANNOTATION,
    VOLUME_NAME_LABEL,
)
from ..kube import KubeError
from ..kube.retained import delete_pvc_unchanged, list_retained_pvcs
from ..volumes import retention as r
from .command import COMMON_FLAGS, DRY_RUN_FLAG, AdminCommand, Context, Row
from .hub import HubError, UserNotFound
from .workspaces import age_of, build_spawner

__all__ = ["PurgeCommand", "retained_rows", "format_retained", "print_retained"]


def _namespace(ctx: Context) -> str | None:
    """The spawner's namespace, or None (all) when every user has a namespace of their own."""
    spawner = build_spawner(
        ctx.spawner_class, config=ctx.config, username="workspace-admin", state={}
    )
    return None if spawner.enable_user_namespaces else spawner.namespace


def retained_row(pvc: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    meta = pvc["metadata"]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    until = r.purge_after(pvc)
    return {
        "user": annotations.get(RAW_USERNAME_ANNOTATION) or labels.get(DELETED_USERNAME_LABEL, ""),
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
        "volume": labels.get(VOLUME_NAME_LABEL, ""),
        "requested": (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
            "storage", ""
        ),
        "deleted_at": annotations.get(DELETED_AT_ANNOTATION, ""),
        "purge_after": r.iso(until) if until else "",
        "expired": r.is_expired(pvc, now=now),
        "uid": meta.get("uid", ""),
        "resource_version": meta.get("resourceVersion", ""),
    }


async def retained_rows(ctx: Context, *, selector: str, now: datetime) -> list[dict[str, Any]]:
    pvcs = await list_retained_pvcs(api=ctx.core, namespace=_namespace(ctx), selector=selector)
    return [retained_row(pvc, now=now) for pvc in pvcs]


def format_retained(rows: list[dict[str, Any]], *, now: datetime) -> str:
    """The table of ``list --deleted``."""
    if not rows:
        return "No claims of deleted users are kept."
    head = ("USER", "PVC", "NAMESPACE", "REQUESTED", "DELETED", "PURGE AFTER", "")
    lines = [head] + [
        (
            row["user"],
            row["name"],
            row["namespace"],
            row["requested"],
            f"{age_of(row['deleted_at'], now=now)} ago" if row["deleted_at"] else "?",
            row["purge_after"] or "never (no purge-after annotation)",
            "expired" if row["expired"] else "",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


async def print_retained(command: AdminCommand, ctx: Context) -> int:
    """``workspace-admin list --deleted``."""
    now = datetime.now(timezone.utc)
    rows = await retained_rows(ctx, selector=command.selector, now=now)
    if command.json:
        print(
            json.dumps(
                [
                    {k: v for k, v in row.items() if k not in ("uid", "resource_version")}
                    for row in rows
                ],
                indent=2,
            )
        )
    else:
        print(format_retained(rows, now=now))
    return 0


class PurgeCommand(AdminCommand):
    name = "workspace-admin purge"
    description = """Delete the claims of deleted users whose retention period is over.

Usage: workspace-admin purge [options]

With c.WorkspaceSpawner.volume_retention set, deleting a user keeps their PVCs,
labelled workspace-spawner.jupyter.org/deleted=true with the time they may be
purged (workspace-admin list --deleted shows them). This deletes those whose time
is up, and with them their data, for good. A claim whose user exists in the hub
again is kept (it becomes theirs at their next start), and so is one that changed
since it was read. Run it daily, e.g. as a hub service (see jupyterhub_config.py).
Every deletion is logged.
"""
    examples = """
workspace-admin purge --dry-run
workspace-admin purge --json
"""
    flags = {**COMMON_FLAGS, **DRY_RUN_FLAG}

    async def run(self, ctx: Context) -> int:
        now = datetime.now(timezone.utc)
        rows: list[Row] = []
        for found in await retained_rows(ctx, selector=self.selector, now=now):
            if not found["expired"]:
                continue
            row = Row(
                user=found["user"] or "?",
                details={"pvc": found["name"], "namespace": found["namespace"]},
            )
            rows.append(row)
            try:
                await self._purge_one(ctx, row, found)
            except (HubError, KubeError) as e:
                row.error = str(e)
        if not rows and not self.json:
            print("Nothing to purge.")
        return self.finish(rows)

    async def _purge_one(self, ctx: Context, row: Row, found: dict[str, Any]) -> None:
        if found["user"]:
            try:
                await ctx.hub.get_user(found["user"])
            except UserNotFound:
                pass
            else:
                self.note(
                    row,
                    f"kept PVC {found['name']}: the user exists again "
                    "and gets it back at the next start",
                )
                return
        self.say(
            row,
            f"delete PVC {found['name']} in {found['namespace']} "
            f"({found['requested']}, user deleted "
            f"{found['deleted_at'] or '?'}, kept until {found['purge_after']})",
        )
        if self.dry_run:
            return
        deleted = await delete_pvc_unchanged(
            api=ctx.core,
            namespace=found["namespace"],
            name=found["name"],
            uid=found["uid"],
            resource_version=found["resource_version"],
        )
        if not deleted:
            self.note(
                row, f"not deleted: PVC {found['name']} changed or went away since it was read"
            )
        row.details["deleted"] = deleted
