"""The node agent's runtime whose containers are real processes (``--runner process``).

:class:`ProcessRuntime` runs a pod's containers with :class:`.containers.Containers`,
as the emulator's in-process pod runner does, but learns what the pod refers to from
the Kubernetes API with the node's identity, as a kubelet does: the Secrets and
ConfigMaps of its volumes and env (the Node authorizer lets a node read only those
of its own pods), its claims' PersistentVolumes (a ``hostPath`` PV, as
kube-controller-manager's host-path provisioner makes them, is a directory on this
machine) and its ServiceAccount's tokens (TokenRequest, bound to the pod, as the
kubelet asks for the projected token of every pod:
https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..nodeagent import Gone, MountFailed, NodeAgent, StatusRuntime
from . import layout
from .containers import Containers, MountError, decode_data, missing, port_free
from .layout import Image

# the ServiceAccount admission plugin's token lifetime, and the API's least one
DEFAULT_TOKEN_SECONDS = 3607
MIN_TOKEN_SECONDS = 600


@dataclass
class FetchedSource:
    """What one pod refers to, read from the API before its containers start."""

    pod: dict
    objects: dict[tuple[str, str], dict | None] = field(default_factory=dict)
    claims: dict[str, Path | str] = field(default_factory=dict)
    tokens: dict[tuple[str | None, int], str] = field(default_factory=dict)

    def object_data(
        self, plural: str, namespace: str, name: str, *, optional: bool = False
    ) -> dict[str, bytes]:
        obj = self.objects.get((plural, name))
        if obj is None:
            if optional:
                return {}
            raise missing(plural, name)
        return decode_data(plural, obj)

    def claim_dir(self, namespace: str, claim: str) -> Path:
        path = self.claims.get(claim)
        if not isinstance(path, Path):
            raise MountError(path or f'persistentvolumeclaim "{claim}" not found')
        return path

    def token(self, pod: dict, *, audience: str | None, expiration: int) -> str:
        return self.tokens[(audience, expiration)]

    def current(self, pod: dict) -> dict:
        return self.pod


def references(pod: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(plural, name) of every Secret and ConfigMap the pod's volumes and env name."""
    spec = pod["spec"]
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            yield "secrets", volume["secret"]["secretName"]
        if "configMap" in volume:
            yield "configmaps", volume["configMap"]["name"]
        for each in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in each:
                yield "secrets", each["secret"]["name"]
            if "configMap" in each:
                yield "configmaps", each["configMap"]["name"]
    for container in (spec.get("initContainers") or []) + spec["containers"]:
        for var in container.get("env") or []:
            ref = var.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                yield "secrets", ref["secretKeyRef"]["name"]
            if "configMapKeyRef" in ref:
                yield "configmaps", ref["configMapKeyRef"]["name"]
        for each in container.get("envFrom") or []:
            if "secretRef" in each:
                yield "secrets", each["secretRef"]["name"]
            if "configMapRef" in each:
                yield "configmaps", each["configMapRef"]["name"]


def token_requests(pod: Mapping[str, Any]) -> set[tuple[str | None, int]]:
    """(audience, expirationSeconds) of each token the pod's volumes project."""
    spec = pod["spec"]
    wanted = set()
    for volume in spec.get("volumes") or []:
        for each in (volume.get("projected") or {}).get("sources") or []:
            if "serviceAccountToken" in each:
                token = each["serviceAccountToken"]
                wanted.add((token.get("audience"), token.get("expirationSeconds", 3600)))
    mounted = any(
        m["mountPath"].rstrip("/") == layout.SERVICE_ACCOUNT_DIR
        for c in (spec.get("initContainers") or []) + spec["containers"]
        for m in c.get("volumeMounts") or []
    )
    if spec.get("automountServiceAccountToken", True) and not mounted:
        wanted.add((None, DEFAULT_TOKEN_SECONDS))  # Containers mounts one then
    return wanted


