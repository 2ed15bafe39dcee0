"""StorageLifecycleMixin: what happens to a workspace volume over its life, beyond one start.

- usage: the ``setup-volume`` init container measures the volume (statfs) at every
  start; the spawner stores it on the claim and warns a user whose volume is nearly
  full (:mod:`.usage`);
- retention: deleting a user keeps their claims for ``volume_retention``, labelled,
  until ``workspace-admin purge`` (:mod:`.retention`);
- snapshots: with ``volume_snapshot_class`` every reset is preceded by a VolumeSnapshot
  of the claim, ready before anything is deleted (:mod:`.snapshots`).

Used by :class:`~workspace_spawner.volumes.mixin.VolumesMixin`, which calls these
steps from its own.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from functools import partial
from typing import Any

from traitlets import HasTraits

from ..constants import DELETED_AT_ANNOTATION, PURGE_AFTER_ANNOTATION, USERNAME_LABEL
from ..initcontainers import InitContainerFailed
from ..kube import KubeError, to_dict
from ..kube import snapshots as kube_snapshots
from ..kube.hubcache import HubCache
from ..kube.policy import Deadline, is_transient
from ..kube.volumes import delete_pvc, patch_pvc, read_pvc
from . import retention as r
from . import snapshots as snap
from .manifests import HOME_VOLUME
from .usage import split_usage, usage_annotation, usage_warning

__all__ = ["StorageLifecycleMixin", "SnapshotBeforeReset"]


class SnapshotBeforeReset(InitContainerFailed):
    """setup-volume found a reset to do and asks for a snapshot first; nothing was changed."""

    def __init__(self, reason: str) -> None:
        # not a failure: the start goes on with a snapshot, so the spawn page shows nothing
        super().__init__(
            f"A snapshot of the workspace volume is needed before its reset ({reason})",
            progress="",
        )
        self.reason = reason


class StorageLifecycleMixin(HasTraits):
    """The steps of a workspace volume's life beyond one start (its traits: :mod:`.traits`)."""

    # the first start in this hub process checks the snapshot API once, per API server
    # and class: what is wrong ("" when nothing) (reset_caches() forgets it)
    _snapshot_api_problems: HubCache[tuple[str, str], str] = HubCache(
        "what is wrong with volume_snapshot_class"
    )

    @classmethod
    def reset_caches(cls) -> None:
        """Check the snapshot API again at the next start, as a restarted hub would."""
        StorageLifecycleMixin._snapshot_api_problems.clear()

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
                api=self.api,
                namespace=self.namespace,
                name=pvc_name,
                patch={"metadata": {"annotations": usage_annotation(usage)}},
            )
        except KubeError as e:
            # the usage is information: a hub without the right still starts servers
            self.log.warning(
                "%s: not recording the usage on PVC %s: %s", self._log_name, pvc_name, e
            )
        warning = usage_warning(
            usage, warn_percent=self.volume_usage_warn_percent, pvc_name=pvc_name
        )
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
            await self.kube_request(
                partial(delete_pvc, api=self.api, namespace=self.namespace, name=name),
                what=f"delete PVC {name}",
            )
            return
        await self.kube_request(
            partial(self._retain_pvc, name=name, seconds=seconds), what=f"keep PVC {name}"
        )

    async def _retain_pvc(self, *, name: str, seconds: int) -> bool:
        pvc = await read_pvc(api=self.api, namespace=self.namespace, name=name)
        if pvc is None:
            self.log.info("%s: no PVC %s to keep", self._log_name, name)
            return False
        patch = r.retain_patch(pvc, now=datetime.now(timezone.utc), retention=seconds)
        await patch_pvc(api=self.api, namespace=self.namespace, name=name, patch=patch)
        until = patch["metadata"]["annotations"]
        self.log.warning(
            "%s: user deleted; keeping PVC %s until %s (volume_retention=%s), then "
            "workspace-admin purge deletes it",
            self._log_name,
            name,
            until[PURGE_AFTER_ANNOTATION],
            self.volume_retention,
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
            if is_transient(e):
                self.log.warning("%s: %s (retrying)", self._log_name, e)
                return False
            raise
        return True

    async def reclaim_retained_pvc(self, pvc: dict[str, Any]) -> dict[str, Any]:
        """A claim kept from a deleted user of this name is this user's again: marks off."""
        if not r.is_retained(pvc):
            return pvc
        name = pvc["metadata"]["name"]
        deleted_at = ((pvc["metadata"].get("annotations") or {}).get(DELETED_AT_ANNOTATION)) or "?"
        # the username label exactly as KubeSpawner puts it on this user's claims
        labels = (to_dict(self.get_pvc_manifest()).get("metadata") or {}).get("labels") or {}
        patch = r.reclaim_patch(pvc, username_label=labels.get(USERNAME_LABEL, ""))
        pvc = await self.kube_request(
            partial(patch_pvc, api=self.api, namespace=self.namespace, name=name, patch=patch),
            what=f"take PVC {name} back",
        )
        self.log.warning(
            "%s: took back PVC %s, kept since the user's deletion at %s",
            self._log_name,
            name,
            deleted_at,
        )
        self.emit_progress(
            f"Your workspace volume {name} was kept after your user was deleted ({deleted_at}): "
            "your files are back"
        )
        return pvc

    # -- snapshots before resets ---------------------------------------------------------

    def snapshot_setup_env(self) -> dict[str, str]:
        """What the setup-volume script needs to know of snapshots (this start's)."""
        return snap.snapshot_env(
            required=bool(self.volume_snapshot_class), taken=self._volume_setup.get("snapshot", "")
        )

    def snapshot_needed(self, message: str) -> SnapshotBeforeReset | None:
        """The request of a setup-volume that stopped for a snapshot (its termination message)."""
        if not self.volume_snapshot_class:
            return None
        reason = snap.snapshot_needed_reason(message)
        return None if reason is None else SnapshotBeforeReset(reason)

    async def check_snapshot_api(self) -> str | None:
        """Why snapshots cannot be taken here (the API or the class missing), or None."""
        name = self.volume_snapshot_class
        if not await kube_snapshots.snapshot_api_served(api=self.api):
            return (
                f"volume_snapshot_class is set ({name!r}) but this cluster does not serve the "
                "VolumeSnapshot API (snapshot.storage.k8s.io/v1): install the snapshot CRDs and "
                "controller (https://github.com/kubernetes-csi/external-snapshotter) and a CSI "
                "driver with snapshots, or unset c.WorkspaceSpawner.volume_snapshot_class"
            )
        if await kube_snapshots.read_snapshot_class(api=self.api, name=name) is None:
            return (
                f"the VolumeSnapshotClass {name!r} of volume_snapshot_class does not exist: "
                "see `kubectl get volumesnapshotclass`, and set one of those"
            )
        return None

    async def check_snapshot_api_once(self) -> None:
        """At the first start in this hub process: log what is wrong with the snapshot setting."""
        if not self.volume_snapshot_class:
            return
        key = (self.api.api_client.configuration.host, self.volume_snapshot_class)
        await StorageLifecycleMixin._snapshot_api_problems.get_or_compute(
            key, self._log_snapshot_api_problem
        )

    async def _log_snapshot_api_problem(self) -> str:
        try:
            problem = await self.check_snapshot_api()
        except KubeError as e:
            problem = f"cannot check volume_snapshot_class: {e}"
        if problem:
            self.log.error("%s; until then every reset of a workspace volume is refused", problem)
        return problem or ""

    async def snapshot_before_reset(self, needed: SnapshotBeforeReset) -> None:
        """Stop the pod, snapshot the claim, wait until it is ready, keep the newest few.

        The start then goes on with the snapshot's name for the script, which resets.
        When the snapshot fails or times out, the start goes on without the reset (the
        script is told so and changes nothing; the marker or request stays, so the next
        start tries again) and the spawn page says why: the user is never locked out of
        their files by a snapshot that cannot be made.
        """
        pvc_name = self._pvc_name_for(HOME_VOLUME)
        self.emit_progress(
            f"Your workspace volume is to be reset ({needed.reason}): taking a snapshot of it first"
        )
        # the pod goes first: the snapshot is of a volume that nothing writes to
        await self.stop(now=True)
        try:
            name = await self._take_snapshot(pvc_name=pvc_name, reason=needed.reason)
        except KubeError as e:
            self.log.error(
                "%s: no reset of PVC %s: the snapshot before it failed: %s",
                self._log_name,
                pvc_name,
                e,
            )
            self._volume_setup["snapshot"] = snap.NO_SNAPSHOT
            self.emit_progress(
                f"Your workspace volume was NOT reset, and nothing in it changed: the snapshot "
                f"taken before every reset could not be made ({e}). Your server starts with your "
                "files as they are; the reset is still asked for and is tried again at the next "
                f"start. If this keeps happening, send this message to your hub admin (the volume "
                f"is {pvc_name})."
            )
            return
        self._volume_setup["snapshot"] = name
        self.emit_progress(f"Snapshot {name} is ready: resetting the volume")
        try:
            await self._prune_snapshots(pvc_name)
        except KubeError as e:
            self.log.warning("%s: old snapshots of %s not deleted: %s", self._log_name, pvc_name, e)

    async def _take_snapshot(self, *, pvc_name: str, reason: str) -> str:
        problem = await self.check_snapshot_api()
        if problem:
            raise KubeError(problem)
        pvc = await self._read_pvc(pvc_name)
        if pvc is None:
            raise KubeError(f"the claim {pvc_name} is gone")
        name = snap.snapshot_name(pvc_name, now=datetime.now(timezone.utc))
        body = snap.make_snapshot(
            pvc=pvc, name=name, snapshot_class=self.volume_snapshot_class, reason=reason
        )
        await self.kube_request(
            partial(
                kube_snapshots.create_snapshot, api=self.api, namespace=self.namespace, body=body
            ),
            what=f"create VolumeSnapshot {name}",
        )
        self.log.info(
            "%s: VolumeSnapshot %s of PVC %s created (%s)", self._log_name, name, pvc_name, reason
        )
        deadline = Deadline(self.volume_snapshot_timeout)
        delay = 0.1
        while True:
            current = await self.kube_request(
                partial(
                    kube_snapshots.read_snapshot, api=self.api, namespace=self.namespace, name=name
                ),
                what=f"read VolumeSnapshot {name}",
            )
            state, error = snap.snapshot_state(current)
            if state == "ready":
                return name
            if state in ("failed", "gone"):
                if state == "failed":
                    await self._delete_unready_snapshot(name)
                raise KubeError(f"VolumeSnapshot {name}: {error}")
            if deadline.expired:
                await self._delete_unready_snapshot(name)
                raise KubeError(
                    f"VolumeSnapshot {name} was not ready to use after "
                    f"{self.volume_snapshot_timeout} s "
                    "(volume_snapshot_timeout)"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _delete_unready_snapshot(self, name: str) -> None:
        try:
            await kube_snapshots.delete_snapshot(api=self.api, namespace=self.namespace, name=name)
        except KubeError as e:
            self.log.warning("%s: the unready VolumeSnapshot %s stays: %s", self._log_name, name, e)

    async def _prune_snapshots(self, pvc_name: str) -> None:
        labels = (to_dict(self.get_pvc_manifest()).get("metadata") or {}).get("labels") or {}
        found = await kube_snapshots.list_snapshots(
            api=self.api,
            namespace=self.namespace,
            label_selector=snap.snapshot_selector(username_label=labels.get(USERNAME_LABEL, "")),
        )
        for old in snap.snapshots_to_prune(
            found, pvc_name=pvc_name, keep=self.volume_snapshots_keep
        ):
            self.log.info(
                "%s: deleting the old VolumeSnapshot %s (volume_snapshots_keep=%d)",
                self._log_name,
                old,
                self.volume_snapshots_keep,
            )
            await kube_snapshots.delete_snapshot(api=self.api, namespace=self.namespace, name=old)
