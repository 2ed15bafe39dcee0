"""The conda feature's settings: every trait of the room, and their checks.

One shape in every feature room: the traits (this module), the steps
(:mod:`.mixin`), the pure builders (:mod:`.manifests`). Per-instance state is held
in traits without ``config=True``.
"""

from __future__ import annotations

import re

from jupyterhub.traitlets import ByteSpecification
from traitlets import Bool, CaselessStrEnum, HasTraits, Integer, TraitError, Unicode, validate

_ENV_NAME_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.+-]*")
_DNS_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class CondaTraits(HasTraits):
    """The ``conda_*`` and ``persist_pip_user`` settings (docs/admin/conda.md) and the room's state."""

    conda_workspace_env = Bool(
        True,
        config=True,
        help="""
        Use the user's persistent conda environment when it exists.

        A startup script in the pod adds ``conda_envs_dir`` to ``~/.condarc`` (with
        ``conda config``, never overwriting the file) and activates the environment
        named ``conda_workspace_env_name`` before the server starts, if it holds the
        server (``jupyterhub-singleuser`` or the first word of ``KubeSpawner.cmd``).
        Otherwise the server starts from the image's base environment and the pod log
        and the spawn page say why. Images without conda start normally.

        Rights: get, create and update ``configmaps`` in the pods' namespace, for the
        ConfigMap holding the script (beyond Zero to JupyterHub's hub Role: see
        ``helm-values/conda-rbac.yaml``). Applies from the next start.

        .. versionadded:: 0.1
        """,
    )

    conda_envs_dir = Unicode(
        "{home}/.conda/envs",
        config=True,
        help="""
        The directory of the persistent conda environments; it must be on the workspace volume.

        ``{home}`` is the container's ``$HOME`` at start (as the image or
        ``KubeSpawner.environment`` sets it: ``/home/jovyan`` in docker-stacks images),
        expanded by the startup script in the pod. KubeSpawner's fields (``{username}``,
        ``{servername}``, ``{user_server}``, ...) are expanded by the hub.

        Applies from the next start; an env in the old directory is no longer used.

        .. versionadded:: 0.1
        """,
    )

    conda_workspace_env_name = Unicode(
        "workspace",
        config=True,
        help="""
        The name of the persistent conda environment (in ``conda_envs_dir``).

        Users create it with ``conda create --name <name> --clone base``, or from the
        spawn form when ``conda_allow_create_from_form`` is set.

        .. versionadded:: 0.1
        """,
    )

    conda_startup_mode = CaselessStrEnum(
        ["auto", "hook", "wrap"],
        default_value="auto",
        config=True,
        help="""
        How the startup script reaches the server: ``hook``, ``wrap`` or ``auto``.

        - ``hook``: mounted into docker-stacks' ``/usr/local/bin/before-notebook.d``,
          which the image's ``start.sh`` sources before it execs the server, so the
          activation carries into it. Needs the image's ENTRYPOINT to be docker-stacks'.
        - ``wrap``: the container's args become ``sh <script> --exec <command>``; the
          script activates and execs the command. Works with any image that has a
          POSIX ``sh``; the command is ``KubeSpawner.cmd``, or ``jupyterhub-singleuser``
          when that is None (the hub cannot read the image's CMD).
        - ``auto``: ``hook`` when the image matches ``conda_hook_image_pattern``,
          else ``wrap``.

        .. versionadded:: 0.1
        """,
    )

    conda_hook_image_pattern = Unicode(
        r"^((docker\.io|quay\.io)/)?jupyter/",
        config=True,
        help="""
        A regular expression for images that source docker-stacks' startup hooks.

        ``conda_startup_mode = "auto"`` picks ``hook`` for images it matches
        (``re.search``); the default matches the Jupyter docker-stacks images
        (``quay.io/jupyter/*``, ``jupyter/*``). Add your own images built
        ``FROM`` them.

        .. versionadded:: 0.1
        """,
    )

    conda_configmap_name = Unicode(
        "workspace-spawner-conda",
        config=True,
        help="""
        The ConfigMap holding the startup script, one in the pods' namespace.

        The hub writes it only when the script changes (a content hash is kept in
        its annotation ``workspace-spawner.jupyter.org/content-hash``). Two hubs that
        share a namespace must use different names.

        .. versionadded:: 0.1
        """,
    )

    conda_check_in_init_container = Bool(
        True,
        config=True,
        help="""
        Check the persistent env in an init container and show the result on the spawn page.

        The init container runs the notebook image with the notebook's mounts for
        about a second; its verdict (no env, used, broken and how to repair it) comes
        back in its termination message, which the spawner reads from the pod status
        (no extra rights). Off: the verdict is in the pod log only.

        .. versionadded:: 0.1
        """,
    )

    conda_allow_create_from_form = Bool(
        False,
        config=True,
        help="""
        Offer "Create my persistent conda environment" in the spawn form.

        Chosen, an init container clones base into the env before the server starts
        (offline from the image's package cache where possible, else downloading),
        after checking the volume's free space against the size of base and the
        memory limit against ``conda_create_mem_limit``; it fails the start with a
        message saying which when they are short. That start may take up to
        ``conda_create_start_timeout``. The checkbox is added to KubeSpawner's profile
        form (or makes a form of its own when there are no profiles).

        .. versionadded:: 0.1
        """,
    )

    conda_create_start_timeout = Integer(
        1800,
        config=True,
        help="""
        The start timeout, in seconds, of a start that clones base into the env.

        Used instead of ``start_timeout`` (when longer) for that one start only.

        .. versionadded:: 0.1
        """,
    )

    conda_create_mem_limit = ByteSpecification(
        "4G",
        allow_none=True,
        config=True,
        help="""
        The memory limit of the init container that clones base (units of 1024).

        Cloning a large base environment can need more than 4 GiB. Init containers run
        before the server, so this limit does not add to what the running server is
        given, but a namespace's LimitRange or ResourceQuota must allow it. The
        container's memory request is the notebook's (0 when it has none), never this
        limit, so the pod reserves no more memory than the server asks for. The clone
        refuses to start, saying so, when the container's limit is lower. None: the
        notebook container's resources.

        .. versionadded:: 0.1
        """,
    )

    persist_pip_user = Bool(
        True,
        config=True,
        help="""
        Keep ``pip install --user`` packages on the workspace volume.

        The startup script sets ``PYTHONUSERBASE`` to ``{home}/.local`` (the container's
        HOME, see ``conda_envs_dir``) and puts its ``bin`` on PATH, behind the
        activated env's. docker-stacks images already use ``~/.local``; this makes it
        explicit for images whose HOME is elsewhere. Applies from the next start.

        .. versionadded:: 0.1
        """,
    )

    # per-instance state, a trait without config=True (one idiom in every feature):
    # set by ensure_conda_startup() when the hub lacks the rights to the ConfigMap
    _conda_off_for_this_start = Bool(False)

    @validate("conda_workspace_env_name")
    def _validate_env_name(self, proposal):
        value = proposal["value"].strip()
        if value == "base" or not _ENV_NAME_RE.fullmatch(value):
            raise TraitError(
                f"conda_workspace_env_name {proposal['value']!r} is not a usable conda env "
                "name: use letters, digits, '.', '_' or '-', and not 'base'."
            )
        return value

    @validate("conda_envs_dir")
    def _validate_envs_dir(self, proposal):
        value = proposal["value"].strip().rstrip("/")
        if not value.startswith(("/", "{home}")):
            raise TraitError(
                f"conda_envs_dir {proposal['value']!r} must be an absolute path or start with "
                "'{home}', e.g. '{home}/.conda/envs'."
            )
        return value

    @validate("conda_hook_image_pattern")
    def _validate_hook_pattern(self, proposal):
        try:
            re.compile(proposal["value"])
        except re.error as e:
            raise TraitError(
                f"conda_hook_image_pattern {proposal['value']!r} is not a regular expression: {e}"
            ) from e
        return proposal["value"]

    @validate("conda_configmap_name")
    def _validate_configmap_name(self, proposal):
        value = proposal["value"]
        if len(value) > 253 or not _DNS_NAME_RE.fullmatch(value):
            raise TraitError(
                f"conda_configmap_name {value!r} is not a valid ConfigMap name: use lowercase "
                "letters, digits, '-' and '.', e.g. 'workspace-spawner-conda'."
            )
        return value
