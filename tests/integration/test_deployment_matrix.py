"""The deployment matrix of issue 12: {Kubernetes, OpenShift} x {z2jh's values, user
namespaces, named servers}, each through a user's life and each adopting what an older
spawner left behind.

Every row starts from Zero to JupyterHub's own values.yaml with helm-values/ merged over it
(tests/z2jh_support.py: uid 1000, fsGid 100, the chart's iptables init container; on
OpenShift helm-values/openshift.yaml too, without which restricted-v2 rejects every pod,
see test_deployment_values.py). The user is ``alice.smith``, whose names differ between
KubeSpawner 6's "escape" scheme and 7's "safe" one. The hub runs as its ServiceAccount
only in the project tests; here it is the emulator's admin, and on the real control plane
(``make test-cluster``) the kubeconfig's user.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from kubernetes_asyncio import client
from z2jh_support import (
    REAL_START_TIMEOUT,
    Z2JH,
    chart_values,
    patient,
    spawner_traits,
    user_namespace_rights,
)

from workspace_spawner.constants import RESET_REQUEST_ANNOTATION, USERNAME_LABEL, VOLUME_NAME_LABEL

pytestmark = pytest.mark.skipif(
    not (Z2JH / "values.yaml").exists(), reason="the z2jh chart data is not beside this checkout"
)

USER = "alice.smith"
SAFE = "alice-smith---63425827"  # KubeSpawner 7's safe slug of alice.smith
ESCAPED = "alice-2esmith"  # KubeSpawner 6's escaped one


@dataclass(frozen=True)
class Deployment:
    platform: str  # "kubernetes" or "openshift"
    shape: str  # "z2jh", "user-namespaces" or "named-servers"

    @property
    def id(self) -> str:
        return f"{self.platform}-{self.shape}"


DEPLOYMENTS = [
    Deployment(p, s)
    for p in ("kubernetes", "openshift")
    for s in ("z2jh", "user-namespaces", "named-servers")
]


def _params():
    for d in DEPLOYMENTS:
        openshift = d.platform == "openshift"
        marks = [pytest.mark.openshift] if openshift else []
        yield pytest.param(d, marks=marks, id=d.id)


class Hub:
    """One deployment's hub: makes its spawners, reads and writes its namespace."""

    def __init__(self, deployment: Deployment, kube, make_spawner) -> None:
        self.d, self.kube, self._make = deployment, kube, make_spawner
        files = ["workspace-spawner.yaml", "volumes.yaml"]
        if deployment.platform == "openshift":
            files.append("openshift.yaml")
        self.traits = spawner_traits(chart_values(*files))
        self.namespace = kube.namespace
        if deployment.shape == "user-namespaces":
            self.traits.update(
                enable_user_namespaces=True,
                user_namespace_template=f"{kube.namespace}-{{username}}",
            )
            self.namespace = f"{kube.namespace}-{SAFE}"
        self.server = "gpu" if deployment.shape == "named-servers" else ""

    def spawner(self, state: dict | None = None):
        return self._make(USER, servername=self.server, state=state, **self.traits)

    async def core(self, call, *, admin: bool = False):
        async with self.kube.api_client(admin=admin and self.kube.real) as api:
            return api.sanitize_for_serialization(await call(client.CoreV1Api(api)))

    async def claims(self) -> dict[str, dict]:
        pvcs = await self.core(lambda c: c.list_namespaced_persistent_volume_claim(self.namespace))
        return {p["metadata"]["name"]: p for p in pvcs["items"]}

    async def pod(self, spawner) -> dict:
        return await self.core(lambda c: c.read_namespaced_pod(spawner.pod_name, self.namespace))

    async def make_claim(self, name: str, labels: dict) -> None:
        body = {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
        await self.core(lambda c: c.create_namespaced_persistent_volume_claim(self.namespace, body))

    async def ensure_namespace(self) -> None:
        if self.namespace == self.kube.namespace:
            return
        try:
            await self.core(
                lambda c: c.create_namespace({"metadata": {"name": self.namespace}}), admin=True
            )
        except client.ApiException as e:
            if e.status != 409:
                raise

    async def cleanup(self) -> None:
        if self.namespace != self.kube.namespace:
            await self.core(lambda c: c.delete_namespace(self.namespace), admin=True)


@pytest.fixture
async def hub(request, kube, make_spawner):
    deployment = request.param
    hub = Hub(deployment, kube, patient(make_spawner, kube))
    if deployment.shape != "user-namespaces":
        yield hub
        return
    with user_namespace_rights(kube):
        yield hub
        await hub.cleanup()


def mounted_claims(pod: dict) -> set[str]:
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }


