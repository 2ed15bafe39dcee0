"""Faults on a real kube-apiserver, as the emulator's ``inject_fault`` makes them.

A validating admission webhook of the test's own answers the chosen writes with an
error status: the kube-apiserver hands a webhook's denial code (>= 400) to the client
unchanged (``ToStatusErr`` in k8s.io/apiserver/pkg/admission/plugin/webhook/errors),
so a denial with code 503 is, to the client, the API server's own 503. Admission sees
writes only (create, update/patch, delete), and only of the kube-apiserver's own
resources: an aggregated API's requests (OpenShift's projectrequests) are admitted by
its server.

    with AdmissionFaults(admin, directory=tmp_path) as faults:
        faults.inject_fault(verb="create", resource="rolebindings", status=503, count=2,
                            user="system:serviceaccount:jupyterhub:hub")
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import urllib.error
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from . import pki
from .cluster import Client, free_port

_OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}
_PROBE = "workspace-spawner-fault-probe"


@dataclass
class Fault:
    operation: str
    resource: str
    status: int
    count: int
    user: str

    def matches(self, request: dict[str, Any]) -> bool:
        return (
            self.count > 0
            and request["operation"] == self.operation
            and request["resource"]["resource"] == self.resource
            and self.user in ("", request["userInfo"]["username"])
        )


class AdmissionFaults:
    """The webhook server (in a thread of its own, so a test's blocking calls never
    hold it up) and its ValidatingWebhookConfiguration, gone on exit."""

    def __init__(self, admin: Client, *, directory: Path) -> None:
        self.admin = admin
        self.name = f"workspace-spawner-faults-{uuid.uuid4().hex[:8]}"
        ca = pki.make_ca(directory=directory, name="faults-ca", common_name="faults-ca")
        serving = pki.issue(
            ca=ca,
            directory=directory,
            name="faults",
            common_name="faults",
            server=True,
            ips=("127.0.0.1",),
        )
        self._ca_bundle = base64.b64encode(ca.cert.read_bytes()).decode()
        self._serving = serving
        self._port = free_port()
        self._faults: list[Fault] = []
        self._seen_probes: set[str] = set()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._started = threading.Event()

    # -- the test's side ----------------------------------------------------------------

    def __enter__(self) -> AdmissionFaults:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.admin.request("DELETE", self._path)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def inject_fault(
        self, *, verb: str, resource: str, status: int, count: int = 1, user: str = ""
    ) -> Fault:
        """The next ``count`` ``verb`` requests of ``resource`` (by ``user``, if given)
        are answered with ``status``; in force when this returns. The Fault's ``count``
        is what is left of it."""
        fault = Fault(_OPERATIONS[verb], resource, status, count, user)
        with self._lock:
            self._faults.append(fault)
        probe = uuid.uuid4().hex[:8]
        self._apply(probe)
        deadline = time.monotonic() + 30
        while probe not in self._seen_probes:
            assert time.monotonic() < deadline, "the fault webhook was not called within 30 s"
            self._send_probe(probe)
            time.sleep(0.2)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- registration -------------------------------------------------------------------

    @property
    def _path(self) -> str:
        return f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{self.name}"

    def _apply(self, probe: str) -> None:
        """The configuration: a rule for each faulted resource, and one for the probe
        (a dry-run ConfigMap named for this version), so a probe seen is this version
        in force."""
        url = f"https://127.0.0.1:{self._port}/"
        with self._lock:
            rules = {(f.operation, f.resource) for f in self._faults}

        def hook(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "name": f"{name}.faults.workspace-spawner.test",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "timeoutSeconds": 5,
                "clientConfig": {"url": url, "caBundle": self._ca_bundle},
                "rules": rules,
            }

        faulted = [
            {"apiGroups": ["*"], "apiVersions": ["*"], "operations": [op], "resources": [res]}
            for op, res in sorted(rules)
        ]
        probe_rule = {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["configmaps"],
        }
        config = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name, "annotations": {_PROBE: probe}},
            "webhooks": [hook("faulted", faulted), hook("probe", [probe_rule])],
        }
        self.admin.apply(config)

    def _send_probe(self, probe: str) -> None:
        self.admin.request(
            "POST",
            "/api/v1/namespaces/default/configmaps?dryRun=All",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{_PROBE}-{probe}"}},
        )

    # -- the webhook --------------------------------------------------------------------

    async def _review(self, request: web.Request) -> web.Response:
        review = await request.json()
        asked = review["request"]
        response: dict[str, Any] = {"uid": asked["uid"], "allowed": True}
        name = (asked.get("object") or {}).get("metadata", {}).get("name", "")
        if name.startswith(f"{_PROBE}-"):
            self._seen_probes.add(name.removeprefix(f"{_PROBE}-"))
        with self._lock:
            fault = next((f for f in self._faults if f.matches(asked)), None)
            if fault is not None:
                fault.count -= 1
        if fault is not None:
            response = {
                "uid": asked["uid"],
                "allowed": False,
                "status": {"code": fault.status, "message": f"injected fault {fault.status}"},
            }
        return web.json_response(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )

    def _run(self) -> None:
        import ssl

        asyncio.set_event_loop(self._loop)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self._serving.cert), str(self._serving.key))
        app = web.Application()
        app.add_routes([web.post("/", self._review)])
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self._port, ssl_context=context)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        # the kube-apiserver's kept-alive TLS connections close over a few more loop turns;
        # a loop closed before that leaves their transports to the garbage collector, a
        # ResourceWarning in whichever later test it runs in
        self._loop.run_until_complete(asyncio.sleep(0.5))
        self._loop.close()
