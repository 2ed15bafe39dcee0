"""The volumes feature's settings: KubeSpawner's storage traits with a workspace's defaults,
the workspace volume's own traits, more per-user and shared volumes, and their checks.

Bad config fails when the spawner is configured, with the setting's name and what to
do (:mod:`.checks`).
"""

from __future__ import annotations

from functools import partial

from traitlets import Bool, Dict, HasTraits, Integer, TraitError, Unicode, default, validate

from ..quantity import QuantityError, parse_bytes
from . import checks
from . import retention as r

_MOUNT_CHECKS = {
    "workspace_mount_path": partial(checks.check_absolute_path, setting="workspace_mount_path"),
    "workspace_volumes": checks.check_workspace_volumes,
    "shared_volumes": checks.check_shared_volumes,
}
_PATH_CHECKS = {
    "workspace_sub_path": partial(checks.check_sub_path, setting="workspace_sub_path"),
    "volume_populate_source": checks.check_populate_source,
    "volume_reset_marker": partial(checks.check_file_name, setting="volume_reset_marker"),
    "volume_sync_marker": partial(checks.check_file_name, setting="volume_sync_marker"),
}


class VolumeTraits(HasTraits):
    """The settings of the volumes feature (``c.WorkspaceSpawner.workspace_*``, ``volume_*``)."""

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
        help="""Seconds to wait for a new claim to be bound before its events are looked at.

        A claim still Pending then fails the spawn, with the claim's name and the likely
        cause, when it shows it cannot bind: it names no StorageClass (and none is the
        default), or its latest event is a failed provisioning or binding (Warning
        `ProvisioningFailed` or `FailedBinding`). A claim whose provisioner is still at
        work (a class's claims all at once) is waited for with the pod, until
        `start_timeout`, as KubeSpawner waits; the spawn page says so. Claims of a
        StorageClass with `volumeBindingMode: WaitForFirstConsumer` bind only once the
        pod is scheduled, and are not waited for.

        .. versionadded:: 0.1
        .. versionchanged:: 0.2
           A claim still being provisioned no longer fails the spawn at this timeout.
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
            checks.check_mount_paths(**mounts)
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

    # -- the storage lifecycle (docs/admin/storage-lifecycle.md) ---------------------------

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

    volume_snapshot_class = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""Take a VolumeSnapshot of the claim, of this VolumeSnapshotClass, before every reset.

        `None` (the default) resets without a snapshot (see `volume_reset_backup` for a
        copy inside the volume). When set, a reset of the workspace volume (the user's
        `volume_reset_marker`, or an admin's `workspace-admin reset`) first takes a
        `snapshot.storage.k8s.io/v1` VolumeSnapshot of the claim with the pod stopped,
        and waits until it is `readyToUse` (at most `volume_snapshot_timeout`) before
        anything is deleted. A snapshot that fails or times out stops the reset: the
        start fails with the reason on the spawn page and the volume is untouched (the
        marker stays, so the next start tries again). A sync (`.sync-volume`) never
        overwrites, so it takes none. Snapshots are labelled with the user and volume;
        the newest `volume_snapshots_keep` are kept; `workspace-admin snapshots USER`
        lists them. Needs the snapshot CRDs and controller, a CSI driver with
        snapshots, and create/get/list/delete on volumesnapshots plus get on
        volumesnapshotclasses (helm-values/rbac-storage-lifecycle.yaml); a cluster
        without the API is named in the hub's log at the first start and on the spawn
        page of a reset. Applies at the next reset.

        .. versionadded:: 0.2
        """,
    )

    volume_snapshots_keep = Integer(
        3,
        min=1,
        config=True,
        help="""How many snapshots before resets to keep per volume (the newest).

        Counted among the ready snapshots of the claim that the spawner took (label
        `app.kubernetes.io/managed-by=workspace-spawner`); older ones are deleted after
        a new one is ready. Snapshots made otherwise are never touched.

        .. versionadded:: 0.2
        """,
    )

    volume_snapshot_timeout = Integer(
        300,
        min=1,
        config=True,
        help="""Seconds to wait for a snapshot before a reset to be `readyToUse`.

        After that the reset is refused (the start fails, the volume is untouched) and
        the unready snapshot is deleted. Some drivers upload snapshots to object storage
        before they are ready: raise it for those. It counts towards `start_timeout`,
        which may need raising too.

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
