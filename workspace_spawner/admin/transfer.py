"""The helper pod's life for ``export`` and ``import``: start it, talk to it, always delete it.

With the server stopped the claim is mounted by the helper alone (read-only for an
export); with it running, the helper goes to the server's node, where a
ReadWriteOnce claim is already attached and may be mounted by a second pod
(https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes), and
takes the running pod's identity. The pod is deleted when the block ends, by an
error or Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api
from tqdm import tqdm

from ..kube import KubeError
from ..kube.transfer import create_pod, delete_pod, proxy_request, read_pod, wait_for_pod_ip
from .transfer_pod import (
    TRANSFER_PORT,
    Security,
    security_from_pod,
    security_from_traits,
    transfer_pod_manifest,
)
from .transfer_server import TOKEN_HEADER

__all__ = ["Helper", "helper_pod", "progress", "identity"]


@dataclass
class Helper:
    """A running helper pod and the token it answers to."""

    api: ApiClient
    namespace: str
    name: str
    token: str

    @asynccontextmanager
    async def request(
        self, method: str, path: str, *, data: Any = None, headers: dict[str, str] | None = None
    ):
        async with proxy_request(
            self.api,
            method=method,
            namespace=self.namespace,
            pod=self.name,
            port=TRANSFER_PORT,
            path=path,
            headers={TOKEN_HEADER: self.token, **(headers or {})},
            data=data,
        ) as response:
            yield response

    async def json(self, method: str, path: str, *, data: Any = None) -> tuple[int, dict]:
        async with self.request(method, path, data=data) as response:
            text = await response.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = {"error": text.strip() or f"HTTP {response.status}"}
        return response.status, body if isinstance(body, dict) else {"error": str(body)}

    async def wait_ready(self, *, timeout: float) -> None:
        """Until the server answers /healthz (the proxy says 503 while nothing listens)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self.request("GET", "/healthz") as response:
                if response.status == 200:
                    return
                said = (await response.text())[:300]
            if loop.time() >= deadline:
                raise KubeError(
                    f"helper pod {self.name} did not answer within {timeout:g}s "
                    f"(last: HTTP {response.status} {said})"
                )
            await asyncio.sleep(0.2)


async def identity(core: CoreV1Api, *, namespace: str, server_pod: str | None, spawner: Any):
    """(security, node) of the running server's pod, else from the spawner's traits."""
    if server_pod:
        pod = await read_pod(core, namespace=namespace, name=server_pod)
        if pod is not None:
            return security_from_pod(pod), (pod.get("spec") or {}).get("nodeName")
    uid, gid = spawner.uid, spawner.gid
    return (
        security_from_traits(
            uid=uid if isinstance(uid, int) else None,
            gid=gid if isinstance(gid, int) else None,
            fs_gid=spawner.fs_gid if isinstance(spawner.fs_gid, int) else None,
            supplemental_gids=list(spawner.supplemental_gids or []),
        ),
        None,
    )


@asynccontextmanager
async def helper_pod(
    *,
    core: CoreV1Api,
    namespace: str,
    claim: str,
    username_label: str,
    image: str,
    image_pull_policy: str | None,
    read_only: bool,
    security: Security,
    node_name: str | None,
    timeout: float,
    log: logging.Logger,
) -> AsyncIterator[Helper]:
    token = secrets.token_urlsafe(32)
    name = f"workspace-transfer-{secrets.token_hex(4)}"
    manifest = transfer_pod_manifest(
        name=name,
        namespace=namespace,
        username_label=username_label,
        claim=claim,
        image=image,
        image_pull_policy=image_pull_policy,
        read_only=read_only,
        token=token,
        security=security,
        node_name=node_name,
        idle_seconds=600,
        deadline_seconds=6 * 3600,
    )
    log.info("creating helper pod %s in %s for PVC %s", name, namespace, claim)
    await create_pod(core, namespace=namespace, body=manifest)
    try:
        await wait_for_pod_ip(core, namespace=namespace, name=name, timeout=timeout)
        helper = Helper(api=core.api_client, namespace=namespace, name=name, token=token)
        await helper.wait_ready(timeout=timeout)
        yield helper
    finally:
        # also after Ctrl-C (the task is cancelled once): the deletion runs to its end
        await asyncio.shield(delete_pod(core, namespace=namespace, name=name))
        log.info("deleted helper pod %s", name)


def progress(*, total: int | None, what: str) -> tqdm:
    """A byte progress bar on a terminal (stderr), nothing otherwise."""
    return tqdm(
        total=total,
        desc=what,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
    )
