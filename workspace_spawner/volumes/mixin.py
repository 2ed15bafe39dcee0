"""VolumesMixin: the user's persistent workspace volume, further per-user and shared volumes.

Recipe steps (called by WorkspaceSpawner):

- :meth:`VolumesMixin.ensure_workspace_volumes` before the pod exists: create or adopt
  the claims, expand them, wait until they can bind, read an admin's reset request;
- :meth:`VolumesMixin.apply_workspace_volumes_to_pod` on KubeSpawner's pod: the pod
  volumes, the mounts, and the ``setup-volume`` init container that fills, resets or
  syncs the volume from the image (``setup-volume.sh``).

While the pod starts, a watcher task reads the init container's state from
KubeSpawner's pod reflector, shows it on the spawn page, and clears a reset request
once the init container has done it. If it fails, the start fails at once with its
message (:mod:`workspace_spawner.initcontainers`).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

from jupyterhub.utils import exponential_backoff
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Integer, TraitError, Unicode, default, validate

from ..constants import RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION, USERNAME_LABEL
from ..initcontainers import InitContainerChecks, InitContainerFailed, termination_text
from ..kube import KubeError, to_dict
from ..kube.volumes import (
    clear_pvc_annotation,
    ensure_pvc,
    list_pods,
    patch_pvc,
    read_pvc,
    read_pvc_events,
)
from ..podspec import add_init_containers, add_volume_mounts, add_volumes, notebook_container
from ..quantity import QuantityError, parse_bytes
from . import manifests as m
from .lifecycle import RETRY_STATUSES as _RETRY_STATUSES
from .lifecycle import StorageLifecycleMixin
from .ownership import foreign_claim_message, username_slugs
from .restored import RestoredClaimMixin
from .snapshots import NO_SNAPSHOT

_MOUNT_CHECKS = {
    "workspace_mount_path": partial(m.check_absolute_path, setting="workspace_mount_path"),
    "workspace_volumes": m.check_workspace_volumes,
    "shared_volumes": m.check_shared_volumes,
}
_PATH_CHECKS = {
    "workspace_sub_path": partial(m.check_sub_path, setting="workspace_sub_path"),
    "volume_populate_source": m.check_populate_source,
    "volume_reset_marker": partial(m.check_file_name, setting="volume_reset_marker"),
    "volume_sync_marker": partial(m.check_file_name, setting="volume_sync_marker"),
}


class VolumeSetupFailed(InitContainerFailed):
    """The ``setup-volume`` init container failed; the message is for the user on the spawn page."""


class VolumesMixin(StorageLifecycleMixin, RestoredClaimMixin, InitContainerChecks):
    """The volumes feature: each user's own PVC, filled from the image and kept across restarts.

    Traits ``workspace_*``, ``volume_*``, ``shared_volumes``; steps :meth:`ensure_workspace_volumes` (before
    the pod) and :meth:`apply_workspace_volumes_to_pod` (on the pod); the builders are in
    :mod:`workspace_spawner.volumes.manifests`. See docs/admin/volumes.md.
    """

    # -- KubeSpawner's own traits, with the defaults of a persistent workspace -------------

    @default("storage_pvc_ensure")
    def _default_storage_pvc_ensure(self) -> bool:
        """``True``: every user gets their own PVC (KubeSpawner's default: ``False``)."""
        return True

    @default("storage_capacity")
    def _default_storage_capacity(self) -> str:
        """``"10Gi"``: the size requested for each user's PVC (KubeSpawner's: none, no PVC)."""
        return "10Gi"

    @default("pvc_name_template")
    def _default_pvc_name_template(self) -> str:
        """``"claim-{username}"``: one PVC per user, shared by their named servers.

        KubeSpawner's default, ``claim-{user_server}``, gives each named server its own.
        """
        # one volume per user, shared by their named servers; a template with
        # {servername} (or {user_server}) gives each named server its own
        return "claim-{username}"

    @validate("storage_capacity")
    def _validate_storage_capacity(self, proposal):
        value = proposal["value"]
        if value is None:
            return value
        try:
            parse_bytes(value)
        except QuantityError as e:
            raise TraitError(f"storage_capacity: {e}") from e
        return str(value).strip()

    # -- the main workspace volume ------------------------------------------------------

    workspace_mount_path = Unicode(
        "/home/jovyan",
        config=True,
        help="""Where the user's workspace volume is mounted in the notebook container.

        An absolute path; the volume hides what the image has there, which is why the
        image's files are copied into it on the first start (see
        `volume_populate_source`). The quickstart images use `/opt/app-root`. A change
        applies at the next start of each server; the data stays in the volume.

        .. versionadded:: 0.1
        """,
    )

    workspace_sub_path = Unicode(
        "",
        config=True,
        help="""A directory inside the claim to mount instead of the whole claim.

        Relative, without `..`; empty (the default) mounts the claim's root. The
        OpenShift quickstart mounted `workspace`. The init container creates the
        directory as the notebook user, so it is never left owned by root. Changing it
        for existing users shows them another directory of their claim (the old one
        stays): change it only for new deployments.

        .. versionadded:: 0.1
        """,
    )

    volume_populate_source = Unicode(
        "",
        allow_none=True,
        config=True,
        help="""The image's directory whose files are copied into a new workspace volume.

        `""` (the default) means the image's files at `workspace_mount_path`, which the
        mounted volume hides in the notebook container but which the `setup-volume`
        init container sees, because it mounts the volume at /workspace-volume instead.
        An absolute path without `..` copies another directory; `None` turns copying
        (and so reset and sync) off. Copy only what users should own: the image's
        software copied into the volume would no longer follow image upgrades.

        Needs no Kubernetes rights: the init container runs the notebook image as the
        notebook user. Applies at the next start (only to empty volumes, or with a
        reset or sync).

        .. versionadded:: 0.1
        """,
    )

    volume_reset_marker = Unicode(
        ".delete-volume",
        allow_none=True,
        config=True,
        help="""File name that asks for a reset of the workspace volume at the next start.

        When the file exists in the top directory of the volume at start, the volume's
        content is deleted (or, with `volume_reset_backup`, moved into a backup) and the
        image's files are copied again. The marker is never followed if it is a
        symbolic link. `""` or `None` disables resets by the user; an admin can still
        ask for one with the PVC annotation
        `workspace-spawner.jupyter.org/reset-requested`.

        .. versionadded:: 0.1
        """,
    )

    volume_reset_backup = Bool(
        False,
        config=True,
        help="""Keep the old content of a reset volume in a backup the user can reach.

        The backup is `.volume-backups/reset-<UTC timestamp>` inside the volume; it
        counts against the volume's capacity, and the user deletes it when done. At
        most `volume_reset_backups_keep` are kept. An admin's reset request can choose
        otherwise with the annotation `workspace-spawner.jupyter.org/reset-backup`.

        .. versionadded:: 0.1
        """,
    )

    volume_reset_backups_keep = Integer(
        3,
        min=0,
        config=True,
        help="""How many reset backups to keep per volume (the newest); 0 keeps them all.

        Only directories the reset made (`.volume-backups/reset-*`) are counted and
        deleted; anything else the user puts there stays.

        .. versionadded:: 0.1
        """,
    )

    volume_sync_marker = Unicode(
        ".sync-volume",
        allow_none=True,
        config=True,
        help="""File name that asks to copy the image's new files into the volume at the next start.

        Files and directories that are in the image but not in the volume are added;
        nothing in the volume is overwritten or deleted. The marker is removed
        afterwards. `""` or `None` disables it.

        .. versionadded:: 0.1
        """,
    )

    volume_sync = Bool(
        False,
        config=True,
        help="""Copy the image's new files into every volume at every start.

        As `volume_sync_marker`, for everyone: new files and directories from the image
        are added, nothing is overwritten. Costs a copy of the populate source per
        start.

        .. versionadded:: 0.1
        """,
    )

    storage_expand = Bool(
        True,
        config=True,
        help="""Grow existing claims to a raised capacity at the next start.

        When `storage_capacity` (or a `workspace_volumes` capacity) is larger than an
        existing claim's request, the claim is patched. It needs `patch` on
        persistentvolumeclaims (helm-values/rbac-volumes.yaml) and a StorageClass with
        `allowVolumeExpansion: true`; when either is missing the server starts with the
        old size and the spawn page says why. A smaller capacity never shrinks a claim
        (Kubernetes cannot); it is logged as a warning.

        .. versionadded:: 0.1
        """,
    )

    volume_bind_timeout = Integer(
        120,
        min=1,
        config=True,
        help="""Seconds to wait for a new claim to be bound before the spawn fails.

        A claim that stays Pending (typically: no default StorageClass, or a provisioner
        that fails) fails the spawn with the claim's name and the likely cause. Claims
        of a StorageClass with `volumeBindingMode: WaitForFirstConsumer` bind only once
        the pod is scheduled, and are not waited for.

        .. versionadded:: 0.1
        """,
    )

    # -- more volumes -------------------------------------------------------------------

    workspace_volumes = Dict(
        config=True,
        help="""More per-user volumes: name -> settings.

        Each entry makes one more claim per user (named `<pvc_name>--<name>`), with the
        labels of the workspace volume plus `workspace-spawner.jupyter.org/volume:
        <name>`, mounted in the notebook container. Settings: `mount_path` (required,
        absolute), `capacity` (required, a quantity), `storage_class` (default: the
        cluster's default), `access_modes` (default `["ReadWriteOnce"]`), `sub_path`.
        For example::

            c.WorkspaceSpawner.workspace_volumes = {
                "datasets": {"mount_path": "/home/jovyan/datasets", "capacity": "50Gi"},
                "models": {"mount_path": "/models", "capacity": "20Gi",
                           "storage_class": "fast"},
            }

        These volumes start empty (no copy from the image), and grow like the main one
        (`storage_expand`). Needs the same rights as the main volume.

        .. versionadded:: 0.1
        """,
    )

    shared_volumes = Dict(
        config=True,
        help="""Existing claims mounted into every user's server: name -> settings.

        Settings: `claim` (required: an existing PVC in the namespace of the pods,
        typically ReadWriteMany), `mount_path` (required, absolute), `read_only`
        (default True, so no user can delete what all share), `sub_path`. The spawner
        never creates, changes or deletes these claims.

        .. versionadded:: 0.1
        """,
    )

    # -- validation: bad config fails when the spawner is configured --------------------

    @validate("workspace_mount_path", "workspace_volumes", "shared_volumes")
    def _validate_mounts(self, proposal):
        # each is checked against the current values of the others: whichever is set
        # last while the config loads sees them all
        name, value = proposal["trait"].name, proposal["value"]
        try:
            value = _MOUNT_CHECKS[name](value)
            mounts = {
                "workspace_mount_path": self.workspace_mount_path,
                "workspace_volumes": self.workspace_volumes,
                "shared_volumes": self.shared_volumes,
                name: value,
            }
            m.check_mount_paths(**mounts)
        except ValueError as e:
            raise TraitError(str(e)) from e
        return value

    @validate(
        "workspace_sub_path", "volume_populate_source", "volume_reset_marker", "volume_sync_marker"
    )
    def _validate_paths(self, proposal):
        try:
            return _PATH_CHECKS[proposal["trait"].name](proposal["value"])
        except ValueError as e:
            raise TraitError(str(e)) from e

    # -- per-instance state: traits without config=True, the idiom of every feature (a
    # HasTraits mixin has no __init__ of its own, and a mutable class attribute is shared)

    # volume -> the name of its claim, once created or adopted (saved in the state)
    _workspace_pvcs = Dict()
    # this start's facts for the init container: created now, an admin's reset request
    _volume_setup = Dict()
    # the task following the init container while the pod starts
    _setup_watcher = AnyTrait(allow_none=True)

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

    # -- the recipe step before the pod -------------------------------------------------

    async def ensure_workspace_volumes(self) -> None:
        """Create or adopt the user's claims, grow them, and wait until they can bind."""
        self._volume_setup = {"created": False, "request": "", "request_backup": "", "snapshot": ""}
        home_active = bool(self.storage_pvc_ensure)
        if not home_active and not self.workspace_volumes:
            return
        volumes: list[tuple[str, str, str | None, list[str]]] = []
        if home_active:
            if self.storage_capacity is None:
                raise KubeError(
                    "storage_capacity is None, so the workspace volume cannot be created: "
                    "set c.WorkspaceSpawner.storage_capacity (e.g. '10Gi')"
                )
            volumes.append(
                (
                    m.HOME_VOLUME,
                    self.storage_capacity,
                    self.storage_class,
                    list(self.storage_access_modes),
                )
            )
        for key, spec in self.workspace_volumes.items():
            volumes.append((key, spec["capacity"], spec["storage_class"], spec["access_modes"]))

        for volume, capacity, storage_class, access_modes in volumes:
            pvc = await self._ensure_one_pvc(
                volume=volume,
                capacity=capacity,
                storage_class=storage_class,
                access_modes=access_modes,
            )
            if volume == m.HOME_VOLUME:
                await self._refuse_a_claim_in_use(pvc)
                annotations = pvc["metadata"].get("annotations") or {}
                self._volume_setup["request"] = annotations.get(RESET_REQUEST_ANNOTATION, "")
                self._volume_setup["request_backup"] = annotations.get(RESET_BACKUP_ANNOTATION, "")
            await self._expand_pvc(pvc=pvc, volume=volume, capacity=capacity)
        for volume, *_ in volumes:
            await self._wait_for_bound(self._pvc_name_for(volume))

        if home_active and self.volume_populate_source is not None:
            await self.check_snapshot_api_once()
            if self._volume_setup["request"]:
                self.emit_progress(
                    "An administrator asked for a reset of the workspace volume: "
                    "it is done before the server starts"
                )
            self._start_setup_watcher()

    async def _ensure_one_pvc(
        self, *, volume: str, capacity: str, storage_class: str | None, access_modes: list[str]
    ) -> dict[str, Any]:
        name = self._pvc_name_for(volume)
        pvc = await self._read_pvc(name)
        legacy = self._legacy_pvc_name(volume) if pvc is None else None
        if legacy is not None:
            old = await self._read_pvc(legacy)
            if old is not None and (
                volume == m.HOME_VOLUME
                or m.is_volume_of(old, volume=volume, slug=self._username_label())
            ):
                self.log.warning(
                    "%s: adopting %s, the claim an older version made for volume %s",
                    self._log_name,
                    legacy,
                    volume,
                )
                name, pvc = legacy, old
        if pvc is None:
            size = capacity
            self.emit_progress(
                f"Creating workspace volume {name} ({size})"
                if volume == m.HOME_VOLUME
                else f"Creating volume {volume}: {name} ({size})"
            )
            body = m.make_workspace_pvc(
                to_dict(self.get_pvc_manifest()),
                name=name,
                volume=volume,
                capacity=capacity,
                storage_class=storage_class,
                access_modes=access_modes,
            )
            pvc, created = await self._retrying(
                partial(ensure_pvc, self.api, namespace=self.namespace, body=body),
                what=f"create PVC {name}",
            )
            if volume == m.HOME_VOLUME:
                self._volume_setup["created"] = created
            if not created:  # made in the meantime, by whoever
                self._refuse_foreign_claim(pvc, volume=volume)
        else:
            # an admin's restore put another claim in this one's place (checked as theirs)
            name, pvc = await self.follow_restored_claim(name=name, pvc=pvc, volume=volume)
            other = m.other_volume_label(pvc, volume=volume)
            if other is not None:
                raise KubeError(
                    f"The claim {name} holds the workspace volume {other!r}, not {volume!r}, so it "
                    f"is not mounted as {volume!r}. An admin can rename the volume in "
                    "c.WorkspaceSpawner.workspace_volumes, or change pvc_name_template."
                )
            self.log.info("%s: adopting the existing PVC %s", self._log_name, name)
            # before anything is written to it: another user's claim is left alone
            self._refuse_foreign_claim(pvc, volume=volume)
            pvc = await self.reclaim_retained_pvc(pvc)
        self._workspace_pvc_names()[volume] = name
        if volume == m.HOME_VOLUME:
            # KubeSpawner then neither creates a PVC nor looks for legacy names, and
            # saves pvc_name in the state
            self.pvc_name = name
            self._pvc_exists = True
        return pvc

    def _refuse_foreign_claim(self, pvc: dict[str, Any], *, volume: str) -> None:
        """Fail the start before another user's claim is mounted (see volumes/ownership.py)."""
        name = self.user.name
        slugs = {self._username_label(), *username_slugs(name)}
        message = foreign_claim_message(pvc, username=self.user.name, slugs=slugs, volume=volume)
        if message:
            self.log.warning("%s: %s", self._log_name, message)
            raise KubeError(message)

    async def _refuse_a_claim_in_use(self, pvc: dict[str, Any]) -> None:
        """Fail at once when another server of the user runs on this single-node claim.

        Named servers share the user's claim by default (``claim-{username}``). A
        ReadWriteOnce claim can be mounted on one node only: a second server placed on
        another node would wait for a Multi-Attach error until ``start_timeout``. The
        start is refused, rather than the pod tied to the first one's node, because
        that node may have no room for it, a ReadWriteOncePod claim cannot be shared
        even on one node, and a clear message now beats a pod Pending for minutes.
        Only asked (one pod list) when the hub knows of another server of the user.
        """
        if not any(name != self.name for name in getattr(self.user, "spawners", {}) or {}):
            return
        selector = f"component={self.component_label},{USERNAME_LABEL}={self._username_label()}"
        pods = await self._retrying(
            partial(list_pods, self.api, namespace=self.namespace, label_selector=selector),
            what="list the user's pods",
        )
        other = m.mounted_by_other_server(pvc=pvc, pods=pods, pod_name=self.pod_name)
        if other is not None:
            raise KubeError(
                m.shared_claim_message(
                    claim=pvc["metadata"]["name"],
                    pod=other,
                    modes=list((pvc.get("spec") or {}).get("accessModes") or []),
                )
            )

    async def _read_pvc(self, name: str) -> dict[str, Any] | None:
        return await self._retrying(
            partial(read_pvc, self.api, namespace=self.namespace, name=name),
            what=f"read PVC {name}",
        )

    def _username_label(self) -> str:
        """The value of KubeSpawner's username label on this user's objects."""
        return self._build_common_labels({})[USERNAME_LABEL]

    async def _retrying(self, call, *, what: str):
        """Run ``call`` until it succeeds, retrying while the API is unavailable."""
        result: list[Any] = []
        errors: list[KubeError] = []

        async def attempt() -> bool:
            try:
                result.append(await call())
            except KubeError as e:
                if e.status in _RETRY_STATUSES:
                    errors.append(e)
                    self.log.warning("%s: %s (retrying)", self._log_name, e)
                    return False
                raise
            return True

        try:
            await exponential_backoff(
                attempt, f"Could not {what}", timeout=self.k8s_api_request_retry_timeout
            )
        except asyncio.TimeoutError as e:
            if errors:
                raise KubeError(str(errors[-1]), status=errors[-1].status) from e
            raise
        return result[0]

    async def _expand_pvc(self, *, pvc: dict[str, Any], volume: str, capacity: str) -> None:
        name = pvc["metadata"]["name"]
        current = m.pvc_capacity(pvc)
        change = m.capacity_change(current=current, wanted=capacity)
        if change == "shrink":
            self.log.warning(
                "%s: PVC %s requests %s, more than the configured %s: claims never shrink, "
                "it keeps its size",
                self._log_name,
                name,
                current,
                capacity,
            )
            return
        if change == "same" or not self.storage_expand:
            return
        label = "Volume" if volume == m.HOME_VOLUME else f"Volume {volume}"
        reason = ""
        for attempt in range(3):
            try:
                await patch_pvc(
                    self.api, namespace=self.namespace, name=name, patch=m.expansion_patch(capacity)
                )
            except KubeError as e:
                reason = m.expansion_refused_reason(status=e.status, message=str(e))
                if e.status in _RETRY_STATUSES and attempt < 2:
                    await asyncio.sleep(0.5 * 2**attempt)
                    continue
                self.log.warning("%s: not expanding PVC %s: %s", self._log_name, name, e)
                self.emit_progress(f"{label} {name} stays at {current}: {reason}")
                return
            self.emit_progress(f"{label} expanded to {capacity}")
            return

    async def _wait_for_bound(self, name: str) -> None:
        started = time.monotonic()
        announced = False
        while True:
            pvc = await self._retrying(
                partial(read_pvc, self.api, namespace=self.namespace, name=name),
                what=f"read PVC {name}",
            )
            if pvc is None:
                raise KubeError(
                    f"The volume claim {name} disappeared while the server was starting"
                )
            if (pvc.get("status") or {}).get("phase") == "Bound":
                return
            events = await read_pvc_events(self.api, namespace=self.namespace, name=name)
            if m.waits_for_first_consumer(events):
                # bound when the scheduler places the pod
                return
            waited = time.monotonic() - started
            if waited >= self.volume_bind_timeout:
                raise KubeError(m.pending_pvc_message(pvc=pvc, events=events, waited=waited))
            if not announced:
                announced = True
                self.emit_progress("Waiting for the volume to be bound")
            await asyncio.sleep(min(1.0, 0.05 + waited / 4))

    # -- the pod ------------------------------------------------------------------------

    def apply_workspace_volumes_to_pod(self, pod) -> None:
        """Mount the volumes and add the init container to the pod."""
        notebook = notebook_container(pod)
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        if self.storage_pvc_ensure:
            claim = self._pvc_name_for(m.HOME_VOLUME)
            existing = m.find_mount(
                pod=to_dict(pod), container=notebook.name, mount_path=self.workspace_mount_path
            )
            if existing is None:
                home, sub_path = m.pod_volume_name(claim), self.workspace_sub_path
                volumes.append(m.make_pvc_volume(name=home, claim=claim))
                mounts.append(
                    m.make_volume_mount(
                        name=home, mount_path=self.workspace_mount_path, sub_path=sub_path
                    )
                )
            elif existing["claim"] == claim:
                # the admin's own volume for this claim (Zero to JupyterHub's
                # singleuser.storage.type: dynamic does this): used as it is
                home, sub_path = existing["volume"], existing["sub_path"]
            else:
                raise ValueError(
                    f"Volume {existing['volume']!r} is already mounted at {self.workspace_mount_path}, "
                    "where the workspace volume goes: remove it from c.KubeSpawner.volumes and "
                    "volume_mounts (Zero to JupyterHub: singleuser.storage.type: none), or set "
                    "c.WorkspaceSpawner.storage_pvc_ensure = False"
                )
            if self.volume_populate_source is not None:
                add_init_containers(
                    pod, [self._setup_container(notebook, home, sub_path)], first=True
                )
        for key, spec in self.workspace_volumes.items():
            claim = self._pvc_name_for(key)
            volumes.append(m.make_pvc_volume(name=m.pod_volume_name(claim), claim=claim))
            mounts.append(
                m.make_volume_mount(
                    name=m.pod_volume_name(claim),
                    mount_path=spec["mount_path"],
                    sub_path=spec["sub_path"],
                )
            )
        for key, spec in self.shared_volumes.items():
            name = f"shared-{key}"
            volumes.append(
                m.make_pvc_volume(name=name, claim=spec["claim"], read_only=spec["read_only"])
            )
            mounts.append(
                m.make_volume_mount(
                    name=name,
                    mount_path=spec["mount_path"],
                    sub_path=spec["sub_path"],
                    read_only=spec["read_only"],
                )
            )
        add_volumes(pod, volumes)
        add_volume_mounts(notebook, mounts)

    def _setup_container(self, notebook, volume_name: str, sub_path: str) -> dict[str, Any]:
        setup = self._volume_setup
        source = self.volume_populate_source or self.workspace_mount_path
        backup = self.volume_reset_backup
        env = m.setup_env(
            source=source,
            sub_path=sub_path,
            reset_marker=self.volume_reset_marker or "",
            sync_marker=self.volume_sync_marker or "",
            sync=self.volume_sync,
            backup=backup,
            backups_keep=self.volume_reset_backups_keep,
            reset_request=setup.get("request", ""),
            reset_request_backup=setup.get("request_backup", ""),
        )
        env.update(self.snapshot_setup_env())
        return m.make_setup_container(
            image=notebook.image,
            image_pull_policy=notebook.image_pull_policy,
            volume_name=volume_name,
            env=env,
            security_context=m.setup_security_context(to_dict(notebook.security_context) or {}),
            resources=to_dict(notebook.resources) or None,
            script=m.setup_script(),
        )

    # -- while the pod starts: the init container's progress ----------------------------

    def _start_setup_watcher(self) -> None:
        previous = self._setup_watcher
        if previous is not None and not previous.done():
            previous.cancel()
        self._setup_watcher = asyncio.ensure_future(self._watch_setup_container())

    async def _watch_setup_container(self) -> None:
        """Report the init container's state; clear a reset request it has done."""
        if self._start_future is None:
            # not called from start(): no pod is on its way
            return
        setup = dict(self._volume_setup)
        if setup["request"]:
            running = "Resetting the volume: an administrator asked for it"
        elif setup["created"]:
            running = "Copying the image's files into the new volume"
        else:
            running = "Preparing the workspace volume (reset, sync or first copy when asked for)"
        key = f"{self.namespace}/{self.pod_name}"
        shown_running = False
        deadline = time.monotonic() + self.start_timeout + 30
        while time.monotonic() < deadline:
            start_over = self._start_future is not None and self._start_future.done()
            reflector = self.pod_reflector
            pod = reflector.pods.get(key) if reflector is not None else None
            if pod is not None and (pod.get("metadata") or {}).get("deletionTimestamp"):
                pod = None
            state, message = m.setup_container_state(pod)
            if state == "running" and not shown_running:
                shown_running = True
                self.emit_progress(running)
            elif state == "done":
                message = await self.record_volume_usage(
                    message=message, pvc_name=self._pvc_name_for(m.HOME_VOLUME)
                )
                self.emit_progress(message or "The workspace volume is ready")
                if setup["request"] and setup.get("snapshot") != NO_SNAPSHOT:
                    await self._clear_reset_request(setup["request"])
                return
            elif state == "failed" and self.snapshot_needed(message):
                # not a failure: the start goes on with a snapshot (snapshot_before_reset)
                return
            elif state == "failed":
                self.emit_progress(
                    f"The workspace volume could not be prepared: {message} "
                    f"(kubectl logs {self.pod_name} -c {m.SETUP_CONTAINER_NAME})"
                )
                return
            if start_over:
                return
            await asyncio.sleep(0.2)

    def init_container_failure(
        self, name: str, terminated: dict[str, Any]
    ) -> InitContainerFailed | None:
        """The start fails with the script's own message when ``setup-volume`` failed."""
        if name != m.SETUP_CONTAINER_NAME:
            return super().init_container_failure(name, terminated)
        needed = self.snapshot_needed(termination_text(terminated))
        if needed is not None:
            return needed
        text = termination_text(terminated).removeprefix("ERROR: ").rstrip(".")
        return VolumeSetupFailed(
            f"The workspace volume could not be prepared: {text}. Start your server again "
            "once that is fixed; if you cannot fix it yourself, send this message to your hub "
            f"admin (the volume is {self._pvc_name_for(m.HOME_VOLUME)})."
        )

    async def _clear_reset_request(self, request: str) -> None:
        name = self._pvc_name_for(m.HOME_VOLUME)
        # the backup choice first: a request is never left without the choice made with it
        for key, value in (
            (RESET_BACKUP_ANNOTATION, self._volume_setup.get("request_backup", "")),
            (RESET_REQUEST_ANNOTATION, request),
        ):
            if not value:
                continue
            try:
                await clear_pvc_annotation(
                    self.api, namespace=self.namespace, name=name, key=key, value=value
                )
            except KubeError as e:
                # the script remembers the request it did, so it is not done twice; the
                # next start tries to clear it again
                self.log.warning(
                    "%s: the reset request stays on PVC %s: %s", self._log_name, name, e
                )
                return
        self.log.info("%s: cleared the reset request %s on PVC %s", self._log_name, request, name)
