"""WorkspaceSpawner: KubeSpawner plus a persistent workspace for every user.

The spawner only orchestrates. Each feature keeps its traits and its steps in its
own module (a mixin), builds manifests with pure functions, and talks to the API
through :mod:`workspace_spawner.kube`. ``_start()`` below reads as the recipe.
"""

from __future__ import annotations

from kubespawner import KubeSpawner

from .conda import CondaMixin
from .kube.pods import RetryingPodRequests
from .kube.policy import all_of
from .kube.reflectors import RetryingReflectors
from .progress import ProgressLog, merge_progress
from .project import ProjectMixin
from .volumes import VolumesMixin
from .volumes.lifecycle import SnapshotBeforeReset


class WorkspaceSpawner(
    RetryingReflectors, RetryingPodRequests, VolumesMixin, ProjectMixin, CondaMixin, KubeSpawner
):
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

    # -- the recipe -----------------------------------------------------------------

    def start(self):
        # a fresh log for every start
        self._progress_log = ProgressLog()
        return super().start()

    async def _start(self):
        """Start the user's server: the workspace steps, then KubeSpawner's own start.

        Each step is a method a subclass can override or extend.
        """
        # The workspace steps depend on the profile the user chose (it may set
        # storage_capacity, image, namespace, ...), so the options are applied first.
        # KubeSpawner's _start() applies them again: applying the same options twice
        # sets the same values, as in KubeSpawner's own code and tests.
        await self.load_user_options()
        await self.ensure_user_namespace()
        await self.ensure_workspace_project()
        # independent of each other, so at once: the user's claims, the hub's conda
        # ConfigMap and KubeSpawner's pod and event reflectors (the last two once per hub)
        await all_of(
            self.ensure_workspace_volumes(),
            self.ensure_conda_startup(),
            self.watch_pods_and_events(),
        )
        # the claims bind while the pod starts (it waits for them, as for KubeSpawner's)
        result = await self.while_workspace_volumes_bind(self.start_pod())
        await self.finish_workspace_volumes()
        return result

    async def watch_pods_and_events(self) -> None:
        """KubeSpawner's shared pod and event reflectors, started once per hub (its
        ``_start()`` then finds them running)."""
        await all_of(
            self._start_watching_pods(),
            *([self._start_watching_events()] if self.events_enabled else []),
        )

    async def start_pod(self):
        """KubeSpawner's own start: the pod, until it runs."""
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

    async def ensure_user_namespace(self) -> None:
        """With ``enable_user_namespaces``, create the user's namespace before the claims in it.

        KubeSpawner does this first thing in its ``_start()``; the workspace steps run
        before that and create objects in ``self.namespace``. KubeSpawner's own call
        then finds the namespace there (409, which it tolerates).
        """
        if self.enable_user_namespaces:
            await self._ensure_namespace()

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
