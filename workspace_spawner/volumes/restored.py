"""RestoredClaimMixin: from the next start on, mount the claim an admin's restore made.

``workspace-admin restore`` marks the claim the server's state names as replaced by a
claim made from a snapshot (:mod:`.restore`). The hub's REST API cannot write a server's
state, so the spawner completes the swap: when the claim it is about to use carries the
mark, it mounts the replacement instead, checked as any claim found by name, and
saves the new name in its state (``get_state``).
"""

from __future__ import annotations

from typing import Any

from traitlets import HasTraits

from ..constants import REPLACED_BY_ANNOTATION, RESTORED_FROM_ANNOTATION
from ..kube import KubeError
from . import manifests as m
from .restore import replacement

__all__ = ["RestoredClaimMixin"]


class RestoredClaimMixin(HasTraits):
    """One step of :class:`~workspace_spawner.volumes.mixin.VolumesMixin`'s claim lookup."""

    async def follow_restored_claim(
        self, *, name: str, pvc: dict[str, Any], volume: str
    ) -> tuple[str, dict[str, Any]]:
        """``(name, pvc)``, or the claim a restore put in their place.

        The caller then checks the claim returned as any claim found by name (the
        ownership and volume checks of ``_ensure_one_pvc``), so a mark pointing at
        another user's claim, or another volume's, fails the start. One step only: a
        later restore re-points the claim the state names, so the mark on it always
        names the newest restore.
        """
        target = replacement(pvc)
        if target is None:
            return name, pvc
        new = await self._read_pvc(target)
        what = "workspace volume" if volume == m.HOME_VOLUME else f"volume {volume}"
        if new is None:
            # never the old data silently: the admin asked for the snapshot's
            raise KubeError(
                f"Your {what} was restored into the claim {target}, which does not exist, so "
                f"your server does not start with the older claim {name}. An admin can restore "
                f"again, or remove the annotation {REPLACED_BY_ANNOTATION} from {name} to use it "
                "as it is."
            )
        snapshot = (new["metadata"].get("annotations") or {}).get(RESTORED_FROM_ANNOTATION, "")
        self.log.info(
            "%s: PVC %s was replaced by %s (restored from %s): using it from now on",
            self._log_name,
            name,
            target,
            snapshot or "a snapshot",
        )
        self.emit_progress(
            f"Your {what} was restored by an administrator"
            + (f" from the snapshot {snapshot}" if snapshot else "")
            + f": your files are as they were then (claim {target})"
        )
        return target, new

    async def pending_restored_claims(self, volumes: list[str]) -> list[str]:
        """The claims restores made for ``volumes`` that no start has taken yet.

        When the user is deleted before their next start, these go (or are kept, with
        ``volume_retention``) with the claims the state names, instead of staying behind
        labelled as the user's. Another user's claim a mark points at is left alone.
        """
        found = []
        for volume in volumes:
            pvc = await self._read_pvc(self._pvc_name_for(volume))
            target = replacement(pvc) if pvc is not None else None
            new = await self._read_pvc(target) if target else None
            if new is None:
                continue
            try:
                self._refuse_foreign_claim(new, volume=volume)
            except KubeError:
                continue
            found.append(target)
        return found
