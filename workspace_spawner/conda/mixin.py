"""CondaMixin: the persistent conda ``workspace`` environment and pip user installs.

The startup script (``workspace-env.sh``, package data) reaches the pod through one
ConfigMap per namespace; :meth:`CondaMixin.ensure_conda_startup` keeps it current and
:meth:`CondaMixin.apply_conda_startup_to_pod` mounts it (hook mode) or wraps the
server command with it (wrap mode), and adds the init containers that check the env
(and clone base into it when the user asked for that in the spawn form). Their
verdicts are declared to the init-container observer (:mod:`workspace_spawner.initcontainers`),
which reads them from the pod status KubeSpawner's pod reflector already has, so it
needs no right beyond KubeSpawner's.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from kubernetes_asyncio.client import V1Container
from traitlets import default

from .. import constants
from ..initcontainers import (
    InitContainerFailed,
    InitContainerObserver,
    ObservedInitContainer,
    termination_text,
)
from ..kube import KubeError, to_dict
from ..kube.configmaps import ensure_configmap
from ..kube.hubcache import HubCache
from ..kube.policy import RetryingRequests
from ..podspec import (
    add_init_containers,
    add_volume_mounts,
    add_volumes,
    notebook_container,
    set_env,
)
from . import manifests
from .traits import CondaTraits

# The user option set by the spawn form's checkbox (or a REST API start).
CREATE_OPTION = "conda_create"
CREATE_LABEL = "Create my persistent conda environment (clones base; the first start takes longer)"


class CondaStartFailed(InitContainerFailed):
    """The env could not be created or checked; the message is for the user on the spawn page."""


class CondaMixin(RetryingRequests, CondaTraits, InitContainerObserver):
    """The conda feature: conda envs and pip user installs on the volume, ``workspace`` active.

    Traits ``conda_*`` and ``persist_pip_user`` (:class:`~workspace_spawner.conda.traits.CondaTraits`);
    steps :meth:`ensure_conda_startup` (before the pod) and
    :meth:`apply_conda_startup_to_pod` (on the pod); the builders are in
    :mod:`workspace_spawner.conda.manifests`. See docs/admin/conda.md.
    """

    # The ConfigMaps known to be current, (API server, namespace, name, content hash):
    # read (and written if need be) once per hub process, however many spawns ask at
    # once (issue 17); a warm start makes no request.
    _conda_configmaps_current: HubCache[tuple[str, str, str, str], bool] = HubCache(
        "the conda ConfigMaps known to be current"
    )

    @classmethod
    def reset_caches(cls) -> None:
        """Forget which ConfigMaps this hub process knows are current, as a restarted hub would."""
        CondaMixin._conda_configmaps_current.clear()

    # -- helpers ------------------------------------------------------------------

    def _conda_startup_enabled(self) -> bool:
        return self.conda_workspace_env or self.persist_pip_user

    def _conda_create_requested(self) -> bool:
        return bool(
            self.conda_workspace_env
            and self.conda_allow_create_from_form
            and (self.user_options or {}).get(CREATE_OPTION)
        )

    def _conda_configmap(self) -> dict[str, Any]:
        data = {manifests.SCRIPT_KEY: manifests.startup_script()}
        return manifests.make_configmap(
            name=self.conda_configmap_name,
            data=data,
            labels={constants.MANAGED_BY_LABEL: constants.MANAGED_BY_VALUE},
            annotations={constants.CONTENT_HASH_ANNOTATION: manifests.content_hash(data)},
        )

    def _conda_envs_dir(self) -> str:
        # keep {home} for the script; KubeSpawner expands its own fields
        template = self.conda_envs_dir.replace("{home}", "{{home}}")
        return self._expand_user_properties(template)

    def _conda_server_args(self, container: V1Container) -> list[str]:
        if container.args:
            return list(container.args)
        return manifests.DEFAULT_SERVER_CMD + list(self.get_args())

    # -- the recipe steps ---------------------------------------------------------

    async def ensure_conda_startup(self) -> None:
        """Create or update the startup-script ConfigMap, when its content changed.

        A hub that may not read or write ConfigMaps (Zero to JupyterHub's own hub Role
        grants none) starts the server without the conda logic, saying so on the spawn
        page and in the hub's log: a missing right must not keep users out of their
        servers, and the message names the file that grants it.
        """
        self._conda_off_for_this_start = False
        if not self._conda_startup_enabled():
            return
        body = self._conda_configmap()
        name = body["metadata"]["name"]
        content = body["metadata"]["annotations"][constants.CONTENT_HASH_ANNOTATION]
        key = (self.api.api_client.configuration.host, self.namespace, name, content)
        try:
            await CondaMixin._conda_configmaps_current.get_or_compute(
                key, lambda: self._write_conda_configmap(body)
            )
        except KubeError as e:
            if e.status != 403:
                raise
            self._conda_off_for_this_start = True
            self.log.warning("%s: conda startup off for this start: %s", self.user.name, e)
            self.emit_progress(
                "The persistent conda environment and pip user packages are off for this "
                f"start: the hub may not manage its ConfigMap {name} in {self.namespace}. An "
                "admin can grant it with helm-values/conda-rbac.yaml. Your server starts from "
                "the image's environment."
            )
            return
        if self._conda_create_requested():
            self.emit_progress(
                "Your persistent conda environment will be created (cloning base): "
                "this start takes longer."
            )

    async def _write_conda_configmap(self, body: dict[str, Any]) -> bool:
        """Read the ConfigMap, and write it when its content hash differs; True when done.

        Transient failures are retried (:func:`~workspace_spawner.kube.policy.retrying`),
        within KubeSpawner's ``k8s_api_request_retry_timeout``.
        """
        _, written = await self.kube_request(
            lambda: ensure_configmap(
                api=self.api,
                namespace=self.namespace,
                body=body,
                hash_annotation=constants.CONTENT_HASH_ANNOTATION,
            ),
            what=f"write ConfigMap {body['metadata']['name']}",
        )
        if written:
            self.log.info(
                "Wrote ConfigMap %s/%s (conda startup script %s)",
                self.namespace,
                body["metadata"]["name"],
                body["metadata"]["annotations"][constants.CONTENT_HASH_ANNOTATION],
            )
        return True

    def apply_conda_startup_to_pod(self, pod) -> None:
        """Mount the startup script, or wrap the container command, and add the env's init containers."""
        if not self._conda_startup_enabled() or self._conda_off_for_this_start:
            return
        container = notebook_container(pod)
        mode = manifests.pick_mode(
            mode=self.conda_startup_mode,
            image=container.image,
            hook_image_pattern=self.conda_hook_image_pattern,
        )
        server_args = self._conda_server_args(container)
        env = manifests.startup_env(
            envs_dir=self._conda_envs_dir() if self.conda_workspace_env else None,
            env_name=self.conda_workspace_env_name,
            program=manifests.server_program(server_args),
            pip_user_base="{home}/.local" if self.persist_pip_user else None,
        )
        add_volumes(pod, [manifests.script_volume(configmap_name=self.conda_configmap_name)])
        add_volume_mounts(container, manifests.script_mounts(mode=mode))
        set_env(container, env)
        if mode == "wrap":
            container.args = manifests.wrap_args(server_args)
        if self.conda_workspace_env:
            add_init_containers(pod, self._conda_init_containers(container, env), first=False)

    def _conda_init_containers(self, container, env: dict[str, str]) -> list[dict[str, Any]]:
        """The init containers that create (when asked in the form) and check the env."""
        # the init containers see what the server sees: its mounts (the workspace
        # volume included), user and image; not the hook file, nor the server's env
        mounts = [
            m
            for m in to_dict(container.volume_mounts or [])
            if m.get("mountPath") != manifests.HOOK_PATH
        ]
        common = dict(
            image=container.image,
            image_pull_policy=container.image_pull_policy,
            env=env,
            volume_mounts=mounts,
            security_context=to_dict(container.security_context),
        )
        resources = to_dict(container.resources) or {}
        init: list[dict[str, Any]] = []
        if self._conda_create_requested():
            create_env = dict(env)
            if self.conda_create_mem_limit is not None:
                create_env["WORKSPACE_CONDA_CREATE_MIN_MEMORY"] = str(self.conda_create_mem_limit)
            init.append(
                manifests.init_container(
                    name=manifests.CREATE_CONTAINER,
                    action="--create",
                    resources=manifests.with_memory_limit(resources, self.conda_create_mem_limit),
                    **{**common, "env": create_env},
                )
            )
        if self.conda_check_in_init_container:
            init.append(
                manifests.init_container(
                    name=manifests.CHECK_CONTAINER,
                    action="--check",
                    resources=resources,
                    **common,
                )
            )
        return init

    # -- one start's timeout, failure and messages -----------------------------------

    def start(self):
        """A longer ``start_timeout`` for the start that clones base (JupyterHub reads it
        right after ``start()`` returns, KubeSpawner while waiting for the pod)."""
        if (
            not self._conda_create_requested()
            or self.conda_create_start_timeout <= self.start_timeout
        ):
            return super().start()
        saved = self.start_timeout
        self.start_timeout = self.conda_create_start_timeout
        try:
            future = super().start()
        except BaseException:
            self.start_timeout = saved
            raise

        def restore(_future: Any) -> None:
            self.start_timeout = saved

        if isinstance(future, asyncio.Future):
            future.add_done_callback(restore)
        else:  # pragma: no cover - KubeSpawner.start() returns a Task
            restore(None)
        return future

    def observed_init_containers(self) -> list[ObservedInitContainer]:
        """The env's init containers of this start, declared to the observer."""
        observed = super().observed_init_containers()
        if not self.conda_workspace_env:
            return observed
        # both, whether this start added them or not: one not in the pod has no status
        return [
            *observed,
            *(
                ObservedInitContainer(
                    name=name, done=self._conda_verdict, failed=partial(self._conda_failure, name)
                )
                for name in (manifests.CREATE_CONTAINER, manifests.CHECK_CONTAINER)
            ),
        ]

    def _conda_verdict(self, message: str) -> str:
        """What the spawn page says of the script's verdict (``state: text``)."""
        if not message:
            return ""
        state, text = manifests.split_verdict({"message": message})
        log = self.log.warning if state in ("half-made", "no-server") else self.log.info
        log("%s: conda env %s: %s", self.user.name, state, text)
        return "" if state == "no-conda" else text

    def _conda_failure(self, name: str, terminated: dict[str, Any]) -> InitContainerFailed:
        """The start fails with the script's own verdict (it says what to do) when a conda
        init container failed; an OOM kill leaves no verdict, so that one is said here."""
        state, text = manifests.split_verdict(terminated)
        if state == "OOMKilled" and name == manifests.CREATE_CONTAINER:
            text = (
                "Cloning base into your conda environment ran out of memory"
                f" (limit {_limit_text(self.conda_create_mem_limit)}). Ask your hub "
                "admin to raise c.WorkspaceSpawner.conda_create_mem_limit, or start "
                "without creating the environment. The incomplete clone is removed at "
                "the next attempt."
            )
        if text:
            self.log.warning("%s: conda env %s: %s", self.user.name, state, text)
            return CondaStartFailed(text)
        what = "Creating" if name == manifests.CREATE_CONTAINER else "Checking"
        return CondaStartFailed(
            f"{what} your conda environment failed ({termination_text(terminated)}). Start "
            "again; if it fails once more, start without creating the environment and send "
            "this message to your hub admin."
        )

    # -- the spawn form -------------------------------------------------------------

    @default("options_form")
    def _conda_options_form_default(self):
        """KubeSpawner's form, plus a checkbox to create the ``workspace`` env from base.

        Only with ``conda_workspace_env`` and ``conda_allow_create_from_form``; a callable
        ``profile_list`` form gets the checkbox when it is rendered.
        """
        parent = super()._options_form_default()
        if not (self.conda_workspace_env and self.conda_allow_create_from_form):
            return parent
        if callable(parent):
            # KubeSpawner renders a callable profile_list at request time

            async def render(spawner):
                form = await parent(spawner)
                return (form or "") + create_checkbox_html()

            return render
        return (parent or "") + create_checkbox_html()

    @default("options_from_form")
    def _conda_options_from_form_default(self):
        """KubeSpawner's form parsing, plus the create-the-env checkbox of the conda feature."""
        return self._conda_options_from_form

    def _conda_options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        options = self._options_from_form(formdata)
        if self.conda_allow_create_from_form and formdata.get(CREATE_OPTION, [""])[0] in (
            "on",
            "true",
            "1",
        ):
            options[CREATE_OPTION] = True
        return options


def create_checkbox_html() -> str:
    """The spawn form's checkbox, in the Bootstrap markup JupyterHub's pages use."""
    return (
        '\n<div class="form-check workspace-conda-create" style="margin-top: 1em">\n'
        f'  <input class="form-check-input" type="checkbox" id="{CREATE_OPTION}" '
        f'name="{CREATE_OPTION}" value="on">\n'
        f'  <label class="form-check-label" for="{CREATE_OPTION}">{CREATE_LABEL}</label>\n'
        "</div>\n"
    )


def _limit_text(limit: int | None) -> str:
    if limit is None:
        return "the server's"
    return f"{limit / 2**30:.1f} GiB"