async def start(spawner):
    return await asyncio.wait_for(spawner.start(), REAL_START_TIMEOUT + 30)


HOME = f"claim-{SAFE}"
DATASETS = f"{HOME}--datasets"


@pytest.mark.parametrize("hub", list(_params()), indirect=True)
async def test_a_users_life(hub):
    # first start: the home and the datasets volume are made and mounted
    first = hub.spawner()
    await start(first)
    assert set(await hub.claims()) == {HOME, DATASETS}
    pod = await hub.pod(first)
    assert mounted_claims(pod) == {HOME, DATASETS}
    assert [c["name"] for c in pod["spec"]["initContainers"]][0] == "setup-volume"
    if hub.d.platform == "openshift":
        assert pod["metadata"]["annotations"]["openshift.io/scc"] == "restricted-v2"
    # the hub restarts while the server runs: the new hub finds it from the saved state
    state = first.get_state()
    restarted = hub.spawner(state=state)
    assert await restarted.poll() is None
    await restarted.stop(now=True)
    assert await restarted.poll() is not None
    # restart: same claims, nothing made
    state = restarted.get_state()
    again = hub.spawner(state=state)
    await start(again)
    assert set(await hub.claims()) == {HOME, DATASETS}
    await again.stop(now=True)
    # an admin's reset request (workspace-admin reset): done at the next start, then cleared
    await hub.core(
        lambda c: c.patch_namespaced_persistent_volume_claim(
            HOME, hub.namespace, {"metadata": {"annotations": {RESET_REQUEST_ANNOTATION: "r1"}}}
        )
    )
    reset = hub.spawner(state=again.get_state())
    await start(reset)
    setup = next(
        c for c in (await hub.pod(reset))["spec"]["initContainers"] if c["name"] == "setup-volume"
    )
    env = {e["name"]: e.get("value") for e in setup["env"]}
    assert env["WORKSPACE_RESET_REQUEST"] == "r1"
    assert env["WORKSPACE_RESET_MARKER"] == ".delete-volume"
    for _ in range(100):
        annotations = (await hub.claims())[HOME]["metadata"].get("annotations") or {}
        if RESET_REQUEST_ANNOTATION not in annotations:
            break
        await asyncio.sleep(0.1)
    assert RESET_REQUEST_ANNOTATION not in annotations
    await reset.stop(now=True)


# What each older spawner left: its state, and its claims (name -> labels).
LEGACY = {
    "kubespawner-6": (
        {"pod_name": f"jupyter-{ESCAPED}"},
        {f"claim-{ESCAPED}": {"component": "singleuser-storage", USERNAME_LABEL: ESCAPED}},
        f"claim-{ESCAPED}",
    ),
    "kubespawner-7": (
        {
            "kubespawner_version": "7.1.0",
            "pod_name": f"jupyter-{SAFE}",
            "pvc_name": f"claim-{ESCAPED}",
        },
        {f"claim-{ESCAPED}": {"component": "singleuser-storage", USERNAME_LABEL: SAFE}},
        f"claim-{ESCAPED}",
    ),
    "workspace-spawner-0.1": (
        {
            "kubespawner_version": "7.1.0",
            "pod_name": f"jupyter-{SAFE}",
            "pvc_name": HOME,
            "workspace_pvcs": {"home": HOME, "datasets": f"{HOME}-datasets"},
        },
        {
            HOME: {USERNAME_LABEL: SAFE, VOLUME_NAME_LABEL: "home"},
            f"{HOME}-datasets": {USERNAME_LABEL: SAFE, VOLUME_NAME_LABEL: "datasets"},
        },
        HOME,
    ),
}


@pytest.mark.parametrize("legacy", list(LEGACY))
@pytest.mark.parametrize("hub", list(_params()), indirect=True)
async def test_what_an_older_spawner_left_is_adopted(hub, legacy):
    state, claims, home = LEGACY[legacy]
    await hub.ensure_namespace()
    for name, labels in claims.items():
        await hub.make_claim(name, labels)
    spawner = hub.spawner(state=dict(state, namespace=hub.namespace))
    await start(spawner)
    made = set(await hub.claims()) - set(claims)
    # the home claim is adopted, never a new one; 0.1 had the datasets claim too, the
    # KubeSpawners had none: it is made next to the adopted home claim
    assert home in mounted_claims(await hub.pod(spawner))
    assert made == ({f"{home}--datasets"} if legacy != "workspace-spawner-0.1" else set())
    saved = spawner.get_state()
    assert saved["pvc_name"] == saved["workspace_pvcs"]["home"] == home
    await spawner.stop(now=True)
