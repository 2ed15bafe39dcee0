"""StorageLifecycleMixin: what happens to a workspace volume over its life, beyond one start.

- usage: the ``setup-volume`` init container measures the volume (statfs) at every
  start; the spawner stores it on the claim and warns a user whose volume is nearly
  full (:mod:`.usage`);
- retention: deleting a user keeps their claims for ``volume_retention``, labelled,
  until ``workspace-admin purge`` (:mod:`.retention`).

Used by :class:`~workspace_spawner.volumes.mixin.VolumesMixin`, which calls these
steps from its own.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import Any

from traitlets import HasTraits, Integer, TraitError, Unicode, validate

from ..constants import DELETED_AT_ANNOTATION, PURGE_AFTER_ANNOTATION, USERNAME_LABEL
from ..kube import KubeError, to_dict
from ..kube.volumes import delete_pvc, patch_pvc, read_pvc
from . import retention as r
from .usage import split_usage, usage_annotation, usage_warning

__all__ = ["StorageLifecycleMixin"]

# API answers worth retrying: the server is busy or briefly away
RETRY_STATUSES = {429, 500, 502, 503, 504}


class StorageLifecycleMixin(HasTraits):
    volume_usage_warn_percent = Integer(
        90,
        min=0,
        max=100,
        config=True,
        help="""Warn a user on the spawn page when their workspace volume is this full (percent).

        The `setup-volume` init container measures the volume at every start with
        statfs(2) (the file system's own counters: no walk of the files), the spawner
        stores size, used and available bytes on the claim as the annotation
        `workspace-spawner.jupyter.org/usage` (`workspace-admin list` shows them as
        USED and USE%), and over this percentage the spawn page says how full it is
        and what to do. 0 turns the warning off (the usage is still recorded).
        Storing it needs `patch` on persistentvolumeclaims
        (helm-values/rbac-storage-lifecycle.yaml); without it the start goes on and
        the hub logs a warning. Applies at the next start of each server.

        .. versionadded:: 0.2
        """,
    )

    volume_retention = Unicode(
        "0",
        config=True,
        help="""How long a deleted user's claims are kept before they may be purged (e.g. `7d`).

        A duration: a number with a unit, `s`, `m`, `h`, `d` or `w` (`12h`, `7d`,
        `1w2d`). `0` (the default) deletes the claims when the user is deleted, as
        KubeSpawner does with `delete_pvc`. Otherwise deleting a user (an admin, or
        jupyterhub-idle-culler with `--cull-users`) keeps every claim of the user's
        workspace volumes, labelled `workspace-spawner.jupyter.org/deleted=true`, with
        the annotation `workspace-spawner.jupyter.org/purge-after`, and detached from
        the user (the `hub.jupyter.org/username` label moves to
        `workspace-spawner.jupyter.org/deleted-username`). A user of the same name
        created again finds the data again at the first start; `workspace-admin
        purge` (run daily as a hub service) deletes the claims whose time is up.
        Needs `patch` on persistentvolumeclaims instead of `delete`. Only applies
        when `delete_pvc` is True; a change applies to the users deleted afterwards.

        .. versionadded:: 0.2
        """,
    )

    @validate("volume_retention")
    def _validate_volume_retention(self, proposal):
        try:
            seconds = r.parse_duration(proposal["value"])
        except ValueError as e:
            raise TraitError(f"volume_retention: {e}") from e
        return r.format_duration(seconds)

    @property
    def volume_retention_seconds(self) -> int:
        return r.parse_duration(self.volume_retention)

    # -- usage --------------------------------------------------------------------------

    async def record_volume_usage(self, *, message: str, pvc_name: str) -> str:
        """Store the usage line of the init container's ``message`` on the claim, warn if full.

        Returns the message without that line, for the spawn page.
        """
        now = r.iso(datetime.now(timezone.utc))
        text, usage = split_usage(message, measured=now)
        if usage is None:
            return text
        try:
            await patch_pvc(
                self.api,
                namespace=self.namespace,
                name=pvc_name,
                patch={"metadata": {"annotations": usage_annotation(usage)}},
            )
        except KubeError as e:
            # the usage is information: a hub without the right still starts servers
            self.log.warning("%s: not recording the usage on PVC %s: %s", self._log_name, pvc_name, e)
        warning = usage_warning(usage, warn_percent=self.volume_usage_warn_percent, pvc_name=pvc_name)
        if warning:
            self.log.warning("%s: PVC %s is %d%% full", self._log_name, pvc_name, usage.percent)
            self.emit_progress(warning)
        return text

    # -- retention ----------------------------------------------------------------------

    async def dispose_workspace_pvc(self, name: str) -> None:
        """A deleted user's claim: kept and labelled with ``volume_retention``, else deleted."""
        seconds = self.volume_retention_seconds
        if seconds <= 0:
            self.log.info("%s: deleting PVC %s", self._log_name, name)
            await self._retrying(
                partial(delete_pvc, self.api, namespace=self.namespace, name=name),
                what=f"delete PVC {name}",
            )
            return
        await self._retrying(partial(self._retain_pvc, name=name, seconds=seconds), what=f"keep PVC {name}")

    async def _retain_pvc(self, *, name: str, seconds: int) -> bool:
        pvc = await read_pvc(self.api, namespace=self.namespace, name=name)
        if pvc is None:
            self.log.info("%s: no PVC %s to keep", self._log_name, name)
            return False
        patch = r.retain_patch(pvc, now=datetime.now(timezone.utc), retention=seconds)
        await patch_pvc(self.api, namespace=self.namespace, name=name, patch=patch)
        until = patch["metadata"]["annotations"]
        self.log.warning(
            "%s: user deleted; keeping PVC %s until %s (volume_retention=%s), then "
            "workspace-admin purge deletes it",
            self._log_name, name, until[PURGE_AFTER_ANNOTATION], self.volume_retention,
        )
        return True

    async def _make_delete_pvc_request(self, pvc_name, request_timeout):
        """KubeSpawner's deletion of the main claim in ``delete_forever``, with retention.

        KubeSpawner calls this (through ``exponential_backoff``) only from
        ``delete_forever``; with ``volume_retention`` the claim is kept and labelled
        instead, and True tells the back-off it is done.
        """
        if self.volume_retention_seconds <= 0:
            return await super()._make_delete_pvc_request(pvc_name, request_timeout)
        try:
            await self._retain_pvc(name=pvc_name, seconds=self.volume_retention_seconds)
        except KubeError as e:
            if e.status in RETRY_STATUSES:
                self.log.warning("%s: %s (retrying)", self._log_name, e)
                return False
            raise
        return True

    async def reclaim_retained_pvc(self, pvc: dict[str, Any]) -> dict[str, Any]:
        """A claim kept from a deleted user of this name is this user's again: take the marks off."""
        if not r.is_retained(pvc):
            return pvc
        name = pvc["metadata"]["name"]
        deleted_at = ((pvc["metadata"].get("annotations") or {}).get(DELETED_AT_ANNOTATION)) or "?"
        # the username label exactly as KubeSpawner puts it on this user's claims
        labels = (to_dict(self.get_pvc_manifest()).get("metadata") or {}).get("labels") or {}
        patch = r.reclaim_patch(pvc, username_label=labels.get(USERNAME_LABEL, ""))
        pvc = await self._retrying(
            partial(patch_pvc, self.api, namespace=self.namespace, name=name, patch=patch),
            what=f"take PVC {name} back",
        )
        self.log.warning("%s: took back PVC %s, kept since the user's deletion at %s", self._log_name, name, deleted_at)
        self.emit_progress(
            f"Your workspace volume {name} was kept after your user was deleted ({deleted_at}): "
            "your files are back"
        )
        return pvc
