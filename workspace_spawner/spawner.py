"""WorkspaceSpawner: KubeSpawner plus a persistent workspace for every user.

The spawner only orchestrates. Each feature keeps its traits and its steps in its
own module (a mixin), builds manifests with pure functions, and talks to the API
through :mod:`workspace_spawner.kube`. ``_start()`` below reads as the recipe.
"""

from __future__ import annotations

from kubespawner import KubeSpawner

from .conda import CondaMixin
from .progress import ProgressLog, merge_progress
from .project import ProjectMixin
from .volumes import VolumesMixin
from .volumes.lifecycle import SnapshotBeforeReset


class WorkspaceSpawner(VolumesMixin, ProjectMixin, CondaMixin, KubeSpawner):
    """A KubeSpawner that gives every user a persistent workspace.

    With every workspace feature switched off it behaves exactly like KubeSpawner,
    and all ``c.KubeSpawner.*`` settings apply to it through the class hierarchy.
    """

    @classmethod
    def reset_caches(cls) -> None:
        """Forget what this hub process learned, as a restarted hub would.

        The features keep a few facts for the life of the hub process: whether the API
        server is OpenShift, the hub's own user there, which conda ConfigMaps are
        current, whether the snapshot API was checked. Tests call this to act as a new hub process.
        """
        ProjectMixin.reset_caches()
        CondaMixin.reset_caches()
        VolumesMixin.reset_caches()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._progress_log = ProgressLog()
        self._user_options_loaded = False

    # -- the recipe -----------------------------------------------------------------

    def start(self):
        # a fresh log and fresh user options for every start
        self._progress_log = ProgressLog()
        self._user_options_loaded = False
        return super().start()

    async def _start(self):
        """Start the user's server: the workspace steps, then KubeSpawner's own start.

        Each step is a method a subclass can override or extend.
        """
        # The workspace steps depend on the profile the user chose (it may set
        # storage_capacity, image, ...), so the options are applied first;
        # KubeSpawner's _start() calls load_user_options() again, which is a no-op then.
        await self.load_user_options()
        await self.ensure_workspace_project()
        await self.ensure_workspace_volumes()
        await self.ensure_conda_startup()
        try:
            return await super()._start()
        except SnapshotBeforeReset as needed:
            # setup-volume is to reset the volume and changed nothing yet: a snapshot
            # first (volume_snapshot_class), then the pod again
            await self.snapshot_before_reset(needed)
            return await super()._start()

    async def get_pod_manifest(self):
        """KubeSpawner's pod, with what each workspace feature adds to it."""
        pod = await super().get_pod_manifest()
        self.apply_workspace_project_to_pod(pod)
        self.apply_workspace_volumes_to_pod(pod)
        self.apply_conda_startup_to_pod(pod)
        return pod

    async def load_user_options(self) -> None:
        """Apply the user's options (profile overrides) once per start."""
        if self._user_options_loaded:
            return
        await super().load_user_options()
        self._user_options_loaded = True

    # -- progress -------------------------------------------------------------------

    def emit_progress(self, message: str, *, progress: int | None = None) -> None:
        """Show ``message`` on the spawn page and log it."""
        self.log.info("%s: %s", self._log_name, message)
        self._progress_log.add(message, progress=progress)

    @property
    def _log_name(self) -> str:
        if self.name:
            return f"{self.user.name}/{self.name}"
        return self.user.name

    async def progress(self):
        """KubeSpawner's pod events, with the workspace steps' messages before and among them."""
        async for event in merge_progress(
            log=self._progress_log,
            parent=super().progress(),
            get_start_future=lambda: self._start_future,
        ):
            yield event
