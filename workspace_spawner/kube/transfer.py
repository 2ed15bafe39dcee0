"""The helper pod of ``workspace-admin export`` and ``import``, and HTTP to it through the API server.

The tar stream goes through the API server's pod proxy
(``/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH``,
https://kubernetes.io/docs/tasks/extend-kubernetes/http-proxy-access-api/): the API
server dials the pod's IP itself, so nothing but the Kubernetes API is needed on
the admin's side (no kubectl, no exec streaming through the kubelet, no Service).
The requests reuse the ApiClient's own HTTP session, so its TLS settings, client
certificates and token (refreshed as the kubeconfig says) apply unchanged.

Rights (in the users' namespace): create, get and delete on pods, get and create
on pods/proxy (helm-values/rbac-export.yaml).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from . import KubeError, kube_error, to_dict, tolerating
from .policy import Deadline

__all__ = [
    "create_pod",
    "read_pod",
    "delete_pod",
    "wait_for_pod_ip",
    "proxy_request",
    "ProxyError",
]


class ProxyError(KubeError):
    """A request through the pod proxy failed, or its answer broke off."""


async def create_pod(*, api: CoreV1Api, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    name = body["metadata"]["name"]
    try:
        return to_dict(await api.create_namespaced_pod(namespace=namespace, body=body))
    except ApiException as e:
        raise kube_error(e, action=f"create pod {name} in {namespace}") from e


async def read_pod(*, api: CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The pod, or None if there is none."""
    _, pod = await tolerating(
        404,
        api.read_namespaced_pod(name=name, namespace=namespace),
        action=f"read pod {name} in {namespace}",
    )
    return to_dict(pod)


async def delete_pod(*, api: CoreV1Api, namespace: str, name: str) -> None:
    """Delete the pod at once (grace period 0); a pod already gone is fine."""
    await tolerating(
        404,
        api.delete_namespaced_pod(name=name, namespace=namespace, grace_period_seconds=0),
        action=f"delete pod {name} in {namespace}",
    )


async def wait_for_pod_ip(
    *, api: CoreV1Api, namespace: str, name: str, timeout: float
) -> dict[str, Any]:
    """Poll until the pod runs with an IP; KubeError if it ends, vanishes or takes too long."""
    deadline = Deadline(timeout)
    while True:
        pod = await read_pod(api=api, namespace=namespace, name=name)
        if pod is None:
            raise KubeError(f"pod {name} in {namespace} was deleted while it started")
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            return pod
        if status.get("phase") in ("Failed", "Succeeded"):
            raise KubeError(f"pod {name} in {namespace} ended: {_why(status)}")
        if deadline.expired:
            raise KubeError(
                f"pod {name} in {namespace} did not run within {timeout:g}s "
                f"({_why(status) or 'phase ' + str(status.get('phase'))}): "
                "see `kubectl describe pod` or raise --timeout"
            )
        await asyncio.sleep(0.2)


def _why(status: dict[str, Any]) -> str:
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        detail = state.get("waiting") or state.get("terminated") or {}
        if detail.get("reason"):
            return f"{detail['reason']}: {detail.get('message') or ''}".rstrip(": ")
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("message"):
            return condition["message"]
    return ""


@asynccontextmanager
async def proxy_request(
    *,
    api: CoreV1Api,
    method: str,
    namespace: str,
    pod: str,
    port: int,
    path: str,
    headers: dict[str, str],
    data: Any = None,
    timeout: float | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One HTTP request to ``pod``'s ``port`` through the API server; the answer, unread.

    ``data``: bytes or an async iterator of bytes (streamed). A network failure
    becomes :class:`ProxyError`; the status is the caller's to judge.
    """
    client = api.api_client
    url = (
        f"{client.configuration.host}/api/v1/namespaces/{quote(namespace, safe='')}"
        f"/pods/{quote(pod, safe='')}:{port}/proxy{path}"
    )
    send = dict(headers)
    await client.update_params_for_auth(send, [], ["BearerToken"])
    rest = client.rest_client
    extra: dict[str, Any] = {}
    if rest.proxy:
        extra["proxy"] = rest.proxy
    if rest.server_hostname:
        extra["server_hostname"] = rest.server_hostname
    try:
        response = await rest.pool_manager.request(
            method,
            url,
            headers=send,
            data=data,
            timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=30),
            **extra,
        )
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
        raise ProxyError(
            f"Could not reach pod {pod} in {namespace} through the API server: {e}"
        ) from e
    try:
        yield response
    finally:
        response.release()
