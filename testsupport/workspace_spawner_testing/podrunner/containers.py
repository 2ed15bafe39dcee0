"""The pods' containers as real processes, and their volumes: what both pod runners share.

:class:`Containers` launches one container as a local process tree in its own PID and
mount namespace (``sandbox.py``), with the pod's volumes bind-mounted at their mount
paths, its command, args, env, working dir and user; restarts a main container as
its restartPolicy asks; stops a pod's processes (SIGTERM, then SIGKILL after the grace
period). What a volume or an env var refers to (Secrets, ConfigMaps, claims, the
ServiceAccount token, the pod itself) comes from a :class:`PodSource`: the emulator's
store for the in-process runner, the Kubernetes API for the node agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from . import layout
from .layout import Image

log = logging.getLogger(__name__)


class MountError(Exception):
    """A volume cannot be set up (e.g. its ConfigMap is missing): the pod waits."""


class PodSource(Protocol):
    """What a pod's volumes and env refer to."""

    def object_data(
        self, plural: str, namespace: str, name: str, *, optional: bool = False
    ) -> dict[str, bytes]:
        """A Secret's or ConfigMap's data (MountError when missing and not optional)."""

    def claim_dir(self, namespace: str, claim: str) -> Path:
        """The directory holding a PersistentVolumeClaim's files."""

    def token(self, pod: dict, *, audience: str | None, expiration: int) -> str:
        """A token of the pod's ServiceAccount."""

    def current(self, pod: dict) -> dict:
        """The pod as it is now (the downward API's view)."""


def decode_data(plural: str, obj: Mapping[str, Any]) -> dict[str, bytes]:
    """The bytes of each key of a Secret (data, stringData) or ConfigMap (data, binaryData)."""
    import base64

    data: dict[str, bytes] = {}
    if plural == "secrets":
        for key, value in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            data[key] = value.encode()
    else:
        for key, value in (obj.get("data") or {}).items():
            data[key] = value.encode()
        for key, value in (obj.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value)
    return data


def missing(plural: str, name: str) -> MountError:
    kind = "secret" if plural == "secrets" else "configmap"
    return MountError(f'MountVolume.SetUp failed: {kind} "{name}" not found')


Exited = Callable[[dict, dict, int], Awaitable[None] | None]


