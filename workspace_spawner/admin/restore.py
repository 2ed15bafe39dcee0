"""``workspace-admin restore USER --snapshot NAME``: a user's volume as a snapshot holds it.

With the server stopped: a new claim made from the snapshot (``spec.dataSource``), waited
for until Bound, then the claim the server's state names marked as replaced by it; the
spawner mounts the new claim from the next start and saves its name in the state
(:mod:`workspace_spawner.volumes.restore`). ``--confirm`` later deletes the replaced
claims the saved state no longer names; ``purge`` does the same once their time is up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from traitlets import Bool, Unicode

from ..constants import (
    REPLACED_AT_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    REPLACED_REASON_ANNOTATION,
    VOLUME_NAME_LABEL,
)
from ..kube import KubeError
from ..kube.policy import Deadline
from ..kube.retained import delete_pvc_unchanged
from ..kube.snapshots import read_snapshot
from ..kube.volumes import delete_pvc, ensure_pvc, patch_pvc, read_pvc, read_pvc_events
from ..volumes import manifests as m
from ..volumes import restore as rs
from ..volumes.ownership import username_slugs
from ..volumes.retention import format_duration
from ..volumes.snapshots import snapshot_state
from .command import (
    COMMON_ALIASES,
    COMMON_FLAGS,
    DRY_RUN_FLAG,
    Context,
    Refused,
    Row,
    UsageError,
    UsersCommand,
)
from .hub import server_state, server_status
from .workspaces import PVCS_STATE_KEY, build_spawner, claims_in_use

__all__ = ["RestoreCommand"]

_NO_STATE = (
    "the hub's answer holds no server state, so which claims the next start uses cannot be "
    "told: the token needs the scopes read:servers and admin:server_state"
)


@dataclass
class Target:
    """The volume to restore: the claim the state names, and the one in use from the next start."""

    namespace: str
    volume: str
    state_name: str  # the claim the server's saved state names
    state_pvc: dict[str, Any]  # that claim as read
    current: dict[str, Any]  # that claim, or the one an earlier restore put in its place
    retention: int  # volume_retention in seconds


class RestoreCommand(UsersCommand):
    name = "workspace-admin restore"
    description = """Restore a user's volume from a VolumeSnapshot, keeping the old claim.

Usage: workspace-admin restore USER --snapshot NAME [--volume KEY] [options]
       workspace-admin restore USER --confirm [--volume KEY] [options]

Needs the server stopped. Makes a new claim from the snapshot (spec.dataSource; the
old claim's storage class, access modes and labels; at least the snapshot's
restoreSize), waits until it is Bound (at most --timeout seconds; the provisioner's
error is shown), then marks the old claim workspace-spawner.jupyter.org/replaced=true
with when, why and its replacement. The next start mounts the new claim and saves its
name in the server's state. A failure at any step deletes the half-made claim and
leaves the old one as it was. --volume KEY restores one of workspace_volumes (default:
home). workspace-admin snapshots USER lists the snapshots.

The old claim is kept until --confirm deletes it, or purge does once volume_retention
has passed since the restore; both only once the server's saved state no longer names
it (after the next start). Every change is logged.
"""
    examples = """
