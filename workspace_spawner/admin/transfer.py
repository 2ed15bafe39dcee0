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
import hashlib
import json
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import CoreV1Api
from tqdm import tqdm

from ..kube import KubeError
from ..kube.policy import Deadline
from ..kube.transfer import create_pod, delete_pod, proxy_request, read_pod, wait_for_pod_ip
from .command import Refused
from .transfer_archive import normalized
from .transfer_pod import (
    TRANSFER_PORT,
    Security,
    security_from_pod,
    security_from_traits,
    transfer_pod_manifest,
)
from .transfer_server import TOKEN_HEADER

__all__ = [
    "Helper",
    "helper_pod",
    "progress",
    "identity",
    "download",
    "check",
    "upload",
    "listing",
]

CHUNK = 256 * 1024
SHOWN = 20  # names listed in an error at most


def listing(names: list[str]) -> str:
    more = f" (and {len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


@dataclass
class Helper:
    """A running helper pod and the token it answers to."""

    api: CoreV1Api
    namespace: str
    name: str
    token: str

    @asynccontextmanager
    async def request(
        self, method: str, path: str, *, data: Any = None, headers: dict[str, str] | None = None
    ):
        async with proxy_request(
            api=self.api,
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
        deadline = Deadline(timeout)
        while True:
            async with self.request("GET", "/healthz") as response:
                if response.status == 200:
                    return
                said = (await response.text())[:300]
            if deadline.expired:
                raise KubeError(
                    f"helper pod {self.name} did not answer within {timeout:g}s "
                    f"(last: HTTP {response.status} {said})"
                )
            await asyncio.sleep(0.2)


async def identity(core: CoreV1Api, *, namespace: str, server_pod: str | None, spawner: Any):
    """(security, node) of the running server's pod, else from the spawner's traits."""
    if server_pod:
        pod = await read_pod(api=core, namespace=namespace, name=server_pod)
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
    try:
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
    except ValueError as e:  # what the pod may not be (a root notebook)
        raise Refused(str(e)) from e
    log.info("creating helper pod %s in %s for PVC %s", name, namespace, claim)
    try:
        await create_pod(api=core, namespace=namespace, body=manifest)
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl-C while the create is answered: the pod may be stored, its 201 not yet
        # read; a pod never made is a 404, which delete_pod takes as done
        await asyncio.shield(delete_pod(api=core, namespace=namespace, name=name))
        raise
    try:
        try:
            await wait_for_pod_ip(api=core, namespace=namespace, name=name, timeout=timeout)
        except KubeError as e:
            raise KubeError(f"{e} (the helper runs python3 of its image {image}: --image)") from e
        helper = Helper(api=core, namespace=namespace, name=name, token=token)
        await helper.wait_ready(timeout=timeout)
        yield helper
    finally:
        # also after Ctrl-C (the task is cancelled once): the deletion runs to its end
        await asyncio.shield(delete_pod(api=core, namespace=namespace, name=name))
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


async def download(helper: Helper, *, path: str, level: int, what: str) -> dict[str, Any]:
    """The helper's export into ``path``, which appears only once the stream arrived whole
    and matches the pod's size and SHA-256; the pod's report."""
    part = f"{path}.part"
    sha, received = hashlib.sha256(), 0
    try:
        try:
            with open(part, "wb") as out, progress(total=None, what=f"export {what}") as bar:
                async with helper.request("GET", f"/export?level={level}") as response:
                    if response.status != 200:
                        said = (await response.text())[:500]
                        raise Refused(f"the helper pod answered HTTP {response.status}: {said}")
                    async for chunk in response.content.iter_chunked(CHUNK):
                        out.write(chunk)
                        sha.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise Refused(
                f"the export broke off after {received} bytes ({type(e).__name__}: {e}): "
                "nothing was written, try again"
            ) from e
        _, report = await helper.json("GET", "/report")
        if report.get("sha256") != sha.hexdigest() or report.get("bytes") != received:
            raise Refused(
                f"the export broke off after {received} bytes "
                f"(the pod sent {report.get('bytes')}): nothing was written, try again"
            )
        os.replace(part, path)
    except BaseException:
        if os.path.exists(part):
            os.unlink(part)
        raise
    return report


def _into(into: str) -> str:
    return f"into={quote(os.fsencode(normalized(into)))}"


async def check(helper: Helper, *, entries: list[bytes], into: str) -> list[str]:
    """Which of the archive's ``KIND PATH`` entries exist in the volume (shown names)."""
    status, found = await helper.json("POST", f"/check?{_into(into)}", data=b"\0".join(entries))
    if status != 200:
        raise Refused(f"the helper pod could not check the volume: {found.get('error')}")
    return found.get("conflicts") or []


async def upload(
    helper: Helper, *, path: str, into: str, overwrite: bool, what: str
) -> dict[str, Any]:
    """Send the archive ``path`` to be unpacked into ``into``; the pod's summary."""
    size = os.path.getsize(path)
    bar = progress(total=size, what=f"import {what}")

    async def chunks():
        with open(path, "rb") as f:
            while data := f.read(CHUNK):
                bar.update(len(data))
                yield data

    query = f"{_into(into)}&overwrite={'1' if overwrite else '0'}"
    try:
        with bar:
            async with helper.request(
                "POST", f"/import?{query}", data=chunks(), headers={"Content-Length": str(size)}
            ) as response:
                text = await response.text()
                status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError, KubeError) as e:
        raise Refused(f"the import broke off ({e}): the volume is as it was") from e
    try:
        body = json.loads(text)
    except ValueError:
        body = {"error": text[:500]}
    if status != 200:
        paths = body.get("paths") or []
        said = f": {listing(paths)}" if paths else ""
        raise Refused(f"nothing was imported: {body.get('error')}{said}")
    return body