class Containers:
    """The processes of the pods of one runner; files under ``data_dir``.

    ``data_dir`` keeps the containers' logs (``logs/<namespace>/<pod>/<container>.log``),
    the pods' scratch space and the images' layers. ``images`` maps an image name
    (``name:tag``, ``name`` or ``*``) to what it contains.
    """

    def __init__(self, *, data_dir: str | os.PathLike[str], images: Mapping[str, Image]) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.images = dict(images)
        # pod uid -> container name -> the unshare process
        self.processes: dict[str, dict[str, asyncio.subprocess.Process]] = {}
        self._watchers: dict[tuple[str, str], asyncio.Task] = {}
        self._terminating: set[str] = set()
        self.messages: dict[tuple[str, str], str] = {}

    # -- paths ------------------------------------------------------------------------

    def pod_dir(self, pod: dict) -> Path:
        return self.data_dir / "pods" / pod["metadata"]["uid"]

    def log_path(self, namespace: str, name: str, container: str) -> Path:
        return self.data_dir / "logs" / namespace / name / f"{container}.log"

    def image(self, name: str) -> Image:
        for key in (name, name.rsplit(":", 1)[0], "*"):
            if key in self.images:
                return self.images[key]
        return Image()

    def log(self, namespace: str, name: str, container: str) -> str | None:
        path = self.log_path(namespace, name, container)
        return path.read_text(errors="replace") if path.exists() else None

    # -- life cycle ---------------------------------------------------------------------

    async def run_init(
        self, pod: dict, container: dict, *, pod_ip: str, source: PodSource
    ) -> tuple[int, str]:
        """Run an init container to completion: its exit code and termination message."""
        proc = await self.launch(pod, container, init=True, pod_ip=pod_ip, source=source)
        code = exit_code(await proc.wait())
        return code, self.read_message(pod, container)

    async def start(
        self,
        pod: dict,
        container: dict,
        *,
        pod_ip: str,
        source: PodSource,
        exited: Exited,
        wanted: Callable[[], bool],
    ) -> None:
        """Start a main container; ``exited(pod, container, code)`` when it ends, then a
        restart as restartPolicy asks while ``wanted()``."""
        proc = await self.launch(pod, container, init=False, pod_ip=pod_ip, source=source)
        key = (pod["metadata"]["uid"], container["name"])
        self._watchers[key] = asyncio.get_running_loop().create_task(
            self._watch(pod, container, proc, pod_ip, source, exited, wanted)
        )

    async def _watch(
        self,
        pod: dict,
        container: dict,
        proc: asyncio.subprocess.Process,
        pod_ip: str,
        source: PodSource,
        exited: Exited,
        wanted: Callable[[], bool],
    ) -> None:
        meta = pod["metadata"]
        code = exit_code(await proc.wait())
        if meta["uid"] in self._terminating or not wanted():
            return
        log.info(
            "pod %s/%s: container %s exited with %s",
            meta["namespace"],
            meta["name"],
            container["name"],
            code,
        )
        policy = pod["spec"].get("restartPolicy", "Always")
        result = exited(pod, container, code)
        if result is not None:
            await result
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            await asyncio.sleep(1.0)  # the kubelet's back-off starts at 10s; shorter here
            if not wanted() or meta["uid"] in self._terminating:
                return
            await self.start(
                pod, container, pod_ip=pod_ip, source=source, exited=exited, wanted=wanted
            )

    async def kill(self, pod: dict, *, grace: float) -> None:
        """SIGTERM to every container's PID 1, SIGKILL to what is left after ``grace``."""
        uid = pod["metadata"]["uid"]
        self._terminating.add(uid)
        procs = list(self.processes.get(uid, {}).values())
        for proc in procs:
            signal_sandbox(proc, signal.SIGTERM)
        waits = [asyncio.ensure_future(p.wait()) for p in procs if p.returncode is None]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=max(grace, 0.0))
            if pending:
                for proc in procs:
                    signal_sandbox(proc, signal.SIGKILL)
                await asyncio.wait(pending, timeout=10)
        for key in [k for k in self._watchers if k[0] == uid]:
            self._watchers.pop(key).cancel()
        self.processes.pop(uid, None)
        self._terminating.discard(uid)
        for key in [k for k in self.messages if k[0] == uid]:
            del self.messages[key]
        shutil.rmtree(self.pod_dir(pod), ignore_errors=True)

    def kill_all(self) -> None:
        for procs in list(self.processes.values()):
            for proc in procs.values():
                signal_sandbox(proc, signal.SIGKILL)
        for task in self._watchers.values():
            task.cancel()
        self._watchers.clear()
        self.processes.clear()

    # -- processes ----------------------------------------------------------------------

    async def launch(
        self, pod: dict, container: dict, *, init: bool, pod_ip: str, source: PodSource
    ) -> asyncio.subprocess.Process:
        meta = pod["metadata"]
        uid, name = meta["uid"], container["name"]
        image = self.image(container.get("image", ""))
        scratch = self.pod_dir(pod) / name
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        env = self._env(pod, container, image, pod_ip, source)
        spec = {
            "root": str(scratch / "root"),
            "scratch": str(scratch),
            "layers": layout.overlay_layers(self._image_layer(image)),
            "traversable": list(image.traversable),
            "mounts": self._mounts(pod, container, scratch, pod_ip, source),
            "argv": [
                layout.bind_pod_ip(layout.expand_refs(a, env), pod_ip)
                for a in layout.container_argv(container, image)
            ],
            "env": env,
            "workingDir": container.get("workingDir") or image.working_dir,
            "user": layout.user_of(pod, container, image),
        }
        if not spec["argv"]:
            raise MountError(f"container {name} has no command and its image no entrypoint")
        spec_path = scratch / "spec.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        log_path = self.log_path(meta["namespace"], meta["name"], name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # what the container ran with, next to its log, for whoever debugs a pod
        log_path.with_suffix(".spec.json").write_text(spec_path.read_text())
        with open(log_path, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--propagation",
                "private",
                sys.executable,
                "-m",
                "workspace_spawner_testing.podrunner.sandbox",
                str(spec_path),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.setdefault(uid, {})[name] = proc
        log.info(
            "pod %s/%s: %s container %s started (pid %s, %s)",
            meta["namespace"],
            meta["name"],
            "init" if init else "main",
            name,
            proc.pid,
            pod_ip,
        )
        return proc

    def read_message(self, pod: dict, container: dict) -> str:
        path = self.pod_dir(pod) / container["name"] / "termination-log"
        text = ""
        with contextlib.suppress(OSError):
            # the kubelet keeps at most 4096 bytes of a termination message
            text = path.read_text(errors="replace").strip()[-4096:]
        if text:
            self.messages[(pod["metadata"]["uid"], container["name"])] = text
        return text

    def _image_layer(self, image: Image) -> str | None:
        """The image's overlay as its layer: a copy with the image's ownership, made once."""
        if not image.overlay:
            return None
        digest = hashlib.sha256(
            f"{os.path.realpath(image.overlay)}:{image.uid}:{image.gid}:{image.user_owned}".encode()
        ).hexdigest()[:16]
        layer = self.data_dir / "images" / digest
        if not layer.exists():
            tmp = layer.with_name(layer.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(image.overlay, tmp, symlinks=True)
            for owned in image.user_owned:
                top = tmp / owned.lstrip("/")
                if not top.exists():
                    continue
                os.chown(top, image.uid, image.gid)
                for dirpath, dirnames, filenames in os.walk(top):
                    for name in dirnames + filenames:
                        os.lchown(os.path.join(dirpath, name), image.uid, image.gid)
            tmp.rename(layer)
        return str(layer)

    # -- the container's view ------------------------------------------------------------

    def _env(
        self, pod: dict, container: dict, image: Image, pod_ip: str, source: PodSource
    ) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]

        def resolve_ref(kind: str, ref: Mapping[str, Any]) -> str | None:
            if kind == "fieldRef":
                return layout.field_value(source.current(pod), ref["fieldPath"], pod_ip)
            if kind in ("secretKeyRef", "configMapKeyRef"):
                data = source.object_data(
                    "secrets" if kind == "secretKeyRef" else "configmaps",
                    namespace,
                    ref["name"],
                    optional=ref.get("optional", False),
                )
                value = data.get(ref["key"])
                return value.decode(errors="replace") if value is not None else None
            return None

        def env_from(ref: Mapping[str, Any]) -> dict[str, str]:
            for key, plural in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
                if key in ref:
                    data = source.object_data(
                        plural,
                        namespace,
                        ref[key]["name"],
                        optional=ref[key].get("optional", False),
                    )
                    return {k: v.decode(errors="replace") for k, v in data.items()}
            return {}

        return layout.container_env(
            pod=pod,
            container=container,
            image=image,
            pod_ip=pod_ip,
            resolve_ref=resolve_ref,
            env_from=env_from,
        )

    def _mounts(
        self, pod: dict, container: dict, scratch: Path, pod_ip: str, source: PodSource
    ) -> list[dict[str, Any]]:
        spec = pod["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        fs_group = (spec.get("securityContext") or {}).get("fsGroup")
        mounts: list[dict[str, Any]] = []
        sources: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                raise MountError(f"volume {mount['name']} is not in the pod's volumes")
            if mount["name"] not in sources:
                sources[mount["name"]] = self._volume_dir(
                    pod, volume, fs_group=fs_group, pod_ip=pod_ip, source=source
                )
            path = sources[mount["name"]]
            if mount.get("subPath"):
                path = path / mount["subPath"]
                if not path.exists():
                    # the kubelet creates a missing subPath directory
                    path.mkdir(parents=True)
                    if fs_group is not None:
                        own_group(path, fs_group)
            mounts.append(
                {
                    "path": mount["mountPath"],
                    "source": str(path),
                    "readOnly": bool(mount.get("readOnly")),
                }
            )
        if spec.get("automountServiceAccountToken", True) and not any(
            m["path"].rstrip("/") == layout.SERVICE_ACCOUNT_DIR for m in mounts
        ):
            # what the ServiceAccount admission plugin adds to every pod (the emulator
            # adds no such volume; a real API server does, and it is mounted above)
            # https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume
            mounts.append(
                {
                    "path": layout.SERVICE_ACCOUNT_DIR,
                    "readOnly": True,
                    "source": str(self._service_account_dir(pod, fs_group=fs_group, source=source)),
                }
            )
        message = scratch / "termination-log"
        message.touch()
        os.chmod(message, 0o666)
        mounts.append(
            {
                "path": container.get("terminationMessagePath")
                or layout.DEFAULT_TERMINATION_MESSAGE_PATH,
                "source": str(message),
            }
        )
        return mounts

    def _volume_dir(
        self, pod: dict, volume: dict, *, fs_group: int | None, pod_ip: str, source: PodSource
    ) -> Path:
        meta = pod["metadata"]
        if "persistentVolumeClaim" in volume:
            path = source.claim_dir(meta["namespace"], volume["persistentVolumeClaim"]["claimName"])
            path.mkdir(parents=True, exist_ok=True)
            if fs_group is not None:
                own_group(path, fs_group)
            return path
        if "hostPath" in volume:
            return Path(volume["hostPath"]["path"])
        path = self.pod_dir(pod) / "volumes" / volume["name"]
        if path.exists():
            return path
        path.mkdir(parents=True)
        if "emptyDir" in volume:
            os.chmod(path, 0o777)
        elif "configMap" in volume or "secret" in volume:
            self._write_object(path, volume, meta["namespace"], fs_group=fs_group, source=source)
        elif "projected" in volume:
            mode = volume["projected"].get("defaultMode", 0o644)
            for each in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in each:
                    token = each["serviceAccountToken"]
                    value = source.token(
                        pod,
                        audience=token.get("audience"),
                        expiration=token.get("expirationSeconds", 3600),
                    )
                    write_file(path / token["path"], value.encode(), mode, fs_group)
                elif "downwardAPI" in each:
                    self._write_downward(
                        path, each["downwardAPI"], pod, mode, fs_group, pod_ip, source
                    )
                else:
                    self._write_object(
                        path,
                        {**each, "defaultMode": mode},
                        meta["namespace"],
                        fs_group=fs_group,
                        source=source,
                    )
        elif "downwardAPI" in volume:
            mode = volume["downwardAPI"].get("defaultMode", 0o644)
            self._write_downward(path, volume["downwardAPI"], pod, mode, fs_group, pod_ip, source)
        else:
            raise MountError(
                f"volume {volume['name']}: this pod runner mounts "
                "persistentVolumeClaim, emptyDir, configMap, secret, projected, "
                "downwardAPI and hostPath volumes only"
            )
        return path

    def _write_object(
        self, path: Path, volume: dict, namespace: str, *, fs_group: int | None, source: PodSource
    ) -> None:
        key = "configMap" if "configMap" in volume else "secret"
        ref = volume[key]
        name = ref.get("name") or ref.get("secretName")
        data = source.object_data(
            "configmaps" if key == "configMap" else "secrets",
            namespace,
            name,
            optional=ref.get("optional", False),
        )
        mode = ref.get("defaultMode", volume.get("defaultMode", 0o644))
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                if ref.get("optional"):
                    continue
                raise MountError(
                    f'MountVolume.SetUp failed: {key} "{name}" has no key "{item["key"]}"'
                )
            write_file(path / item["path"], data[item["key"]], item.get("mode", mode), fs_group)

    def _write_downward(
        self,
        path: Path,
        downward: dict,
        pod: dict,
        mode: int,
        fs_group: int | None,
        pod_ip: str,
        source: PodSource,
    ) -> None:
        for item in downward.get("items") or []:
            if "fieldRef" in item:
                value = (
                    layout.field_value(source.current(pod), item["fieldRef"]["fieldPath"], pod_ip)
                    or ""
                )
                write_file(path / item["path"], value.encode(), item.get("mode", mode), fs_group)

    def _service_account_dir(self, pod: dict, *, fs_group: int | None, source: PodSource) -> Path:
        path = self.pod_dir(pod) / "volumes" / "kube-api-access"
        if not path.exists():
            path.mkdir(parents=True)
            namespace = pod["metadata"]["namespace"]
            token = source.token(pod, audience=None, expiration=3607)
            write_file(path / "token", token.encode(), 0o644, fs_group)
            write_file(path / "namespace", namespace.encode(), 0o644, fs_group)
            write_file(path / "ca.crt", b"", 0o644, fs_group)
        return path


def write_file(path: Path, data: bytes, mode: int, fs_group: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if fs_group is not None:
        # the kubelet makes the files of a volume readable by the pod's fsGroup
        os.chown(path, 0, fs_group)
        mode |= (mode & 0o700) >> 3 & 0o040
    os.chmod(path, mode)


def exit_code(code: int) -> int:
    """asyncio's negative signal numbers as the kubelet reports them (128 + signal)."""
    return 128 - code if code < 0 else code


def own_group(path: Path, gid: int) -> None:
    """fsGroup ownership as the kubelet applies it (OnRootMismatch): group gid, g+rwX, setgid.

    https://kubernetes.io/docs/tasks/configure-pod-container/security-context/#configure-volume-permission-and-ownership-change-policy-for-pods
    """
    st = path.stat()
    if st.st_gid == gid and st.st_mode & 0o2070 == 0o2070:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            with contextlib.suppress(FileNotFoundError):
                if os.path.islink(name):
                    continue
                os.chown(name, -1, gid)
                mode = os.stat(name).st_mode
                extra = 0o060 | (0o010 if mode & 0o100 or os.path.isdir(name) else 0)
                if os.path.isdir(name):
                    extra |= 0o2000
                os.chmod(name, (mode & 0o7777) | extra)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                return False
            raise
    return True


def _sandbox_pid(proc: asyncio.subprocess.Process) -> int | None:
    """The host PID of the sandbox (PID 1 of the pod's namespace): unshare's child."""
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def signal_sandbox(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if proc.returncode is not None:
        return
    if sig == signal.SIGKILL:
        # unshare --kill-child: its death kills PID 1, and with it the whole namespace
        targets = [p for p in (_sandbox_pid(proc), proc.pid) if p]
    else:
        targets = [p for p in (_sandbox_pid(proc),) if p]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
