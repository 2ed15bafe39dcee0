"""``workspace-admin expand``: raise the capacity of one user's PVC."""

from __future__ import annotations

from typing import Any

from traitlets import Unicode

from ..kube.admin import list_storage_classes, read_storage_class
from ..kube.volumes import patch_pvc
from ..quantity import parse_bytes
from .command import (
    COMMON_ALIASES,
    COMMON_FLAGS,
    DRY_RUN_FLAG,
    AdminCommand,
    Context,
    Refused,
    Row,
    UsageError,
    pick_pvc,
)
from .workspaces import build_spawner

__all__ = ["ExpandCommand"]


class ExpandCommand(AdminCommand):
    name = "workspace-admin expand"
    description = """Raise the capacity of one user's PVC: workspace-admin expand USER SIZE.

Usage: workspace-admin expand USER SIZE [options]

The PVC's storage request is raised to SIZE (a Kubernetes quantity, e.g. 20Gi); the
storage driver grows the volume, for most drivers while it is in use. Refuses a
shrink (Kubernetes cannot shrink a volume) and a StorageClass without
allowVolumeExpansion. The hub's config is not changed: raise storage_capacity
there too, or the spawner logs a warning at every start of this user.
"""
    examples = """
workspace-admin expand alice 20Gi
workspace-admin expand alice 50Gi --pvc claim-alice-data
workspace-admin expand alice 20Gi --dry-run --json
"""
    pvc = Unicode("", config=True, help="The PVC to expand (default: the user's main PVC).")
    aliases = {**COMMON_ALIASES, "pvc": "ExpandCommand.pvc"}
    flags = {**COMMON_FLAGS, **DRY_RUN_FLAG}

    def check_args(self) -> None:
        if len(self.extra_args) != 2:
            raise UsageError(
                "Give a user and a size: workspace-admin expand USER SIZE (e.g. expand alice 20Gi)."
            )
        try:
            parse_bytes(self.extra_args[1])
        except ValueError as e:
            raise UsageError(str(e)) from e

    async def run(self, ctx: Context) -> int:
        name, size = self.extra_args

        async def expand(ctx: Context, row: Row, user: dict[str, Any]) -> None:
            ws = await self.workspace(ctx, user, with_projects=False)
            pvc_name = pick_pvc(ws, self.pvc)
            pvc = next(p for p in ws.pvcs if p["metadata"]["name"] == pvc_name)
            current = (
                ((pvc.get("spec") or {}).get("resources") or {})
                .get("requests", {})
                .get("storage", "0")
            )
            row.details.update(pvc=pvc_name, requested=current, size=size)
            if parse_bytes(size) < parse_bytes(current):
                raise Refused(
                    f"PVC {pvc_name} requests {current}: "
                    f"Kubernetes cannot shrink a volume to {size}"
                )
            if parse_bytes(size) == parse_bytes(current):
                self.note(row, f"nothing to do: PVC {pvc_name} already requests {current}")
                return
            await self._check_storage_class(ctx, pvc)
            self.say(
                row,
                f"raise the request of PVC {pvc_name} in {ws.namespace} from {current} to {size}",
            )
            if not self.dry_run:
                # https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
                patch = {"spec": {"resources": {"requests": {"storage": size}}}}
                await patch_pvc(api=ctx.core, namespace=ws.namespace, name=pvc_name, patch=patch)
            spawner = build_spawner(
                ctx.spawner_class, config=ctx.config, username=row.user, state={}
            )
            configured = spawner.storage_capacity
            note = (
                f"The hub's config is unchanged (storage_capacity: {configured}): raise "
                f"c.KubeSpawner.storage_capacity (or the profile's) to {size} too. "
                "The spawner never shrinks a PVC, but logs a warning at each start "
                "while the config asks for less."
            )
            row.details["note"] = note
            if not self.json:
                print(note)

        return self.finish(await self.each_user(ctx, [name], expand))

    async def _check_storage_class(self, ctx: Context, pvc: dict[str, Any]) -> None:
        """Refuse unless the PVC's StorageClass allows expansion
        (https://kubernetes.io/docs/concepts/storage/storage-classes/#allow-volume-expansion)."""
        name = (pvc.get("spec") or {}).get("storageClassName")
        if not name:
            raise Refused(
                f"PVC {pvc['metadata']['name']} has no storage class "
                "(a statically bound volume): it cannot be expanded"
            )
        sc = await read_storage_class(api=ctx.core, name=name)
        if sc is None:
            names = ", ".join(
                s["metadata"]["name"] for s in await list_storage_classes(api=ctx.core)
            )
            raise Refused(f"StorageClass {name} does not exist (there are: {names or 'none'})")
        if not sc.get("allowVolumeExpansion"):
            raise Refused(
                f"StorageClass {name} does not allow volume expansion "
                "(allowVolumeExpansion is not true); "
                "a cluster admin can set it if the storage driver supports expansion"
            )
