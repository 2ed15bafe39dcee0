"""VolumesMixin: the user's persistent workspace volume, further per-user and shared volumes.

The feature in the shape of every feature room: its settings (:mod:`.traits`), its
steps (before the pod: :mod:`.claims`; on the pod and while it starts: :mod:`.pod`;
over the volume's life: :mod:`.lifecycle`), and its pure builders (:mod:`.manifests`,
:mod:`.checks`). This module composes them and keeps the names the user's claims got
(saved in the state, so a changed template never detaches a user from their data).

Recipe steps (called by WorkspaceSpawner):

- :meth:`~.claims.ClaimSteps.ensure_workspace_volumes` before the pod exists: create or
  adopt the claims, expand them, read an admin's reset request;
- :meth:`~.claims.ClaimSteps.while_workspace_volumes_bind` around KubeSpawner's start: the
  claims bind while the pod starts, and one still Pending fails the start;
- :meth:`~.pod.VolumePodSteps.apply_workspace_volumes_to_pod` on KubeSpawner's pod: the
  pod volumes, the mounts, and the ``setup-volume`` init container that fills, resets or
  syncs the volume from the image (``setup-volume.sh``);
- :meth:`~.pod.VolumePodSteps.finish_workspace_volumes` once the pod runs.
"""

from __future__ import annotations

from traitlets import Dict

from ..initcontainers import InitContainerObserver
from ..kube.policy import RetryingRequests
from . import manifests as m
from .claims import ClaimSteps
from .lifecycle import StorageLifecycleMixin
from .pod import VolumePodSteps, VolumeSetupFailed
from .restored import RestoredClaimMixin
from .traits import VolumeTraits

__all__ = ["VolumesMixin", "VolumeSetupFailed"]


class VolumesMixin(
    ClaimSteps,
    VolumePodSteps,
    StorageLifecycleMixin,
    RestoredClaimMixin,
    VolumeTraits,
    RetryingRequests,
    InitContainerObserver,
):
    """The volumes feature: each user's own PVC, filled from the image and kept across restarts.

    Traits ``workspace_*``, ``volume_*``, ``shared_volumes``; steps :meth:`ensure_workspace_volumes` (before
    the pod) and :meth:`apply_workspace_volumes_to_pod` (on the pod); the builders are in
    :mod:`workspace_spawner.volumes.manifests`. See docs/admin/volumes.md.
    """

    # volume -> the name of its claim, once created or adopted (saved in the state)
    _workspace_pvcs = Dict()

    # -- state: the claims' names, so a changed template never detaches a user ----------

    def get_state(self):
        state = super().get_state()
        names = self._workspace_pvc_names()
        if names:
            state["workspace_pvcs"] = dict(names)
        return state

    def load_state(self, state):
        super().load_state(state)
        names = state.get("workspace_pvcs")
        # remember_pvc_name = False: the templates decide every name at every start, as
        # for KubeSpawner's own pvc_name
        if isinstance(names, dict) and self.remember_pvc_name:
            self._workspace_pvc_names().update(names)
            if m.HOME_VOLUME in names:
                self.pvc_name = names[m.HOME_VOLUME]
                self._pvc_exists = True

    def _workspace_pvc_names(self) -> dict[str, str]:
        return self._workspace_pvcs

    def _pvc_name_for(self, volume: str) -> str:
        known = self._workspace_pvc_names().get(volume)
        if known:
            return known
        if volume == m.HOME_VOLUME:
            return self.pvc_name
        return m.extra_pvc_name(home=self._pvc_name_for(m.HOME_VOLUME), volume=volume)

    def _legacy_pvc_name(self, volume: str) -> str | None:
        """The name an older version gave ``volume``'s claim, to adopt when the new one is missing.

        Home: KubeSpawner 6 named claims with the "escape" slug scheme
        (``claim-alice-2esmith``) and saved no ``pvc_name``; KubeSpawner 7 looks for that
        name in the same case (``handle_legacy_names``), which is copied here because
        the workspace step creates the claim before KubeSpawner's ``_start()`` would.
        Extra volumes: workspace-spawner 0.1's ``<home>-<volume>`` (adopted only when
        labelled as this user's volume). Never when the state names the claim, and only
        for users who started a server before (state loaded).
        """
        if (
            not self.handle_legacy_names
            or volume in self._workspace_pvc_names()
            or self._state_kubespawner_version is None
        ):
            return None
        if volume != m.HOME_VOLUME:
            return m.legacy_extra_pvc_name(home=self._pvc_name_for(m.HOME_VOLUME), volume=volume)
        if self._pvc_exists or not self.remember_pvc_name:
            return None
        if self._state_kubespawner_version != "unknown":
            return None
        legacy = self._expand_user_properties(self.pvc_name_template, slug_scheme="escape")
        return legacy if legacy != self.pvc_name else None

    async def delete_forever(self) -> None:
        """JupyterHub deleted the user (or this named server): the extra volumes go with the main one.

        KubeSpawner deletes the main claim when `delete_pvc` is True, except for a
        named server that shares the user's claim; the `workspace_volumes` claims follow
        the same rule. Shared volumes are never deleted.
        https://jupyterhub.readthedocs.io/en/stable/reference/api/spawner.html#jupyterhub.spawner.Spawner.delete_forever
        """
        owns = self.delete_pvc and not (self.name and "{user_server}" not in self.pvc_name_template)
        keys = [*([m.HOME_VOLUME] if self.storage_pvc_ensure else []), *self.workspace_volumes]
        # read before KubeSpawner deletes the main claim, which holds the mark
        restored = await self.pending_restored_claims(keys) if owns else []
        await super().delete_forever()
        if not owns:
            return
        for name in [*(self._pvc_name_for(key) for key in self.workspace_volumes), *restored]:
            # deleted, or kept with volume_retention as the main claim is
            await self.dispose_workspace_pvc(name)
