"""pods/proxy: the API server forwards HTTP to a pod's IP and port, streaming, with RBAC.

A server in the test listens on the pod's (loopback) IP and stands in for the pod's
process; tests/integration/test_export_import.py runs the real helper pod.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from workspace_spawner_testing.emulator.rbac import Rbac

pytestmark = pytest.mark.emulator_only(reason="a server in the test stands in for the pod")


async def running_pod(emulator, namespace: str, name: str, wait_for) -> str:
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        }
    )
    return await wait_for(
        lambda: (emulator.get("pods", name, namespace) or {}).get("status", {}).get("podIP")
    )


@dataclass
class PodServer:
    """A server on the pod's IP echoing requests: what it saw; ``/held`` answers its first
    chunk, then waits for ``release``."""

    pod: str
    port: int
    seen: list[dict]
    release: asyncio.Event


@pytest.fixture
async def pod_server(kube, emulator, wait_for):
    ip = await running_pod(emulator, kube.namespace, "web", wait_for)
    seen: list[dict] = []
    release = asyncio.Event()

    async def echo(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append({"path": request.raw_path, "headers": dict(request.headers), "body": body})
        response = web.StreamResponse(headers={"X-Pod": "yes"})
        await response.prepare(request)
        for i in range(64):
            await response.write(b"x" * 16384)
            if i == 0 and request.path == "/held":
                await release.wait()
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    # port 0: the kernel's choice at the bind itself (a port picked by a probe socket and
    # bound later may be taken in between by another process's server on this address)
    site = web.TCPSite(runner, ip, 0)
    await site.start()
    yield PodServer("web", site.port, seen, release)
    await runner.cleanup()


def proxy_url(emulator, namespace: str, pod: str, port: int, path: str) -> str:
    return f"http://127.0.0.1:{emulator.port}/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}"


async def test_requests_reach_the_pod_without_the_callers_credentials(kube, emulator, pod_server):
    pod, port, seen = pod_server.pod, pod_server.port, pod_server.seen
    url = proxy_url(emulator, kube.namespace, pod, port, "/a/b?x=1&y=%2F")
    headers = {"Authorization": f"Bearer {emulator.admin_token}", "X-Token": "t"}
    async with aiohttp.ClientSession() as session:
        sent = URL(url, encoded=True)  # as written: the escape goes to the pod as it is
        async with session.post(sent, data=b"payload", headers=headers) as response:
            assert response.status == 200
            assert response.headers["X-Pod"] == "yes"
            assert len(await response.read()) == 64 * 16384
    (request,) = seen
    assert request["path"] == "/a/b?x=1&y=%2F"
    assert request["body"] == b"payload"
    assert request["headers"]["X-Token"] == "t"
    # kube-apiserver drops the credentials it authenticated
    assert "Authorization" not in request["headers"]
    (record,) = [r for r in emulator.requests if r.subresource == "proxy"]
    assert (record.verb, record.resource, record.name) == ("create", "pods", f"{pod}:{port}")


async def test_the_request_log_has_a_proxied_request_before_its_answer_ends(
    kube, emulator, pod_server
):
    """A request is logged as it arrives, as the kube-apiserver's audit log records
    RequestReceived: a client holding a streamed answer finds it in the log. Logged when
    its handler returned, it came after the answer's last byte, and under load a test
    reading the log at once found no record."""
    pod, port = pod_server.pod, pod_server.port
    url = proxy_url(emulator, kube.namespace, pod, port, "/held")
    headers = {"Authorization": f"Bearer {emulator.admin_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            try:
                assert response.headers["X-Pod"] == "yes"
                assert len(await response.content.readexactly(16384)) == 16384
                records = [r for r in emulator.requests if r.subresource == "proxy"]
                assert [(r.verb, r.name) for r in records] == [("get", f"{pod}:{port}")]
                assert records[0].status == 0  # not answered yet
            finally:
                pod_server.release.set()
            assert len(await response.read()) == 63 * 16384
    (record,) = [r for r in emulator.requests if r.subresource == "proxy"]
    assert record.status == 200


async def test_a_cut_after_fault_breaks_the_answer_off(kube, emulator, pod_server):
    pod, port = pod_server.pod, pod_server.port
    emulator.inject_fault(verb="get", resource="pods", subresource="proxy", after_bytes=50_000)
    url = proxy_url(emulator, kube.namespace, pod, port, "/stream")
    headers = {"Authorization": f"Bearer {emulator.admin_token}"}
    received = 0
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(url, headers=headers) as response:
                async for chunk in response.content.iter_chunked(8192):
                    received += len(chunk)
    assert received <= 50_000
    # the next request is whole again
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            assert len(await response.read()) == 64 * 16384


async def test_nothing_listening_is_503_and_rbac_needs_pods_proxy(kube, emulator, wait_for):
    ip = await running_pod(emulator, kube.namespace, "quiet", wait_for)
    async with aiohttp.ClientSession() as session:
        admin = {"Authorization": f"Bearer {emulator.admin_token}"}
        # a port of the pod's address bound and never listening: nothing answers there, and
        # no other process's server on the same loopback address can take it meanwhile
        with socket.socket() as held:
            held.bind((ip, 0))
            url = proxy_url(emulator, kube.namespace, "quiet", held.getsockname()[1], "/")
            async with session.get(url, headers=admin) as response:
                assert response.status == 503
                assert "error trying to reach service" in (await response.json())["message"]
        Rbac.install(emulator)
        emulator.add_token("reader-token", user="reader")
        emulator.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "pods-only", "namespace": kube.namespace},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "create"]}],
            }
        )
        emulator.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "reader", "namespace": kube.namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "pods-only",
                },
                "subjects": [{"kind": "User", "name": "reader"}],
            }
        )
        reader = {"Authorization": "Bearer reader-token"}
        async with session.get(url, headers=reader) as response:
            assert response.status == 403
            assert 'resource "pods/proxy"' in (await response.json())["message"]
