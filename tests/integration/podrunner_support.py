"""The pod runner for integration tests: pods that run for real (root only), on the emulator's
pod runner or, in make test-cluster, on the node agent's process runtime."""

from __future__ import annotations

import os
import random
import time
import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workspace_spawner_testing.podrunner import Image, ProcessEmulator
from workspace_spawner_testing.transfer import claim_manifest


def require_root(what: str) -> None:
    """Skip where ``what`` cannot run (it needs root for its mount namespaces), but fail in
    CI, which runs as root: a skip there would hide that the tests never ran."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{what} needs root")
        pytest.skip(f"{what} needs root")


def running_pods(data_dir: Path, image: Image) -> Iterator[ProcessEmulator]:
    """Yield a started ProcessEmulator running every image as ``image``; stop it after."""
    require_root("the pod runner")
    emulator = ProcessEmulator(
        data_dir=data_dir,
        images={"*": image},
        ip_prefix=f"127.{random.randint(100, 250)}.{random.randint(1, 250)}",
    )
    emulator.start_in_thread()
    yield emulator
    emulator.stop_thread()


class Pods:
    """Pods run for real, on either tier: the emulator's pod runner (make test), or the node
    agent's process runtime on the real control plane (make test-cluster; a namespace of
    its own, the pods placed on the runner node)."""

    def __init__(self, *, namespace: str, data_dir: Path, emulator: Any = None) -> None:
        self.namespace = namespace
        self.data_dir = data_dir
        self.emulator = emulator
        self.node: Any = None

    # -- the objects ----------------------------------------------------------------

    def create(self, obj: dict) -> None:
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": self.namespace}}
        if self.emulator is not None:
            self.emulator.create(obj)
            return
        from workspace_spawner_testing.controlplane import RUNNER_NODE_NAME, RUNNER_TAINT
        from workspace_spawner_testing.controlplane.cluster import resource_path

        if obj["kind"] == "Pod":
            spec = obj["spec"] = dict(obj["spec"])
            spec["nodeSelector"] = {"kubernetes.io/hostname": RUNNER_NODE_NAME}
            spec["tolerations"] = [{"key": RUNNER_TAINT["key"], "operator": "Exists"}]
        self._admin().request("POST", resource_path(obj).collection, obj)

    def claim(self, name: str) -> None:
        self.create(claim_manifest(name))

    def get(self, plural: str, name: str) -> dict | None:
        if self.emulator is not None:
            return self.emulator.get(plural, name, self.namespace)
        try:
            return self._admin().request(
                "GET", f"/api/v1/namespaces/{self.namespace}/{plural}/{name}"
            )
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def status(self, name: str) -> dict:
        return (self.get("pods", name) or {}).get("status", {})

    def delete_pod(self, name: str, *, grace: int | None = None) -> None:
        if self.emulator is not None:
            self.emulator.delete("pods", name, self.namespace, grace=grace)
            return
        body = {} if grace is None else {"gracePeriodSeconds": grace}
        self._admin().request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}", body)

    def claim_dir(self, claim: str, *, timeout: float = 60) -> Path:
        """The claim's directory on this machine, once the claim is bound. On the real tier
        the PV controller binds a WaitForFirstConsumer claim only after the scheduler has
        placed its pod, a moment after the pod is created, so this waits for the binding."""
        if self.emulator is not None:
            return self.emulator.runner.claim_dir(self.namespace, claim)
        deadline = time.monotonic() + timeout
        while True:
            pvc = self.get("persistentvolumeclaims", claim) or {}
            volume = pvc.get("spec", {}).get("volumeName")
            if volume:
                break
            assert time.monotonic() < deadline, f"claim {claim} is not bound after {timeout}s"
            time.sleep(0.1)
        pv = self._admin().request("GET", f"/api/v1/persistentvolumes/{volume}")
        return Path(pv["spec"]["hostPath"]["path"])

    # -- the node ---------------------------------------------------------------------

    def log(self, pod: str, container: str) -> str:
        path = self.data_dir / "logs" / self.namespace / pod / f"{container}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def processes(self) -> list[str]:
        """The containers' processes still running (their sandbox's spec is in the data dir)."""
        marker = str(self.data_dir.resolve() / "pods")
        left = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                left.append(f"{proc.name}: {cmdline}")
        return left

    def _admin(self) -> Any:
        from workspace_spawner_testing.controlplane import Client

        return Client.from_kubeconfig(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"])


def pods_for_real(data_dir: Path, image: Image, *, namespace: str = "default") -> Iterator[Pods]:
    """Yield :class:`Pods` on this tier; every image runs as ``image`` on the emulator
    (the node agent runs them as the demo's notebook image: the same user, 1000:100)."""
    if not os.environ.get("WORKSPACE_SPAWNER_TEST_KUBECONFIG"):
        for emulator in running_pods(data_dir, image):
            yield Pods(namespace=namespace, data_dir=emulator.runner.data_dir, emulator=emulator)
        return
    from workspace_spawner_testing.controlplane import Client
    from workspace_spawner_testing.demo import ProcessNode

    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the node agent's process runtime needs root")
        pytest.skip("the node agent's process runtime needs root")
    admin_kubeconfig = Path(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"])
    admin = Client.from_kubeconfig(admin_kubeconfig)
    namespace = f"wspods-{uuid.uuid4().hex[:8]}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    node = ProcessNode(
        admin_kubeconfig=admin_kubeconfig,
        node_kubeconfig=Path(os.environ["WORKSPACE_SPAWNER_TEST_RUNNER_NODE_KUBECONFIG"]),
        data_dir=data_dir,
        ip_prefix=f"127.{random.randint(100, 250)}.{random.randint(1, 250)}",
    )
    node.start(timeout=60)
    pods = Pods(namespace=namespace, data_dir=data_dir.resolve())
    # the ServiceAccount admission plugin refuses pods until the namespace's default
    # ServiceAccount exists (the controller manager makes it)
    deadline = time.monotonic() + 60
    while pods.get("serviceaccounts", "default") is None:
        assert time.monotonic() < deadline, f"no default ServiceAccount in {namespace}"
        time.sleep(0.2)
    pods.node = node
    try:
        yield pods
    finally:
        node.stop()
        admin.request("DELETE", f"/api/v1/namespaces/{namespace}")