workspace-admin snapshots alice
workspace-admin restore alice --snapshot claim-alice-reset-20261201t200000z --dry-run
workspace-admin restore alice --snapshot claim-alice-reset-20261201t200000z
workspace-admin restore alice --snapshot claim-alice--data-snap --volume data
workspace-admin restore alice --confirm
"""
    snapshot = Unicode("", config=True, help="The VolumeSnapshot to restore from.")
    volume = Unicode(
        m.HOME_VOLUME, config=True, help="The volume: home, or a workspace_volumes key."
    )
    confirm = Bool(False, config=True, help="Delete the claims earlier restores replaced.")
    aliases = {
        **COMMON_ALIASES,
        "snapshot": "RestoreCommand.snapshot",
        "volume": "RestoreCommand.volume",
    }
    flags = {
        **COMMON_FLAGS,
        **DRY_RUN_FLAG,
        "confirm": (
            {"RestoreCommand": {"confirm": True}},
            "Delete the claims that earlier restores replaced, once the saved state no longer "
            "names them (after the server's next start).",
        ),
    }

    def check_args(self) -> None:
        if len(self.extra_args) != 1:
            raise UsageError("Name one user: workspace-admin restore USER --snapshot NAME.")
        if bool(self.snapshot) == bool(self.confirm):
            raise UsageError(
                "Pass --snapshot NAME to restore, or --confirm (later, after the server's next "
                "start) to delete the claims a restore replaced; not both."
            )

    async def run(self, ctx: Context) -> int:
        (name,) = self.extra_args
        action = self._delete_replaced if self.confirm else self._restore
        return self.finish(await self.each_user(ctx, [name], action))

    # -- restore ------------------------------------------------------------------------

    async def _target(self, ctx: Context, row: Row, user: dict[str, Any]) -> Target:
        status = server_status(user)
        if status != "stopped":
            raise Refused(
                f"the server is {status}: a restore needs it stopped, so that nothing writes to "
                f"the volume meanwhile. Stop it first (workspace-admin stop {row.user}), then "
                "run this again"
            )
        if claims_in_use(user=user, spawner_class=ctx.spawner_class, config=ctx.config) is None:
            raise Refused(_NO_STATE)
        ws = await self.workspace(ctx, user, with_projects=False)
        state = server_state(user)
        spawner = build_spawner(
            ctx.spawner_class, config=ctx.config, username=row.user, state=state
        )
        keys = [m.HOME_VOLUME, *getattr(spawner, "workspace_volumes", {})]
        if self.volume not in keys:
            raise Refused(f"no volume {self.volume!r}: the volumes are {', '.join(keys)}")
        saved = state.get(PVCS_STATE_KEY) if isinstance(state.get(PVCS_STATE_KEY), dict) else {}
        state_name = saved.get(self.volume) or (
            ws.home_pvc
            if self.volume == m.HOME_VOLUME
            else m.extra_pvc_name(home=ws.home_pvc, volume=self.volume)
        )
        current = await read_pvc(api=ctx.core, namespace=ws.namespace, name=state_name)
        if current is None:
            raise Refused(
                f"no claim {state_name} in {ws.namespace} to restore into: the volume was "
                "never made (start the server once) or was deleted"
            )
        in_use = current
        pending = rs.replacement(current)
        if pending:
            # an earlier restore not yet taken by a start: that claim is replaced too
            in_use = await read_pvc(api=ctx.core, namespace=ws.namespace, name=pending) or current
        return Target(
            namespace=ws.namespace,
            volume=self.volume,
            state_name=state_name,
            state_pvc=current,
            current=in_use,
            retention=int(getattr(spawner, "volume_retention_seconds", 0)),
        )

    async def _snapshot(self, ctx: Context, row: Row, target: Target) -> dict[str, Any]:
        found = await read_snapshot(api=ctx.core, namespace=target.namespace, name=self.snapshot)
        if found is None:
            raise Refused(
                f"no VolumeSnapshot {self.snapshot} in {target.namespace}: "
                f"workspace-admin snapshots {row.user} lists {row.user}'s"
            )
        claim = ((found.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName")
        source = (
            await read_pvc(api=ctx.core, namespace=target.namespace, name=claim) if claim else None
        )
        refusal = rs.snapshot_refusal(
            snapshot=found,
            source=source,
            username=row.user,
            slugs=username_slugs(row.user),
            volume=target.volume,
        )
        if refusal:
            raise Refused(refusal)
        state, error = snapshot_state(found)
        if state != "ready":
            said = f": {error}" if error else ""
            raise Refused(
                f"VolumeSnapshot {self.snapshot} is {state}{said}; only a snapshot that is "
                "readyToUse can be restored"
            )
        return found

    async def _restore(self, ctx: Context, row: Row, user: dict[str, Any]) -> None:
        target = await self._target(ctx, row, user)
        snapshot = await self._snapshot(ctx, row, target)
        now = datetime.now(timezone.utc)
        old = target.current
        old_name = old["metadata"]["name"]
        new_name = rs.restored_claim_name(old_name, now=now)
        size = rs.restore_size(
            requested=m.pvc_capacity(old) or "",
            snapshot_size=(snapshot.get("status") or {}).get("restoreSize") or "",
        )
        body = rs.make_restored_pvc(old=old, name=new_name, snapshot=self.snapshot, size=size)
        storage_class = body["spec"].get("storageClassName") or "the default class"
        row.details.update(
            {
                "volume": target.volume,
                "old_pvc": old_name,
                "pvc": new_name,
                "snapshot": self.snapshot,
            }
        )
        self.say(
            row,
            f"create PVC {new_name} in {target.namespace} ({size}, {storage_class}) from "
            f"VolumeSnapshot {self.snapshot}, and wait until it is Bound",
        )
        marked = list(dict.fromkeys([target.state_name, old_name]))
        kept = f"purge after {format_duration(target.retention)}" if target.retention else "purge"
        self.say(
            row,
            f"mark PVC {', '.join(marked)} as replaced by {new_name} (kept until "
            f"restore --confirm or {kept}); the next start mounts {new_name}",
        )
        if self.dry_run:
            return
        await self._create_bound(ctx, row, namespace=target.namespace, body=body)
        reason = f"restored from VolumeSnapshot {self.snapshot} by workspace-admin restore"
        patch = rs.replaced_patch(by=new_name, now=now, reason=reason, retention=target.retention)
        before = {target.state_name: target.state_pvc, old_name: old}
        try:
            for name in marked:
                await patch_pvc(api=ctx.core, namespace=target.namespace, name=name, patch=patch)
                self.log.info("%s: marked PVC %s as replaced by %s", row.user, name, new_name)
        except KubeError:
            await self._undo(ctx, row, namespace=target.namespace, new=new_name, before=before)
            raise
        self.note(row, f"restored: {row.user}'s next start mounts {new_name}")

    async def _create_bound(
        self, ctx: Context, row: Row, *, namespace: str, body: dict[str, Any]
    ) -> None:
        name = body["metadata"]["name"]
        _, created = await ensure_pvc(api=ctx.core, namespace=namespace, body=body)
        if not created:
            raise Refused(f"a claim {name} exists already: run the restore again in a second")
        self.log.info("%s: created PVC %s from VolumeSnapshot %s", row.user, name, self.snapshot)
        try:
            await self._wait_bound(ctx, namespace=namespace, name=name)
        except (KubeError, TimeoutError, asyncio.CancelledError):
            self.log.warning("%s: deleting PVC %s, which did not bind", row.user, name)
            await delete_pvc(api=ctx.core, namespace=namespace, name=name)
            raise

    async def _wait_bound(self, ctx: Context, *, namespace: str, name: str) -> None:
        """Until the claim is Bound (or waits for its first pod); TimeoutError with the why."""
        deadline = Deadline(self.timeout)
        while True:
            pvc = await read_pvc(api=ctx.core, namespace=namespace, name=name)
            if pvc is None:
                raise KubeError(f"The new claim {name} disappeared while it was being bound")
            if (pvc.get("status") or {}).get("phase") == "Bound":
                return
            events = await read_pvc_events(api=ctx.core, namespace=namespace, name=name)
            if m.waits_for_first_consumer(events):
                return  # bound when the next start's pod is scheduled
            if deadline.expired:
                last = [e for e in events if e.get("type") == "Warning"] or events
                why = f": {last[-1].get('reason')}: {last[-1].get('message')}" if last else ""
                raise TimeoutError(
                    f"the claim made from VolumeSnapshot {self.snapshot} was not Bound after "
                    f"{self.timeout:g}s{why}. Nothing was changed (the new claim is deleted); "
                    "fix the cause, or raise --timeout"
                )
            await asyncio.sleep(0.25)

    async def _undo(
        self, ctx: Context, row: Row, *, namespace: str, new: str, before: dict[str, Any]
    ) -> None:
        """Take back a restore that failed after its claim was made: as if it never ran."""
        for name, pvc in before.items():
            now = await read_pvc(api=ctx.core, namespace=namespace, name=name)
            if now is not None and rs.replacement(now) == new:
                await patch_pvc(
                    api=ctx.core, namespace=namespace, name=name, patch=rs.marks_as_in(pvc)
                )
        self.log.warning("%s: the restore failed: deleting PVC %s again", row.user, new)
        await delete_pvc(api=ctx.core, namespace=namespace, name=new)

    # -- --confirm ----------------------------------------------------------------------

    async def _delete_replaced(self, ctx: Context, row: Row, user: dict[str, Any]) -> None:
        ws = await self.workspace(ctx, user, with_projects=False)
        in_state = claims_in_use(user=user, spawner_class=ctx.spawner_class, config=ctx.config)
        if in_state is None:
            raise Refused(_NO_STATE)
        replaced = [
            pvc
            for pvc in ws.pvcs
            if rs.is_replaced(pvc)
            and ((pvc["metadata"].get("labels") or {}).get(VOLUME_NAME_LABEL) or m.HOME_VOLUME)
            == self.volume
        ]
        if not replaced:
            self.note(row, f"no claim of the volume {self.volume} was replaced by a restore")
        for pvc in replaced:
            meta = pvc["metadata"]
            notes = meta.get("annotations") or {}
            by = notes.get(REPLACED_BY_ANNOTATION, "?")
            if meta["name"] in in_state:
                self.note(
                    row,
                    f"kept PVC {meta['name']}: the server's saved state still names it (the "
                    f"swap to {by} happens at {row.user}'s next start); run this again after it",
                )
                continue
            self.say(
                row,
                f"delete PVC {meta['name']} in {ws.namespace}, replaced by {by} at "
                f"{notes.get(REPLACED_AT_ANNOTATION, '?')} "
                f"({notes.get(REPLACED_REASON_ANNOTATION, 'a restore')})",
            )
            if self.dry_run:
                continue
            deleted = await delete_pvc_unchanged(
                api=ctx.core,
                namespace=ws.namespace,
                name=meta["name"],
                uid=meta["uid"],
                resource_version=meta["resourceVersion"],
            )
            if not deleted:
                self.note(row, f"not deleted: PVC {meta['name']} changed since it was read")
