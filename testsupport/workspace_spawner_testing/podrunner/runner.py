"""PodRunner: the emulator's simulated kubelet, running the pods' containers for real.

Each container is a local process tree in its own PID and mount namespace (see
``sandbox.py``): the host's file system with the image's overlay stacked on it,
the pod's volumes bind-mounted at their mount paths, the pod's command, args,
env, working dir and user. Init containers run in order, to completion; a failed
one blocks the pod. Each pod gets its own loopback address, where a server that
listens on all addresses (0.0.0.0) of its pod listens instead.

What a real node does that this does not: network namespaces (pods share the
host's network; a wildcard listen address in the env or args is turned into the
pod's IP), resource limits, probes, image pulls (an image is the host plus its
overlay directory, see ``images``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..emulator.apiserver import ApiServer
from ..emulator.kubelet import Kubelet
from ..emulator.store import Change
from ..loopback import LoopbackAddresses
from . import layout
from .layout import Image

log = logging.getLogger(__name__)

DEMO_IMAGE_DIR = Path(__file__).resolve().parent.parent / "demo_image"


class SandboxUnavailable(RuntimeError):
    """This machine cannot run pods in private mount namespaces."""


def check_sandbox() -> None:
    """Fail at once, saying what is missing, where pods cannot run in their namespaces.

    The pod runner never falls back to running pods without mount namespaces: paths
    and mounts would differ from a real pod's and the demo would prove nothing.
    """
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            f"the pod runner needs {', '.join(missing)} (Debian package util-linux / mount): "
            "apt-get install util-linux mount"
        )
    probe = subprocess.run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "sh",
            "-c",
            "d=$(mktemp -d) && mkdir $d/l $d/u $d/w $d/m && "
            "mount -t tmpfs t $d/m && umount $d/m && "
            "mount -t overlay o -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w $d/m; "
            "r=$?; umount $d/m 2>/dev/null; rm -rf $d; exit $r",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            "the pod runner needs private mount and PID namespaces with tmpfs and overlayfs "
            "mounts (run as root, or where unprivileged user namespaces are allowed); "
            f"`unshare --mount --pid --fork` failed: {probe.stderr.strip() or probe.returncode}"
        )


def demo_images() -> dict[str, Image]:
    """The "notebook image" every image name maps to in the demo: a jovyan home overlay.

    Like the Jupyter docker-stacks images: user 1000, group 100, HOME /home/jovyan,
    and this Python environment's scripts (jupyterhub-singleuser, jupyter) on PATH.
    """
    return {"*": notebook_image(str(DEMO_IMAGE_DIR))}


def notebook_image(overlay: str) -> Image:
    bindir = os.path.dirname(sys.executable)
    # docker-stacks: ENTRYPOINT ["tini", "-g", "--"], CMD ["start-notebook.py"]; the
    # single-user server needs no init process here (the sandbox is PID 1 and reaps)
    # this Python environment is the image's software: its user must reach it
    software = tuple(
        sorted(
            {
                os.path.realpath(p)
                for p in (
                    sys.prefix,
                    sys.base_prefix,
                    os.path.dirname(os.path.realpath(sys.executable)),
                    str(Path(__file__).resolve().parents[3]),
                )
            }
        )
    )
    return Image(
        overlay=overlay,
        uid=1000,
        gid=100,
        working_dir="/home/jovyan",
        cmd=("jupyterhub-singleuser",),
        user_owned=("/home/jovyan",),
        traversable=software,
        env={
            "PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/home/jovyan",
            "USER": "jovyan",
            "NB_USER": "jovyan",
            "NB_UID": "1000",
            "NB_GID": "100",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        },
    )


class MountError(Exception):
    """A volume cannot be set up (e.g. its ConfigMap is missing): the pod waits."""


class PodRunner(Kubelet):
    """A Kubelet whose containers are real processes.

    ``data_dir`` keeps one directory per claim (``volumes/<namespace>/<claim>``, kept
    across pod deletions, removed with the claim, as reclaimPolicy Delete does),
    the containers' logs and the pods' scratch space. ``images`` maps an image name
    (``name:tag``, ``name`` or ``*``) to what it contains. ``ip_prefix`` is the
    loopback /24 the pods' addresses come from.
    """

    def __init__(
        self,
        api: ApiServer,
        *,
        data_dir: str | os.PathLike[str],
        images: Mapping[str, Image] | None = None,
        ip_prefix: str = "127.0.0",
        port_probe: int = 8888,
        add_token: Callable[[str, str, list[str]], None] | None = None,
    ) -> None:
        super().__init__(api)
        self.data_dir = Path(data_dir).resolve()
        self.images = dict(images if images is not None else demo_images())
        if not ip_prefix.startswith("127."):
            raise ValueError("pod addresses must be loopback addresses (127.x.y)")
        self.ip_prefix = ip_prefix
        self.port_probe = port_probe
        # the prefix keeps concurrent test beds apart; skip addresses something listens on
        self._ips = LoopbackAddresses(
            f"{ip_prefix}.0/24", usable=lambda ip: _port_free(ip, self.port_probe)
        )
        self.add_token = add_token
        # pod uid -> container name -> the unshare process
        self.processes: dict[str, dict[str, asyncio.subprocess.Process]] = {}
        self._watchers: dict[tuple[str, str], asyncio.Task] = {}
        self._terminating: set[str] = set()
        self._messages: dict[tuple[str, str], str] = {}
        self.pvcs = api.registry.lookup("persistentvolumeclaims")

    # -- paths ------------------------------------------------------------------------

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.data_dir / "volumes" / namespace / claim

    def snapshot_dir(self, content: str) -> Path:
        return self.data_dir / "snapshots" / content

    # -- the snapshot controller's data (emulator.snapshots.SnapshotData) ----------------
    # cp -a keeps modes, owners, times, links and any name, as a CSI snapshot keeps blocks

    def snapshot(self, *, namespace: str, claim: str, content: str) -> None:
        source, target = self.claim_dir(namespace, claim), self.snapshot_dir(content)
        target.mkdir(parents=True, exist_ok=True)
        if source.exists():
            subprocess.run(["cp", "-a", "--", f"{source}/.", str(target)], check=True)

    def restore(self, *, content: str, namespace: str, claim: str) -> None:
        source, target = self.snapshot_dir(content), self.claim_dir(namespace, claim)
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--", f"{source}/.", str(target)], check=True)

    def remove(self, *, content: str) -> None:
        shutil.rmtree(self.snapshot_dir(content), ignore_errors=True)

    def pod_dir(self, pod: dict) -> Path:
        return self.data_dir / "pods" / pod["metadata"]["uid"]

    def log_path(self, namespace: str, name: str, container: str) -> Path:
        return self.data_dir / "logs" / namespace / name / f"{container}.log"

    def image(self, name: str) -> Image:
        for key in (name, name.rsplit(":", 1)[0], "*"):
            if key in self.images:
                return self.images[key]
        return Image()

    # -- the loop ---------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        if change.kind.key == self.pvcs.key and change.type == "DELETED":
            meta = change.obj["metadata"]
            # reclaimPolicy Delete: the volume's data goes with the claim
            # https://kubernetes.io/docs/concepts/storage/persistent-volumes/#delete
            path = self.claim_dir(meta["namespace"], meta["name"])
            if path.exists():
                log.info("claim %s/%s deleted: removing %s", meta["namespace"], meta["name"], path)
                shutil.rmtree(path, ignore_errors=True)
            return
        super().on_change(change)
        if change.kind.key == self.kind.key and change.type == "DELETED":
            uid = change.obj["metadata"]["uid"]
            if self.processes.get(uid):
                # deleted without a grace period: nothing waits for the processes
                asyncio.get_running_loop().create_task(self._kill(change.obj, grace=0))

    def reset(self) -> None:
        for procs in list(self.processes.values()):
            for proc in procs.values():
                _signal_sandbox(proc, signal.SIGKILL)
        for task in self._watchers.values():
            task.cancel()
        self._watchers.clear()
        self.processes.clear()
        super().reset()

    def log(self, namespace: str, name: str, container: str) -> str:
        path = self.log_path(namespace, name, container)
        if path.exists():
            return path.read_text(errors="replace")
        return super().log(namespace, name, container)

    # -- override points ----------------------------------------------------------------

    async def run_init_container(self, pod: dict, container: dict) -> int:
        try:
            proc = await self._launch(pod, container, init=True)
        except MountError as e:
            self.event(pod, "FailedMount", str(e), type_="Warning")
            await asyncio.Event().wait()  # the kubelet retries until the object exists
        code = _exit_code(await proc.wait())
        self._read_message(pod, container, self.pod_dir(pod) / container["name"])
        return code

    async def start_container(self, pod: dict, container: dict) -> None:
        try:
            proc = await self._launch(pod, container, init=False)
        except MountError as e:
            self.event(pod, "FailedMount", str(e), type_="Warning")
            await asyncio.Event().wait()
        await super().start_container(pod, container)
        key = (pod["metadata"]["uid"], container["name"])
        self._watchers[key] = asyncio.get_running_loop().create_task(
            self._watch(pod, container, proc)
        )

    async def kill_pod(self, pod: dict, grace: float) -> None:
        for container in pod.get("spec", {}).get("containers", []):
            self.event(
                pod,
                "Killing",
                f"Stopping container {container['name']}",
                container=container["name"],
            )
        await self._kill(pod, grace=grace)

    def set_init_state(self, pod: dict, index: int, state: dict, *, ready: bool = False) -> None:
        if "terminated" in state:
            name = pod["spec"]["initContainers"][index]["name"]
            message = self._messages.get((pod["metadata"]["uid"], name))
            if message:
                state = {"terminated": {**state["terminated"], "message": message}}
        super().set_init_state(pod, index, state, ready=ready)

    def _allocate_ip(self, pod: dict) -> str:
        return self._ips.allocate(pod["metadata"]["uid"])

    # -- processes ----------------------------------------------------------------------

    async def _launch(
        self, pod: dict, container: dict, *, init: bool
    ) -> asyncio.subprocess.Process:
        meta = pod["metadata"]
        uid, name = meta["uid"], container["name"]
        pod_ip = self._allocate_ip(pod)
        image = self.image(container.get("image", ""))
        scratch = self.pod_dir(pod) / name
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        spec = {
            "root": str(scratch / "root"),
            "scratch": str(scratch),
            "layers": layout.overlay_layers(self._image_layer(image)),
            "traversable": list(image.traversable),
            "mounts": self._mounts(pod, container, scratch),
            "argv": self._argv(pod, container, image, pod_ip),
            "env": self._env(pod, container, image, pod_ip),
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

    def _read_message(self, pod: dict, container: dict, scratch: Path) -> None:
        path = scratch / "termination-log"
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace").strip()
            if text:
                # the kubelet keeps at most 4096 bytes of a termination message
                self._messages[(pod["metadata"]["uid"], container["name"])] = text[-4096:]

    async def _watch(self, pod: dict, container: dict, proc: asyncio.subprocess.Process) -> None:
        """A main container ended: report it, and start it again as restartPolicy asks."""
        meta = pod["metadata"]
        code = _exit_code(await proc.wait())
        if meta["uid"] in self._terminating or self.pod(pod) is None:
            return
        log.info(
            "pod %s/%s: container %s exited with %s",
            meta["namespace"],
            meta["name"],
            container["name"],
            code,
        )
        policy = pod["spec"].get("restartPolicy", "Always")
        self.container_exited(meta["namespace"], meta["name"], container["name"], code)
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            await asyncio.sleep(1.0)  # the kubelet's back-off starts at 10s; shorter here
            if self.pod(pod) is None or meta["uid"] in self._terminating:
                return
            new = await self._launch(pod, container, init=False)
            self._watchers[(meta["uid"], container["name"])] = (
                asyncio.get_running_loop().create_task(self._watch(pod, container, new))
            )

    async def _kill(self, pod: dict, *, grace: float) -> None:
        """SIGTERM to every container's PID 1, SIGKILL to what is left after ``grace``."""
        uid = pod["metadata"]["uid"]
        self._terminating.add(uid)
        procs = list(self.processes.get(uid, {}).values())
        for proc in procs:
            _signal_sandbox(proc, signal.SIGTERM)
        waits = [asyncio.ensure_future(p.wait()) for p in procs if p.returncode is None]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=max(grace, 0.0))
            if pending:
                for proc in procs:
                    _signal_sandbox(proc, signal.SIGKILL)
                await asyncio.wait(pending, timeout=10)
        for key in [k for k in self._watchers if k[0] == uid]:
            self._watchers.pop(key).cancel()
        self.processes.pop(uid, None)
        self._terminating.discard(uid)
        shutil.rmtree(self.pod_dir(pod), ignore_errors=True)

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

    def _argv(self, pod: dict, container: dict, image: Image, pod_ip: str) -> list[str]:
        env = self._env(pod, container, image, pod_ip)
        return [
            layout.bind_pod_ip(layout.expand_refs(a, env), pod_ip)
            for a in layout.container_argv(container, image)
        ]

    def _env(self, pod: dict, container: dict, image: Image, pod_ip: str) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]

        def resolve_ref(kind: str, ref: Mapping[str, Any]) -> str | None:
            if kind == "fieldRef":
                return layout.field_value(self.pod(pod) or pod, ref["fieldPath"], pod_ip)
            if kind in ("secretKeyRef", "configMapKeyRef"):
                data = self._object_data(
                    "secrets" if kind == "secretKeyRef" else "configmaps",
                    namespace,
                    ref["name"],
                    optional=ref.get("optional", False),
                )
                value = data.get(ref["key"])
                return value.decode(errors="replace") if value is not None else None
            return None

        def env_from(source: Mapping[str, Any]) -> dict[str, str]:
            for key, plural in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
                if key in source:
                    data = self._object_data(
                        plural,
                        namespace,
                        source[key]["name"],
                        optional=source[key].get("optional", False),
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

    def _object_data(
        self, plural: str, namespace: str, name: str, *, optional: bool = False
    ) -> dict[str, bytes]:
        obj = self.api.store.get(self.api.registry.lookup(plural), namespace, name)
        if obj is None:
            if optional:
                return {}
            kind = "secret" if plural == "secrets" else "configmap"
            raise MountError(f'MountVolume.SetUp failed: {kind} "{name}" not found')
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

    def _mounts(self, pod: dict, container: dict, scratch: Path) -> list[dict[str, Any]]:
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
                sources[mount["name"]] = self._volume_dir(pod, volume, fs_group=fs_group)
            source = sources[mount["name"]]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    # the kubelet creates a missing subPath directory
                    source.mkdir(parents=True)
                    if fs_group is not None:
                        _own_group(source, fs_group)
            mounts.append(
                {
                    "path": mount["mountPath"],
                    "source": str(source),
                    "readOnly": bool(mount.get("readOnly")),
                }
            )
        if spec.get("automountServiceAccountToken", True) and not any(
            m["path"].rstrip("/") == layout.SERVICE_ACCOUNT_DIR for m in mounts
        ):
            # what the ServiceAccount admission plugin adds to every pod
            # https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume
            mounts.append(
                {
                    "path": layout.SERVICE_ACCOUNT_DIR,
                    "readOnly": True,
                    "source": str(self._service_account_dir(pod, fs_group=fs_group)),
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

    def _volume_dir(self, pod: dict, volume: dict, *, fs_group: int | None) -> Path:
        meta = pod["metadata"]
        if "persistentVolumeClaim" in volume:
            path = self.claim_dir(meta["namespace"], volume["persistentVolumeClaim"]["claimName"])
            path.mkdir(parents=True, exist_ok=True)
            if fs_group is not None:
                _own_group(path, fs_group)
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
            self._write_object(path, volume, meta["namespace"], fs_group=fs_group)
        elif "projected" in volume:
            source_mode = volume["projected"].get("defaultMode", 0o644)
            for source in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in source:
                    token = source["serviceAccountToken"]
                    self._write_file(
                        path / token["path"], self._token(pod).encode(), source_mode, fs_group
                    )
                elif "downwardAPI" in source:
                    self._write_downward(path, source["downwardAPI"], pod, source_mode, fs_group)
                else:
                    self._write_object(
                        path,
                        {**source, "defaultMode": source_mode},
                        meta["namespace"],
                        fs_group=fs_group,
                    )
        elif "downwardAPI" in volume:
            self._write_downward(
                path,
                volume["downwardAPI"],
                pod,
                volume["downwardAPI"].get("defaultMode", 0o644),
                fs_group,
            )
        else:
            raise MountError(
                f"volume {volume['name']}: this pod runner mounts "
                "persistentVolumeClaim, emptyDir, configMap, secret, projected, "
                "downwardAPI and hostPath volumes only"
            )
        return path

    def _write_object(
        self, path: Path, volume: dict, namespace: str, *, fs_group: int | None
    ) -> None:
        key = "configMap" if "configMap" in volume else "secret"
        source = volume[key]
        name = source.get("name") or source.get("secretName")
        data = self._object_data(
            "configmaps" if key == "configMap" else "secrets",
            namespace,
            name,
            optional=source.get("optional", False),
        )
        mode = source.get("defaultMode", volume.get("defaultMode", 0o644))
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise MountError(
                    f'MountVolume.SetUp failed: {key} "{name}" has no key "{item["key"]}"'
                )
            self._write_file(
                path / item["path"], data[item["key"]], item.get("mode", mode), fs_group
            )

    def _write_downward(
        self, path: Path, source: dict, pod: dict, mode: int, fs_group: int | None
    ) -> None:
        for item in source.get("items") or []:
            if "fieldRef" in item:
                value = (
                    layout.field_value(
                        self.pod(pod) or pod, item["fieldRef"]["fieldPath"], self._allocate_ip(pod)
                    )
                    or ""
                )
                self._write_file(
                    path / item["path"], value.encode(), item.get("mode", mode), fs_group
                )

    def _write_file(self, path: Path, data: bytes, mode: int, fs_group: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if fs_group is not None:
            # the kubelet makes the files of a volume readable by the pod's fsGroup
            os.chown(path, 0, fs_group)
            mode |= (mode & 0o700) >> 3 & 0o040
        os.chmod(path, mode)

    def _service_account_dir(self, pod: dict, *, fs_group: int | None) -> Path:
        path = self.pod_dir(pod) / "volumes" / "kube-api-access"
        if not path.exists():
            path.mkdir(parents=True)
            namespace = pod["metadata"]["namespace"]
            self._write_file(path / "token", self._token(pod).encode(), 0o644, fs_group)
            self._write_file(path / "namespace", namespace.encode(), 0o644, fs_group)
            self._write_file(path / "ca.crt", b"", 0o644, fs_group)
        return path

    def _token(self, pod: dict) -> str:
        """A token of the pod's service account, known to the emulator."""
        namespace = pod["metadata"]["namespace"]
        account = pod["spec"].get("serviceAccountName") or "default"
        token = "podrunner-" + secrets.token_urlsafe(24)
        if self.add_token is not None:
            self.add_token(
                token,
                f"system:serviceaccount:{namespace}:{account}",
                ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            )
        return token


def _exit_code(code: int) -> int:
    """asyncio's negative signal numbers as the kubelet reports them (128 + signal)."""
    return 128 - code if code < 0 else code


def _own_group(path: Path, gid: int) -> None:
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


def _port_free(host: str, port: int) -> bool:
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


def _signal_sandbox(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
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
