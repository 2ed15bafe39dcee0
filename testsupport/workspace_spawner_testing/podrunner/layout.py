"""Pure builders: what one container of a pod runs with, from the pod's manifest.

The pod runner turns these into the sandbox's spec (see ``sandbox.py``). Kept free
of I/O so the mapping from the manifest is tested against literal dicts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/#directly-accessing-the-rest-api
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
# a server that binds every address of its pod's network namespace binds its pod IP here
WILDCARD_ADDRESSES = ("0.0.0.0", "[::]")


@dataclass(frozen=True)
class Image:
    """What the demo knows of an image: its overlay and its config (user, env, workdir)."""

    overlay: str | None = None
    uid: int = 0
    gid: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    # the image's ENTRYPOINT and CMD: what runs when the pod gives no command / args
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    # paths of the image owned by its user (a Dockerfile's `COPY --chown` / `chown`)
    user_owned: tuple[str, ...] = ()
    # host directories every user of the image must reach (its software)
    traversable: tuple[str, ...] = ()


def overlay_layers(overlay: str | None) -> list[dict[str, str]]:
    """One overlayfs layer per top-level directory of the image's overlay."""
    if not overlay or not os.path.isdir(overlay):
        return []
    return [
        {"path": "/" + name, "source": os.path.join(overlay, name)}
        for name in sorted(os.listdir(overlay))
        if os.path.isdir(os.path.join(overlay, name))
    ]


def container_argv(container: Mapping[str, Any], image: Image) -> list[str]:
    """command + args as the runtime combines them with the image's ENTRYPOINT and CMD.

    https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes
    """
    if container.get("command"):
        return list(container["command"]) + list(container.get("args") or [])
    return list(image.entrypoint) + list(container.get("args") or image.cmd)


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_refs(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: unknown references stay, $$ is a literal $."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REF.sub(sub, value)


def bind_pod_ip(value: str, pod_ip: str) -> str:
    """A wildcard listen address becomes the pod's IP (every pod shares the host's network)."""
    for wildcard in WILDCARD_ADDRESSES:
        value = value.replace(f"//{wildcard}:", f"//{pod_ip}:")
        value = value.replace(f"={wildcard}", f"={pod_ip}")
        if value == wildcard:
            value = pod_ip
    return value


def user_of(pod: Mapping[str, Any], container: Mapping[str, Any], image: Image) -> dict[str, Any]:
    """runAsUser/runAsGroup (container over pod over image), fsGroup and supplementalGroups.

    https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
    """
    pod_ctx = pod.get("spec", {}).get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", image.uid))
    gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup", image.gid))
    groups = list(pod_ctx.get("supplementalGroups") or [])
    if pod_ctx.get("fsGroup") is not None:
        groups.insert(0, pod_ctx["fsGroup"])
    groups = sorted(set(groups))
    return {
        "uid": uid,
        "gid": gid,
        "groups": groups,
        "no_new_privs": ctx.get("allowPrivilegeEscalation") is False,
    }


def container_env(
    *,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    image: Image,
    pod_ip: str,
    resolve_ref: Callable[[str, Mapping[str, Any]], str | None],
    env_from: Callable[[Mapping[str, Any]], Mapping[str, str]],
) -> dict[str, str]:
    """The image's env, then envFrom, then env (later wins), references expanded.

    ``resolve_ref(kind, ref)`` reads one valueFrom (kind is ``fieldRef``,
    ``secretKeyRef``, ...); ``env_from(source)`` reads one envFrom source.
    """
    env: dict[str, str] = {"HOSTNAME": pod["metadata"]["name"], **image.env}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for key, value in env_from(source).items():
            env[prefix + key] = value
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = expand_refs(var["value"], env)
        elif "valueFrom" in var:
            ((kind, ref),) = var["valueFrom"].items()
            value = resolve_ref(kind, ref)
            if value is not None:
                env[var["name"]] = value
        else:
            env[var["name"]] = ""
    return {k: bind_pod_ip(v, pod_ip) for k, v in env.items()}


def field_value(pod: Mapping[str, Any], field_path: str, pod_ip: str) -> str | None:
    """A downward API fieldRef: metadata.name, metadata.annotations['k'], status.podIP, ..."""
    meta = pod["metadata"]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", field_path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2))
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": pod.get("spec", {}).get("nodeName"),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
    }
    return simple.get(field_path)
