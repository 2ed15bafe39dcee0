"""The transfer's helper pod is deleted however its start is cut short, against the emulator.

``workspace-admin export``/``import`` promise that Ctrl-C leaves no helper pod behind. The
narrowest moment: the API server has stored the pod, its 201 is not yet read. A proxy in
front of the emulator forwards the create and withholds its answer, so the test cancels
exactly there (tests/integration/test_export_import.py's Ctrl-C test hits it only by
chance, under load).
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import yaml
from aiohttp import web
from kubernetes_asyncio import client, config

from workspace_spawner_testing.transfer import helper

pytestmark = pytest.mark.emulator_only(reason="a proxy in the test in front of the emulator")


def transfer_pods(emulator, namespace: str) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in emulator.list("pods", namespace)
        if p["metadata"].get("labels", {}).get("component") == "workspace-transfer"
    ]


async def test_a_ctrl_c_while_the_create_is_answered_deletes_the_pod(kube, emulator, tmp_path):
    stored, release = asyncio.Event(), asyncio.Event()

    async def forward(request: web.Request) -> web.Response:
        headers = {
            k: v for k, v in request.headers.items() if k in ("Authorization", "Content-Type")
        }
        async with aiohttp.ClientSession() as session:
            async with session.request(
                request.method,
                emulator.url + request.path_qs,
                headers=headers,
                data=await request.read(),
            ) as answer:
                body, status, kind = await answer.read(), answer.status, answer.content_type
        if request.method == "POST" and request.path.endswith("/pods"):
            stored.set()
            await release.wait()  # the 201 is withheld until the test is over
        return web.Response(status=status, body=body, content_type=kind)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    settings = yaml.safe_load(kubeconfig.read_text())
    settings["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{site.port}"
    kubeconfig.write_text(yaml.safe_dump(settings))
    configuration = client.Configuration()
    await config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    try:
        async with client.ApiClient(configuration) as api:
            core = client.CoreV1Api(api)

            async def export() -> None:
                async with helper(
                    core,
                    namespace=kube.namespace,
                    claim="claim-alice",
                    read_only=True,
                    image="x",
                    username_label="alice",
                    uid=1000,
                    gid=100,
                    timeout=30,
                ):
                    raise AssertionError("the helper pod never answered its create")

            task = asyncio.create_task(export())
            await asyncio.wait_for(stored.wait(), 30)
            assert len(transfer_pods(emulator, kube.namespace)) == 1
            task.cancel()  # Ctrl-C: asyncio.run cancels the command's task
            with pytest.raises(asyncio.CancelledError):
                await task
            assert transfer_pods(emulator, kube.namespace) == []
    finally:
        release.set()
        await runner.cleanup()
