"""The volumes feature on the pod: volumes, mounts and the ``setup-volume`` init container.

:meth:`VolumePodSteps.apply_workspace_volumes_to_pod` adds them to KubeSpawner's pod;
the init container is declared to the observer (:mod:`workspace_spawner.initcontainers`),
which shows its progress and fails the start with its message; once the pod runs,
:meth:`VolumePodSteps.finish_workspace_volumes` stores the usage it measured and clears an
admin's reset request it has done.
"""

from __future__ import annotations

from typing import Any

from traitlets import HasTraits

from ..constants import RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION
from ..initcontainers import InitContainerFailed, ObservedInitContainer, termination_text
from ..kube import KubeError, to_dict
from ..kube.volumes import clear_pvc_annotation
from ..podspec import add_init_containers, add_volume_mounts, add_volumes, notebook_container
from . import manifests as m
from .snapshots import NO_SNAPSHOT
from .usage import split_usage


class VolumeSetupFailed(InitContainerFailed):
    """The ``setup-volume`` init container failed; the message is for the user on the spawn page."""


class VolumePodSteps(HasTraits):
    """The pod's volumes and mounts, and what ``setup-volume`` does while the pod starts."""

    def apply_workspace_volumes_to_pod(self, pod) -> None:
        """Mount the volumes and add the init container to the pod."""
        notebook = notebook_container(pod)
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        if self.storage_pvc_ensure:
            home, sub_path = self._home_volume(pod, notebook, volumes=volumes, mounts=mounts)
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
            name, read_only = f"shared-{key}", spec["read_only"]
            volumes.append(m.make_pvc_volume(name=name, claim=spec["claim"], read_only=read_only))
            mounts.append(
                m.make_volume_mount(
                    name=name,
                    mount_path=spec["mount_path"],
                    sub_path=spec["sub_path"],
                    read_only=read_only,
                )
            )
        add_volumes(pod, volumes)
        add_volume_mounts(notebook, mounts)

    def _home_volume(self, pod, notebook, *, volumes: list, mounts: list) -> tuple[str, str]:
        """The pod volume of the workspace claim and its sub path (added, or the admin's own)."""
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
            return home, sub_path
        if existing["claim"] == claim:
            # the admin's own volume for this claim (Zero to JupyterHub's
            # singleuser.storage.type: dynamic does this): used as it is
            return existing["volume"], existing["sub_path"]
        raise ValueError(
            f"Volume {existing['volume']!r} is already mounted at {self.workspace_mount_path}, "
            "where the workspace volume goes: remove it from c.KubeSpawner.volumes and "
            "volume_mounts (Zero to JupyterHub: singleuser.storage.type: none), or set "
            "c.WorkspaceSpawner.storage_pvc_ensure = False"
        )

    def _setup_container(self, notebook, volume_name: str, sub_path: str) -> dict[str, Any]:
        setup = self._volume_setup
        env = m.setup_env(
            source=self.volume_populate_source or self.workspace_mount_path,
            sub_path=sub_path,
            reset_marker=self.volume_reset_marker or "",
            sync_marker=self.volume_sync_marker or "",
            sync=self.volume_sync,
            backup=self.volume_reset_backup,
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

    # -- while the pod starts: the init container, declared to the observer -------------

    def observed_init_containers(self) -> list[ObservedInitContainer]:
        observed = super().observed_init_containers()
        setup = self._volume_setup
        if not (self.storage_pvc_ensure and self.volume_populate_source is not None and setup):
            return observed
        if setup["request"]:
            running = "Resetting the volume: an administrator asked for it"
        elif setup["created"]:
            running = "Copying the image's files into the new volume"
        else:
            running = "Preparing the workspace volume (reset, sync or first copy when asked for)"
        return [
            *observed,
            ObservedInitContainer(
                name=m.SETUP_CONTAINER_NAME,
                running=running,
                done=self._setup_volume_done,
                failed=self._setup_volume_failed,
            ),
        ]

    def _setup_volume_done(self, message: str) -> str:
        # the usage line is stored on the claim once the pod runs (finish_workspace_volumes)
        self._volume_setup["result"] = message
        text, _ = split_usage(message, measured="")
        return text or "The workspace volume is ready"

    def _setup_volume_failed(self, terminated: dict[str, Any]) -> InitContainerFailed:
        """The start fails with the script's own message (or asks for a snapshot first)."""
        said = termination_text(terminated)
        needed = self.snapshot_needed(said)
        if needed is not None:
            return needed
        text = said.removeprefix("ERROR: ").rstrip(".")
        return VolumeSetupFailed(
            f"The workspace volume could not be prepared: {text}. Start your server again "
            "once that is fixed; if you cannot fix it yourself, send this message to your hub "
            f"admin (the volume is {self._pvc_name_for(m.HOME_VOLUME)}).",
            progress=(
                f"The workspace volume could not be prepared: {said} "
                f"(kubectl logs {self.pod_name} -c {m.SETUP_CONTAINER_NAME})"
            ),
        )

    # -- once the pod runs --------------------------------------------------------------

    async def finish_workspace_volumes(self) -> None:
        """Store the usage setup-volume measured; clear the reset request it has done."""
        setup = self._volume_setup
        if "result" not in setup:
            return
        await self.record_volume_usage(
            message=setup["result"], pvc_name=self._pvc_name_for(m.HOME_VOLUME)
        )
        if setup["request"] and setup.get("snapshot") != NO_SNAPSHOT:
            await self._clear_reset_request(setup["request"])

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
                    api=self.api, namespace=self.namespace, name=name, key=key, value=value
                )
            except KubeError as e:
                # the script remembers the request it did, so it is not done twice; the
                # next start tries to clear it again
                self.log.warning(
                    "%s: the reset request stays on PVC %s: %s", self._log_name, name, e
                )
                return
        self.log.info("%s: cleared the reset request %s on PVC %s", self._log_name, request, name)
