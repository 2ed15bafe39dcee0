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
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ..emulator.apiserver import ApiServer
from ..emulator.kubelet import Kubelet
from ..emulator.store import Change
from ..loopback import LoopbackAddresses
from .containers import Containers, MountError, decode_data, missing, port_free
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


class StoreSource:
    """A pod's Secrets, ConfigMaps, claims and token, read from the emulator's store."""

    def __init__(self, runner: PodRunner) -> None:
        self.runner = runner

    def object_data(
        self, plural: str, namespace: str, name: str, *, optional: bool = False
    ) -> dict[str, bytes]:
        api = self.runner.api
        obj = api.store.get(api.registry.lookup(plural), namespace, name)
        if obj is None:
            if optional:
                return {}
            raise missing(plural, name)
        return decode_data(plural, obj)

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.runner.claim_dir(namespace, claim)

    def token(self, pod: dict, *, audience: str | None, expiration: int) -> str:
        """A token of the pod's service account, known to the emulator."""
        namespace = pod["metadata"]["namespace"]
        account = pod["spec"].get("serviceAccountName") or "default"
        token = "podrunner-" + secrets.token_urlsafe(24)
        if self.runner.add_token is not None:
            self.runner.add_token(
                token,
                f"system:serviceaccount:{namespace}:{account}",
                ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            )
        return token

    def current(self, pod: dict) -> dict:
        return self.runner.pod(pod) or pod


class PodRunner(Kubelet):
    """A Kubelet whose containers are real processes (:class:`Containers`).

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
        self.containers = Containers(
            data_dir=data_dir, images=images if images is not None else demo_images()
        )
        self.data_dir = self.containers.data_dir
        if not ip_prefix.startswith("127."):
            raise ValueError("pod addresses must be loopback addresses (127.x.y)")
        self.ip_prefix = ip_prefix
        self.port_probe = port_probe
        # the prefix keeps concurrent test beds apart; skip addresses something listens on
        self._ips = LoopbackAddresses(
            f"{ip_prefix}.0/24", usable=lambda ip: port_free(ip, self.port_probe)
        )
        self.add_token = add_token
        self.source = StoreSource(self)
        self.pvcs = api.registry.lookup("persistentvolumeclaims")

    @property
    def processes(self) -> dict[str, dict[str, asyncio.subprocess.Process]]:
        return self.containers.processes

    # -- paths ------------------------------------------------------------------------

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.data_dir / "volumes" / namespace / claim

    def snapshot_dir(self, content: str) -> Path:
        return self.data_dir / "snapshots" / content

    def pod_dir(self, pod: dict) -> Path:
        return self.containers.pod_dir(pod)

    def log_path(self, namespace: str, name: str, container: str) -> Path:
        return self.containers.log_path(namespace, name, container)

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
                asyncio.get_running_loop().create_task(self.containers.kill(change.obj, grace=0))

    def reset(self) -> None:
        self.containers.kill_all()
        super().reset()

    def log(self, namespace: str, name: str, container: str) -> str:
        text = self.containers.log(namespace, name, container)
        return text if text is not None else super().log(namespace, name, container)

    # -- override points ----------------------------------------------------------------

    async def run_init_container(self, pod: dict, container: dict) -> int:
        try:
            code, _ = await self.containers.run_init(
                pod, container, pod_ip=self._allocate_ip(pod), source=self.source
            )
        except MountError as e:
            self.event(pod, "FailedMount", str(e), type_="Warning")
            await asyncio.Event().wait()  # the kubelet retries until the object exists
        return code

    async def start_container(self, pod: dict, container: dict) -> None:
        def exited(pod: dict, container: dict, code: int) -> None:
            meta = pod["metadata"]
            self.container_exited(meta["namespace"], meta["name"], container["name"], code)

        try:
            await self.containers.start(
                pod,
                container,
                pod_ip=self._allocate_ip(pod),
                source=self.source,
                exited=exited,
                wanted=lambda: self.pod(pod) is not None,
            )
        except MountError as e:
            self.event(pod, "FailedMount", str(e), type_="Warning")
            await asyncio.Event().wait()
        await super().start_container(pod, container)

    async def kill_pod(self, pod: dict, grace: float) -> None:
        for container in pod.get("spec", {}).get("containers", []):
            self.event(
                pod,
                "Killing",
                f"Stopping container {container['name']}",
                container=container["name"],
            )
        await self.containers.kill(pod, grace=grace)

    def set_init_state(self, pod: dict, index: int, state: dict, *, ready: bool = False) -> None:
        if "terminated" in state:
            name = pod["spec"]["initContainers"][index]["name"]
            message = self.containers.messages.get((pod["metadata"]["uid"], name))
            if message:
                state = {"terminated": {**state["terminated"], "message": message}}
        super().set_init_state(pod, index, state, ready=ready)

    def _allocate_ip(self, pod: dict) -> str:
        return self._ips.allocate(pod["metadata"]["uid"])
