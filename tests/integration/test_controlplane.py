"""The real control plane (make test-cluster) enforces what the emulator cannot, and the
harness that starts it, and the node agent, do their job."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

pytestmark = pytest.mark.real_cluster

ROOT = Path(__file__).resolve().parents[2]
PAUSE = {"name": "main", "image": "registry.k8s.io/pause:3.10"}
RESTRICTED_OK = {
    **PAUSE,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def pod(name: str, container: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
    }


async def wait_for(predicate, timeout: float = 60.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await predicate()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)
    return value


async def test_version_is_the_pinned_kubernetes(kube):
    async with kube.api_client() as api:
        version = await client.VersionApi(api).get_code()
    assert version.git_version == (ROOT / "testbed" / "K8S_VERSION").read_text().strip()


@pytest.mark.parametrize(
    ("container", "refused"),
    [
        ({**PAUSE, "securityContext": {"privileged": True}}, True),
        (PAUSE, True),  # restricted wants runAsNonRoot, drop ALL, seccomp, no escalation
        (RESTRICTED_OK, False),
    ],
    ids=["privileged", "defaults", "restricted"],
)
async def test_pod_security_admission_enforces_the_namespace_level(kube, container, refused):
    async with kube.api_client(admin=True) as admin:
        await client.CoreV1Api(admin).patch_namespace(
            kube.namespace,
            {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        )
    async with kube.api_client() as api:
        core = client.CoreV1Api(api)
        if refused:
            with pytest.raises(ApiException) as error:
                await core.create_namespaced_pod(kube.namespace, pod("p", container))
            assert error.value.status == 403
            message = json.loads(error.value.body)["message"]
            assert 'violates PodSecurity "restricted:latest"' in message
        else:
            await core.create_namespaced_pod(kube.namespace, pod("p", container))


async def test_validating_admission_policy_is_enforced(kube):
    name = f"no-forbidden-{kube.namespace}"
    async with kube.api_client(admin=True) as admin:
        custom = client.CustomObjectsApi(admin)
        group, version = "admissionregistration.k8s.io", "v1"
        await custom.create_cluster_custom_object(
            group,
            version,
            "validatingadmissionpolicies",
            {
                "apiVersion": f"{group}/{version}",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE"],
                                "resources": ["configmaps"],
                            }
                        ]
                    },
                    "validations": [
                        {
                            "expression": "!has(object.data) || !('forbidden' in object.data)",
                            "message": "no key named forbidden",
                        }
                    ],
                },
            },
        )
        await custom.create_cluster_custom_object(
            group,
            version,
            "validatingadmissionpolicybindings",
            {
                "apiVersion": f"{group}/{version}",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": kube.namespace}
                        }
                    },
                },
            },
        )
        try:
            core = client.CoreV1Api(admin)

            async def refused() -> bool:
                try:
                    await core.create_namespaced_config_map(
                        kube.namespace,
                        {"metadata": {"generateName": "c-"}, "data": {"forbidden": "1"}},
                    )
                except ApiException as e:
                    return e.status == 422 and "no key named forbidden" in e.body
                return False

            # the policy takes effect once the API server's informer has it
            assert await wait_for(refused, timeout=30)
            await core.create_namespaced_config_map(
                kube.namespace, {"metadata": {"name": "allowed"}, "data": {"fine": "1"}}
            )
        finally:
            await custom.delete_cluster_custom_object(
                group, version, "validatingadmissionpolicybindings", name
            )
            await custom.delete_cluster_custom_object(
                group, version, "validatingadmissionpolicies", name
            )


async def test_namespace_lifecycle_refuses_objects_in_a_terminating_namespace(kube):
    async with kube.api_client(admin=True) as admin:
        core = client.CoreV1Api(admin)
        await core.create_namespaced_config_map(
            kube.namespace,
            {"metadata": {"name": "held", "finalizers": ["workspace-spawner.jupyter.org/test"]}},
        )
        await core.delete_namespace(kube.namespace)
        try:
            with pytest.raises(ApiException) as error:
                await core.create_namespaced_config_map(
                    kube.namespace, {"metadata": {"name": "late"}}
                )
            assert error.value.status == 403
            assert "because it is being terminated" in error.value.body
        finally:
            await core.patch_namespaced_config_map(
                "held", kube.namespace, {"metadata": {"finalizers": None}}
            )


@pytest.mark.parametrize(("storage_class", "resizable"), [("standard", True), ("fixed", False)])
async def test_claims_are_provisioned_and_resized_by_their_class(kube, storage_class, resizable):
    async with kube.api_client() as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_persistent_volume_claim(
            kube.namespace,
            {
                "metadata": {"name": "claim"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": storage_class,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )

        async def bound():
            claim = await core.read_namespaced_persistent_volume_claim("claim", kube.namespace)
            return claim if claim.status.phase == "Bound" else None

        claim = await wait_for(bound)
    async with kube.api_client(admin=True) as admin:
        volume = await client.CoreV1Api(admin).read_persistent_volume(claim.spec.volume_name)
    assert volume.spec.host_path.path.startswith("/tmp/hostpath_pv/")
    grow = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    async with kube.api_client() as api:
        # the hub's shipped RBAC (helm-values/rbac-volumes.yaml) allows the patch
        patch = client.CoreV1Api(api).patch_namespaced_persistent_volume_claim(
            "claim", kube.namespace, grow
        )
        if resizable:
            await patch
        else:
            with pytest.raises(ApiException) as error:
                await patch
            assert error.value.status == 403
            assert "storageclass that provisions the pvc must support resize" in error.value.body


async def test_hub_service_account_holds_only_the_shipped_rights(kube):
    async with kube.api_client() as api:
        core = client.CoreV1Api(api)
        await core.list_namespaced_pod(kube.namespace)  # z2jh's hub Role
        for call in (
            core.list_node,
            core.list_secret_for_all_namespaces,
            lambda: core.list_namespaced_config_map("kube-system"),
        ):
            with pytest.raises(ApiException) as error:
                await call()
            assert error.value.status == 403


@pytest.mark.parametrize(("role", "refused"), [("cluster-admin", True), ("edit", False)])
async def test_rbac_lets_the_hub_grant_only_the_roles_it_may_bind(kube, role, refused):
    binding = {
        "metadata": {"name": "workspace-access"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    async with kube.api_client() as api:
        create = client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
            kube.namespace, binding
        )
        if not refused:  # "bind" on edit (helm-values/workspace-project-rbac.yaml)
            await create
            return
        with pytest.raises(ApiException) as error:
            await create
    assert error.value.status == 403
    assert "is attempting to grant RBAC permissions not currently held" in error.value.body


async def test_node_agent_runs_scheduled_pods_and_removes_deleted_ones(kube):
    async with kube.api_client() as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod(kube.namespace, pod("p", PAUSE))

        async def running():
            current = await core.read_namespaced_pod("p", kube.namespace)
            return current if current.status.phase == "Running" else None

        current = await wait_for(running)
        assert current.spec.node_name == "testbed-node"
        assert current.status.pod_ip.startswith("127.0.0.")
        assert [c.type for c in current.status.conditions if c.status == "True"] == [
            "PodScheduled",
            "Initialized",
            "ContainersReady",
            "Ready",
        ]
        events = (await core.list_namespaced_event(kube.namespace)).items
        # the scheduler writes events.k8s.io events: reportingComponent, no source
        sources = {(e.reason, e.reporting_component or e.source.component) for e in events}
        assert {("Scheduled", "default-scheduler"), ("Started", "kubelet")} <= sources
        await core.delete_namespaced_pod("p", kube.namespace)

        async def gone():
            return not (await core.list_namespaced_pod(kube.namespace)).items

        await wait_for(gone)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for good: only its parent's wait is missing
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_server_outlives_the_harness(tmp_path, how):
    """``up`` is stopped by SIGTERM, or killed: every server it started ends too."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workspace_spawner_testing.controlplane",
            "up",
            "--dir",
            str(tmp_path),
            "--helm-values",
            str(ROOT / "helm-values"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as up:
        try:
            assert up.stdout is not None
            assert up.stdout.readline().startswith("export ")
            children = [
                int(p)
                for p in subprocess.run(
                    ["pgrep", "-P", str(up.pid)], capture_output=True, text=True
                ).stdout.split()
            ]
            # etcd, apiserver, controller manager, scheduler, snapshot controller, node
            assert len(children) == 6
            up.send_signal(how)
            up.wait(30)
            deadline = time.monotonic() + 30
            while any(_alive(p) for p in children) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [p for p in children if _alive(p)] == []
        finally:
            if up.poll() is None:
                up.kill()
