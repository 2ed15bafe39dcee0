"""The emulator as a separate process: `python -m workspace_spawner_testing.emulator`,
and its HTTP control API under /_emulator/ for tools that cannot reach the Python object."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys

import aiohttp
import pytest
from kubernetes_asyncio import client, config

pytestmark = pytest.mark.emulator_only(
    reason="the emulator's own command and its /_emulator/ control API"
)


async def _api(kubeconfig) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


# each run pays a Python start, the emulator's import and its start (its built-in Namespaces'
# schema check imports jsonschema): about 2 s on an idle 2-core machine, so two runs only
@pytest.mark.parametrize("sig,openshift", [(signal.SIGINT, False), (signal.SIGTERM, True)])
async def test_standalone_serves_through_its_kubeconfig_and_stops_cleanly(tmp_path, sig, openshift):
    kubeconfig = tmp_path / "kubeconfig"
    args = [
        sys.executable,
        "-m",
        "workspace_spawner_testing.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
    ] + (["--openshift"] * openshift)
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        # the bound catches a hang only (a process that fails ends its stdout at once, and
        # its stderr is shown): 30 s was once too short on a machine under a Go build
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        if not line:
            await proc.wait()
            pytest.fail(f"exited {proc.returncode}: {(await proc.stderr.read()).decode()}")
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert url.group(0) in kubeconfig.read_text()
        async with await _api(kubeconfig) as api:
            namespaces = await client.CoreV1Api(api).list_namespace()
            groups = await client.ApisApi(api).get_api_versions()
        assert {"default", "kube-system"} <= {n.metadata.name for n in namespaces.items}
        assert ("project.openshift.io" in [g.name for g in groups.groups]) is openshift
        proc.send_signal(sig)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()


@pytest.mark.parametrize(
    "module",
    ["workspace_spawner_testing.emulator", "workspace_spawner_testing.openshift.apiserver"],
)
def test_the_import_leaves_jsonschema_for_the_first_schema_check(module):
    """jsonschema's import builds rfc3987_syntax's Earley parser (over a second), which the
    processes that import the emulator but check no schema (the OpenShift stand-in, the
    node agent's pod runner) need not pay, nor any importer at import."""
    code = f"import sys, {module}; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


async def test_control_api_request_log(kube, emulator):
    async with aiohttp.ClientSession(emulator.url) as http:
        async with kube.api_client() as api:
            await client.CoreV1Api(api).create_namespaced_config_map(kube.namespace, cm("a"))
        async with http.get("/_emulator/requests") as response:
            assert response.status == 200
            log = await response.json()
        # a create is logged with the name of what it made, as an audit event's objectRef
        assert [(r["verb"], r["resource"], r["name"], r["status"]) for r in log][-1] == (
            "create",
            "configmaps",
            "a",
            201,
        )
        assert {"method", "path", "query", "namespace", "duration", "time", "user"} <= set(log[-1])
        async with http.delete("/_emulator/requests") as response:
            assert response.status == 200
        async with http.get("/_emulator/requests") as response:
            assert await response.json() == []


async def test_control_api_fault(kube, emulator):
    async with aiohttp.ClientSession(emulator.url) as http:
        async with http.post(
            "/_emulator/faults",
            json={"verb": "get", "resource": "configmaps", "status": 503, "count": 1},
        ) as r:
            assert r.status == 200
        async with http.post("/_emulator/faults", json={"bogus": 1}) as r:
            assert r.status == 400
    emulator.create(cm("a"), namespace=kube.namespace)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        with pytest.raises(client.ApiException) as error:
            await v1.read_namespaced_config_map("a", kube.namespace)
        assert error.value.status == 503
        await v1.read_namespaced_config_map("a", kube.namespace)


@pytest.mark.parametrize("openshift", [True, False])
async def test_control_api_reset(kube, emulator, openshift):
    emulator.create(cm("a"), namespace=kube.namespace)
    emulator.inject_fault(verb="list", resource="namespaces", status=500)
    async with aiohttp.ClientSession(emulator.url) as http:
        async with http.post("/_emulator/reset", json={"openshift": openshift}) as r:
            assert r.status == 200
    assert emulator.get("namespaces", kube.namespace) is None
    assert emulator.get("namespaces", "default") is not None
    assert emulator.openshift is openshift
    async with kube.api_client() as api:  # the fault went with the reset
        await client.CoreV1Api(api).list_namespace()


async def test_control_api_kubelet_actions(kube, emulator, wait_for):
    async with aiohttp.ClientSession(emulator.url) as http:
        async with http.post(
            "/_emulator/kubelet/never_ready", json={"namespace": kube.namespace, "name": "p"}
        ) as r:
            assert r.status == 200
        async with http.post(
            "/_emulator/kubelet/set_log",
            json={"namespace": kube.namespace, "name": "p", "container": "c", "text": "hello\n"},
        ) as r:
            assert r.status == 200
        async with http.post("/_emulator/kubelet/never_ready", json={"nope": 1}) as r:
            assert r.status == 400
        async with http.post("/_emulator/kubelet/reset", json={}) as r:
            assert r.status == 404  # only the listed actions are reachable
        async with http.post("/_emulator/faults", data=b"{not json") as r:
            assert r.status == 400
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "x:1"}]},
        },
        namespace=kube.namespace,
    )
    running = await wait_for(
        lambda: (
            (p := emulator.get("pods", "p", kube.namespace))
            and p["status"]["phase"] == "Running"
            and p
        )
    )
    assert running["status"]["containerStatuses"][0]["ready"] is False
    async with kube.api_client() as api:
        log = await client.CoreV1Api(api).read_namespaced_pod_log("p", kube.namespace)
    assert log == "hello\n"
