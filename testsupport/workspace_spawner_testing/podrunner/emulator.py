"""The emulator whose node agent runs the pods for real: its process runtime."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..emulator import Emulator
from ..emulator.apiserver import ApiServer
from ..emulator.errors import ApiError
from ..emulator.store import Change
from .agent import ProcessRuntime
from .layout import Image
from .runner import check_sandbox, demo_images

log = logging.getLogger(__name__)

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


class EmulatorProcessRuntime(ProcessRuntime):
    """The process runtime with the claims' files in ``data_dir``.

    ``volumes/<namespace>/<claim>`` is a claim's volume (kept across pod deletions,
    removed with the claim, as reclaimPolicy Delete does), ``snapshots/<content>`` a
    snapshot's copy: the snapshot controller's data (``emulator.snapshots.SnapshotData``).
    """

    def __init__(self, *, data_dir: str | os.PathLike[str], images: Mapping[str, Image]) -> None:
        super().__init__(data_dir=data_dir, images=images, claim_dir=self.claim_dir)
        self.data_dir = self.containers.data_dir

    @property
    def processes(self) -> dict[str, dict[str, asyncio.subprocess.Process]]:
        return self.containers.processes

    def claim_dir(self, namespace: str, claim: str) -> Path:
        return self.data_dir / "volumes" / namespace / claim

    def snapshot_dir(self, content: str) -> Path:
        return self.data_dir / "snapshots" / content

    def pod_dir(self, pod: dict) -> Path:
        return self.containers.pod_dir(pod)

    def log_path(self, namespace: str, name: str, container: str) -> Path:
        return self.containers.log_path(namespace, name, container)

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

    def claim_deleted(self, namespace: str, claim: str) -> None:
        # reclaimPolicy Delete: the volume's data goes with the claim
        # https://kubernetes.io/docs/concepts/storage/persistent-volumes/#delete
        path = self.claim_dir(namespace, claim)
        if path.exists():
            log.info("claim %s/%s deleted: removing %s", namespace, claim, path)
            shutil.rmtree(path, ignore_errors=True)


class ProcessEmulator(Emulator):
    """An Emulator whose node agent runs the pods' containers as local processes
    (``podrunner.agent.ProcessRuntime``, the process runtime of the real tier's node).

    It also publishes the ``kube-root-ca.crt`` ConfigMap in every namespace, as
    kube-controller-manager's root CA publisher does, because pods mount it
    (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#root-ca-certificate-configmap);
    the emulator serves plain HTTP, so its content is empty. ``ip_prefix`` is the
    loopback /24 the pods' addresses come from (concurrent test beds apart).
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str],
        images: Mapping[str, Image] | None = None,
        ip_prefix: str = "127.0.0",
        **kwargs: Any,
    ) -> None:
        check_sandbox()
        if not ip_prefix.startswith("127."):
            raise ValueError("pod addresses must be loopback addresses (127.x.y)")
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.images = images if images is not None else demo_images()
        self.pod_network = f"{ip_prefix}.0/24"

    def make_runtime(self, api: ApiServer) -> EmulatorProcessRuntime:
        api.store.listeners.append(lambda change: self._on_change(api, change))
        return EmulatorProcessRuntime(data_dir=self.data_dir, images=self.images)

    def snapshot_data(self) -> EmulatorProcessRuntime:
        # the runtime keeps each claim's files: snapshots and restores copy them
        return self.runner

    @property
    def runner(self) -> EmulatorProcessRuntime:
        return self.kubelet_impl  # type: ignore[return-value]

    def _on_change(self, api: ApiServer, change: Change) -> None:
        if change.kind.plural == "persistentvolumeclaims" and change.type == "DELETED":
            meta = change.obj["metadata"]
            self.runner.claim_deleted(meta["namespace"], meta["name"])
        if change.kind.plural != "namespaces" or change.type != "ADDED":
            return
        namespace = change.obj["metadata"]["name"]
        try:
            api.create(
                api.registry.lookup("configmaps"),
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace},
                    "data": {"ca.crt": ""},
                },
                namespace=namespace,
            )
        except ApiError:
            pass  # already there, or the namespace is going away