class ProcessRuntime(StatusRuntime):
    """Containers as processes (:class:`Containers`), fed from the API."""

    def __init__(
        self,
        *,
        data_dir: str | Path,
        images: Mapping[str, Image],
        port_probe: int = 8888,
        claim_dir: Callable[[str, str], Path] | None = None,
    ) -> None:
        super().__init__()
        self.containers = Containers(data_dir=data_dir, images=images)
        # where a bound claim's files are when the API serves no PersistentVolumes (the
        # emulator's claims name a volume pvc-<uid> that is not an object)
        self.claim_dir = claim_dir
        self.port_probe = port_probe
        self.sources: dict[str, FetchedSource] = {}

    async def set_up(self, agent: NodeAgent, pod: dict) -> None:
        self.sources[pod["metadata"]["uid"]] = await fetch(agent, pod, claim_dir=self.claim_dir)

    async def run_init_container(
        self, agent: NodeAgent, pod: dict, container: dict
    ) -> tuple[int, str]:
        try:
            return await self.containers.run_init(
                pod, container, pod_ip=agent.allocate_ip(pod), source=self._source(pod)
            )
        except MountError as e:
            raise MountFailed(str(e)) from e

    async def start_container(self, agent: NodeAgent, pod: dict, container: dict) -> None:
        uid = pod["metadata"]["uid"]

        async def exited(pod: dict, container: dict, code: int) -> None:
            message = self.containers.read_message(pod, container)
            await agent.container_exited(pod, container, code, message=message)

        try:
            await self.containers.start(
                pod,
                container,
                pod_ip=agent.allocate_ip(pod),
                source=self._source(pod),
                exited=exited,
                wanted=lambda: uid in agent.tasks,
            )
        except MountError as e:
            raise MountFailed(str(e)) from e

    async def kill_pod(self, agent: NodeAgent, pod: dict, grace: float) -> None:
        await self.containers.kill(pod, grace=grace)
        self.sources.pop(pod["metadata"]["uid"], None)

    def forget(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        self.sources.pop(uid, None)
        if self.containers.processes.get(uid):
            asyncio.get_running_loop().create_task(self.containers.kill(pod, grace=0))

    def address_free(self, ip: str) -> bool:
        return port_free(ip, self.port_probe)

    def log(self, namespace: str, name: str, container: str) -> str:
        text = self.containers.log(namespace, name, container)
        return text if text is not None else super().log(namespace, name, container)

    def shut_down(self) -> None:
        self.containers.kill_all()

    def _source(self, pod: dict) -> FetchedSource:
        return self.sources[pod["metadata"]["uid"]]


async def fetch(
    agent: NodeAgent, pod: dict, *, claim_dir: Callable[[str, str], Path] | None = None
) -> FetchedSource:
    """Read what ``pod`` refers to, with the node's identity."""
    meta = pod["metadata"]
    base = f"/api/v1/namespaces/{meta['namespace']}"
    source = FetchedSource(pod=pod)

    async def get(path: str) -> dict | None:
        try:
            return await agent.related(lambda: agent.api.call("GET", path), what=path)
        except Gone:
            return None

    for plural, name in set(references(pod)):
        source.objects[(plural, name)] = await get(f"{base}/{plural}/{name}")
    for volume in pod["spec"].get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            source.claims[claim] = await _claim_dir(get, base, claim, claim_dir)
    account = pod["spec"].get("serviceAccountName") or "default"
    for audience, seconds in token_requests(pod):
        spec: dict[str, Any] = {
            "expirationSeconds": max(seconds, MIN_TOKEN_SECONDS),
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if audience:
            spec["audiences"] = [audience]
        answer = await agent.related(
            lambda spec=spec: agent.api.call(
                "POST",
                f"{base}/serviceaccounts/{account}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            ),
            what=f"token of {account}",
        )
        source.tokens[(audience, seconds)] = answer["status"]["token"]
    return source


async def _claim_dir(
    get: Any, base: str, claim: str, local: Callable[[str, str], Path] | None
) -> Path | str:
    """The claim's PV directory, or why there is none (a MountError's message)."""
    pvc = await get(f"{base}/persistentvolumeclaims/{claim}")
    if pvc is None:
        return f'persistentvolumeclaim "{claim}" not found'
    volume = pvc.get("spec", {}).get("volumeName")
    if volume and local is not None:
        return local(pvc["metadata"]["namespace"], claim)
    pv = await get(f"/api/v1/persistentvolumes/{volume}") if volume else None
    if pv is None:
        return f'persistentvolumeclaim "{claim}" is not bound'
    if "hostPath" not in pv["spec"]:
        return f"persistentvolume {volume}: this node mounts hostPath volumes only"
    return Path(pv["spec"]["hostPath"]["path"])
