"""Pure builders for the conda startup: dicts in, dicts out.

Where the pieces go in the pod:

- the ConfigMap (one per namespace, so one per hub) holds ``workspace-env.sh``; it is
  mounted read-only at :data:`SCRIPT_DIR` in the notebook container and in the init
  containers;
- hook mode adds one more mount of just that file (``subPath``) into docker-stacks'
  ``/usr/local/bin/before-notebook.d``, so the image's own hooks there stay visible;
- wrap mode puts ``sh <script> --exec`` in front of the container's ``args``, which keeps
  the image's ENTRYPOINT (KubeSpawner sets ``args``, never ``command``);
- init containers run the same script with ``--create`` (opted in) and ``--check``, and
  leave a one-line verdict in their termination message for the spawner to show.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from importlib.resources import files
from typing import Any

from ..quantity import parse_bytes

SCRIPT_KEY = "workspace-env.sh"
SCRIPT_DIR = "/opt/workspace-spawner/conda"
SCRIPT_PATH = f"{SCRIPT_DIR}/{SCRIPT_KEY}"
# docker-stacks' start.sh sources every *.sh here, in name order, after the image's own
# 10activate-conda-env.sh (https://jupyter-docker-stacks.readthedocs.io/en/latest/using/common.html#startup-hooks)
HOOK_PATH = "/usr/local/bin/before-notebook.d/90-workspace-conda-env.sh"
VOLUME_NAME = "workspace-conda-startup"
CHECK_CONTAINER = "conda-env-check"
CREATE_CONTAINER = "conda-env-create"
# Kubernetes' default terminationMessagePath; set explicitly because the script is told
# the same path.
MESSAGE_PATH = "/dev/termination-log"
# JupyterHub's default Spawner.cmd: what wrap mode runs when KubeSpawner.cmd is None
# (the hub cannot read the image's CMD).
DEFAULT_SERVER_CMD = ["jupyterhub-singleuser"]
# docker-stacks' launchers live outside conda and start jupyterhub-singleuser in a hub.
_LAUNCHERS = {
    "start-notebook.py",
    "start-notebook.sh",
    "start-singleuser.py",
    "start-singleuser.sh",
    "start.sh",
}


@functools.cache
def startup_script() -> str:
    """The text of the startup script shipped in this package, read once: every start
    compares it with the ConfigMap's, and the package's files do not change while the
    hub runs."""
    return files("workspace_spawner.conda").joinpath(SCRIPT_KEY).read_text(encoding="utf-8")


def content_hash(data: dict[str, str]) -> str:
    """A short, stable hash of a ConfigMap's data: equal content, equal hash."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def make_configmap(
    *,
    name: str,
    data: dict[str, str],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": dict(labels), "annotations": dict(annotations)},
        "data": dict(data),
    }


def pick_mode(*, mode: str, image: str, hook_image_pattern: str) -> str:
    """``hook`` or ``wrap``: ``auto`` picks ``hook`` when the image matches the pattern."""
    if mode != "auto":
        return mode
    return "hook" if re.search(hook_image_pattern, image or "") else "wrap"


def server_program(args: list[str] | None) -> str:
    """The program the env must hold for the server to start from it.

    The first word of the server command (its basename), except for no command (the
    image's CMD) and docker-stacks' launchers, which run ``jupyterhub-singleuser``.
    """
    if not args:
        return DEFAULT_SERVER_CMD[0]
    program = args[0].rsplit("/", 1)[-1]
    if program in _LAUNCHERS:
        return DEFAULT_SERVER_CMD[0]
    return program


def startup_env(
    *,
    envs_dir: str | None,
    env_name: str,
    program: str,
    pip_user_base: str | None,
) -> dict[str, str]:
    """The environment variables the script reads; ``None`` switches a part off."""
    env: dict[str, str] = {}
    if envs_dir is not None:
        env["WORKSPACE_CONDA_ENVS_DIR"] = envs_dir
        env["WORKSPACE_CONDA_ENV_NAME"] = env_name
        env["WORKSPACE_SERVER_COMMAND"] = program
    if pip_user_base is not None:
        env["WORKSPACE_PIP_USER_BASE"] = pip_user_base
    return env


def script_volume(*, configmap_name: str) -> dict[str, Any]:
    return {
        "name": VOLUME_NAME,
        "configMap": {"name": configmap_name, "defaultMode": 0o755},
    }


def script_mounts(*, mode: str) -> list[dict[str, Any]]:
    """The notebook container's mounts of the script."""
    mounts = [{"name": VOLUME_NAME, "mountPath": SCRIPT_DIR, "readOnly": True}]
    if mode == "hook":
        mounts.append(
            {"name": VOLUME_NAME, "mountPath": HOOK_PATH, "subPath": SCRIPT_KEY, "readOnly": True}
        )
    return mounts


def wrap_args(args: list[str]) -> list[str]:
    """The container's args run through the script, which activates and then execs them."""
    return ["sh", SCRIPT_PATH, "--exec", *args]


def env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in env.items()]


def init_container(
    *,
    name: str,
    action: str,
    image: str,
    image_pull_policy: str | None,
    env: dict[str, str],
    volume_mounts: list[dict[str, Any]],
    security_context: dict[str, Any] | None,
    resources: dict[str, Any] | None,
) -> dict[str, Any]:
    """An init container running the script with ``--check`` or ``--create``.

    It runs the notebook image with the notebook container's mounts and user, so it
    sees the volume, HOME and conda exactly as the server will.
    """
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": ["sh", SCRIPT_PATH, action],
        "env": env_list({**env, "WORKSPACE_CONDA_MESSAGE_FILE": MESSAGE_PATH}),
        "volumeMounts": [dict(m) for m in volume_mounts],
        "terminationMessagePath": MESSAGE_PATH,
        "terminationMessagePolicy": "File",
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if security_context:
        container["securityContext"] = security_context
    if resources:
        container["resources"] = resources
    return container


def with_memory_limit(resources: dict[str, Any] | None, limit: int | None) -> dict[str, Any]:
    """``resources`` with the memory limit set to ``limit``, and the request never raised by it.

    A container with a limit and no request is given a request equal to its limit
    (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#requests-and-limits),
    and a pod's effective request is the largest of its init containers' and the sum of
    its containers' (https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers).
    So the request is set explicitly: the notebook's own (capped at the limit), else 0,
    and the clone's limit never becomes what the server reserves for its whole life.
    """
    result = {k: dict(v) for k, v in (resources or {}).items() if v}
    if limit is None:
        return result
    result.setdefault("limits", {})["memory"] = str(limit)
    requests = result.setdefault("requests", {})
    if "memory" not in requests:
        requests["memory"] = "0"
    elif parse_bytes(requests["memory"]) > limit:
        requests["memory"] = str(limit)
    return result


def split_verdict(terminated: dict[str, Any]) -> tuple[str, str]:
    """``(state, text)`` of an init container's terminated state (its termination message).

    The script writes ``state: text``; a container killed before writing (OOMKilled)
    has no message, so the reason is returned as the state.
    """
    message = (terminated.get("message") or "").strip()
    if ": " in message:
        state, text = message.split(": ", 1)
        return state, text
    return terminated.get("reason") or "failed", message
