"""What only a real kube-apiserver enforces of issue 11's guarantees (make test-cluster).

- Pod Security: a user project made by the spawner rejects privileged, hostPID and
  hostPath pods, whoever creates them (here the notebook's own ServiceAccount, which
  has ``edit`` there).
- helm-values/workspace-admission-policy.yaml: each write the policy must deny, made
  as the hub's ServiceAccount with exactly the shipped RBAC (which allows them all).
- RBAC escalation: the hub cannot grant a role it may not ``bind``.

Every write that must be refused is made with ``dryRun=All``: admission runs in full
(https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run), and a policy
that let it through would still change nothing. The denial each request saw is printed
(``pytest -s``) for the record.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

pytestmark = pytest.mark.real_cluster

POLICY_FILE = (
    Path(__file__).resolve().parents[2] / "helm-values" / "workspace-admission-policy.yaml"
)
HUB_NAMESPACE = "jupyterhub"  # the hub's namespace of the control-plane harness
HUB = f"system:serviceaccount:{HUB_NAMESPACE}:hub"
VAP = ("admissionregistration.k8s.io", "v1")
UNMANAGED = "which is not labelled app.kubernetes.io/managed-by=workspace-spawner"


def denial(error: ApiException) -> str:
    message = json.loads(error.body)["message"]
    print(f"\n  denied ({error.status}): {message}")
    return message


async def refused(request) -> str:
    with pytest.raises(ApiException) as error:
        await request
    assert error.value.status in (403, 422), error.value.body
    return denial(error.value)


@asynccontextmanager
async def api_as(kube, *, admin: bool = False, token: str | None = None) -> AsyncIterator[Any]:
    """An API client as the hub (default), the admin, or the bearer of ``token``."""
    if token is None:
        async with kube.api_client(admin=admin) as api:
            yield api
        return
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(kube.admin_kubeconfig), client_configuration=configuration
    )
    configuration.api_key = {"BearerToken": f"Bearer {token}"}
    configuration.cert_file = configuration.key_file = None
    async with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
async def admission_policy(kube) -> AsyncIterator[None]:
    """The shipped policy and binding, as an admin applies them; gone after the test."""
    documents = [d for d in yaml.safe_load_all(POLICY_FILE.read_text()) if d]
    plurals = {
        "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
        "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
    }
    async with api_as(kube, admin=True) as admin:
        custom = client.CustomObjectsApi(admin)
        for doc in documents:
            await custom.create_cluster_custom_object(*VAP, plurals[doc["kind"]], doc)
        try:
            # the API server starts enforcing a new policy within a second or so
            bystander = await _bystander(kube)
            for _ in range(100):
                async with api_as(kube) as hub:
                    try:
                        await client.CoreV1Api(hub).create_namespaced_resource_quota(
                            bystander, _quota(), dry_run="All"
                        )
                    except ApiException as e:
                        if "ValidatingAdmissionPolicy" in (e.body or ""):
                            break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("the admission policy was not enforced within 20s")
            policy = await custom.get_cluster_custom_object(
                *VAP, "validatingadmissionpolicies", documents[0]["metadata"]["name"]
            )
            # the API server type-checks the CEL: no warning may be left
            assert (
                not (policy.get("status") or {}).get("typeChecking", {}).get("expressionWarnings")
            ), policy["status"]
            yield
        finally:
            for doc in reversed(documents):
                await custom.delete_cluster_custom_object(
                    *VAP, plurals[doc["kind"]], doc["metadata"]["name"]
                )


async def _bystander(kube) -> str:
    """A namespace workspace-spawner does not manage (kube-system stands for it)."""
    name = f"bystander-{kube.namespace}"
    async with api_as(kube, admin=True) as admin:
        core = client.CoreV1Api(admin)
        try:
            await core.create_namespace({"metadata": {"name": name}})
            await core.create_namespaced_limit_range(
                name,
                {
                    "metadata": {"name": "limits"},
                    "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}}]},
                },
            )
        except ApiException as e:
            if e.status != 409:
                raise
    return name


def _quota() -> dict:
    return {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}}


@pytest.fixture
async def project(kube, make_spawner) -> AsyncIterator[Any]:
    """A user's project made by the spawner as the hub (Kubernetes mode)."""
    user = f"sec-{uuid.uuid4().hex[:6]}"
    spawner = make_spawner(
        user,
        namespace=HUB_NAMESPACE,
        workspace_project_enabled=True,
        workspace_project_api="kubernetes",
    )
    yield spawner
    async with api_as(kube, admin=True) as admin:
        core = client.CoreV1Api(admin)
        for request in (
            core.delete_namespace(spawner.workspace_project_name),
            core.delete_namespaced_service_account(
                spawner.workspace_project_service_account, HUB_NAMESPACE
            ),
        ):
            try:
                await request
            except ApiException as e:
                if e.status != 404:
                    raise


async def _token_of(kube, account: str) -> str:
    async with api_as(kube, admin=True) as admin:
        answer = await client.CoreV1Api(admin).create_namespaced_service_account_token(
            account, HUB_NAMESPACE, {"spec": {"expirationSeconds": 600}}
        )
    return answer.status.token


def _pod(**spec: Any) -> dict:
    container = {"name": "main", "image": "registry.k8s.io/pause:3.10"}
    container.update(spec.pop("container", {}))
    return {"metadata": {"name": "p"}, "spec": {"containers": [container], **spec}}


@pytest.mark.parametrize(
    "spec",
    [
        {"container": {"securityContext": {"privileged": True}}},
        {"hostPID": True},
        {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
    ],
    ids=["privileged", "hostPID", "hostPath"],
)
async def test_pod_security_rejects_host_access_in_a_user_project(kube, project, spec):
    await project.ensure_workspace_project()
    name = project.workspace_project_name
    token = await _token_of(kube, project.workspace_project_service_account)
    async with api_as(kube, token=token) as notebook:
        core = client.CoreV1Api(notebook)
        message = await refused(core.create_namespaced_pod(name, _pod(**spec), dry_run="All"))
        assert 'violates PodSecurity "baseline:latest"' in message
        # a pod within baseline is admitted (restricted only warns)
        await core.create_namespaced_pod(name, _pod(), dry_run="All")


async def test_the_spawner_works_under_the_admission_policy(kube, project, admission_policy):
    project.workspace_project_quota = {"pods": "5"}
    project.workspace_project_limit_range = [{"type": "Container", "default": {"cpu": "1"}}]
    await project.ensure_workspace_project()
    # a changed configuration: everything is written again, under the policy
    project.workspace_project_quota = {"pods": "6"}
    await project.ensure_workspace_project()
    async with api_as(kube, admin=True) as admin:
        namespace = await client.CoreV1Api(admin).read_namespace(project.workspace_project_name)
        assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "baseline"
        quota = await client.CoreV1Api(admin).read_namespaced_resource_quota(
            "workspace-quota", project.workspace_project_name
        )
        assert quota.spec.hard == {"pods": "6"}


def _binding(role: str = "edit") -> dict:
    return {
        "metadata": {"name": "take-over"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": HUB_NAMESPACE}],
    }


def _writes(core, rbac, net, ns: str):
    """Each namespaced write the policy denies outside the managed namespaces."""
    return {
        "bind edit to the hub": lambda: rbac.create_namespaced_role_binding(
            ns, _binding(), dry_run="All"
        ),
        "create a quota": lambda: core.create_namespaced_resource_quota(
            ns, _quota(), dry_run="All"
        ),
        "delete a limit range": lambda: core.delete_namespaced_limit_range(
            "limits", ns, dry_run="All"
        ),
        "create a network policy": lambda: net.create_namespaced_network_policy(
            ns, {"metadata": {"name": "open"}, "spec": {"podSelector": {}}}, dry_run="All"
        ),
    }


@pytest.mark.parametrize(
    "write",
    ["bind edit to the hub", "create a quota", "delete a limit range", "create a network policy"],
)
async def test_the_hub_cannot_write_outside_its_namespaces(kube, admission_policy, write):
    bystander = await _bystander(kube)
    async with api_as(kube) as hub:
        writes = _writes(
            client.CoreV1Api(hub),
            client.RbacAuthorizationV1Api(hub),
            client.NetworkingV1Api(hub),
            bystander,
        )
        message = await refused(writes[write]())
    assert "ValidatingAdmissionPolicy 'workspace-spawner-hub'" in message
    assert f"in namespace {bystander}, {UNMANAGED}" in message


async def test_the_hub_cannot_make_service_accounts_beside_other_pods(kube, admission_policy):
    # the harness binds the hub's namespaced Role here, as for a second pod namespace
    async with api_as(kube) as hub:
        message = await refused(
            client.CoreV1Api(hub).create_namespaced_service_account(
                kube.namespace, {"metadata": {"name": "notebook-x"}}, dry_run="All"
            )
        )
    assert f"the hub may not write serviceaccounts in namespace {kube.namespace}" in message


@pytest.mark.parametrize("operation", ["patch", "delete"])
async def test_the_hub_cannot_touch_namespaces_it_does_not_manage(
    kube, admission_policy, operation
):
    bystander = await _bystander(kube)
    async with api_as(kube) as hub:
        core = client.CoreV1Api(hub)
        if operation == "patch":
            request = core.patch_namespace(
                bystander,
                {"metadata": {"labels": {"app.kubernetes.io/managed-by": "workspace-spawner"}}},
                dry_run="All",
            )
        else:
            request = core.delete_namespace(bystander, dry_run="All")
        message = await refused(request)
    verb = "UPDATE" if operation == "patch" else "DELETE"
    assert f"the hub may not {verb} namespace {bystander}, {UNMANAGED}" in message


@pytest.mark.parametrize(
    "labels, expected",
    [
        ({"pod-security.kubernetes.io/enforce": "privileged"}, "relax the security"),
        ({"pod-security.kubernetes.io/warn": "privileged"}, "relax the security"),
        ({"openshift.io/run-level": "0"}, "relax the security"),
        ({"security.openshift.io/scc.podSecurityLabelSync": "false"}, "relax the security"),
        ({"pod-security.kubernetes.io/enforce": None}, "may not remove the Pod Security level"),
        ({"app.kubernetes.io/managed-by": None}, "must keep the label"),
    ],
    ids=[
        "enforce-privileged",
        "warn-privileged",
        "run-level",
        "label-sync-off",
        "no-enforce",
        "unmanaged",
    ],
)
async def test_the_hub_cannot_relax_its_own_projects(
    kube, project, admission_policy, labels, expected
):
    await project.ensure_workspace_project()
    async with api_as(kube) as hub:
        message = await refused(
            client.CoreV1Api(hub).patch_namespace(
                project.workspace_project_name, {"metadata": {"labels": labels}}, dry_run="All"
            )
        )
    assert expected in message and project.workspace_project_name in message


@pytest.mark.parametrize("role", ["cluster-admin", "admin"])
async def test_rbac_stops_the_hub_granting_a_role_it_may_not_bind(kube, project, role):
    await project.ensure_workspace_project()
    async with api_as(kube) as hub:
        message = await refused(
            client.RbacAuthorizationV1Api(hub).create_namespaced_role_binding(
                project.workspace_project_name, _binding(role), dry_run="All"
            )
        )
    assert f'user "{HUB}"' in message
    assert "is attempting to grant RBAC permissions not currently held" in message


async def test_the_hub_cannot_bind_cluster_wide(kube):
    async with api_as(kube) as hub:
        message = await refused(
            client.RbacAuthorizationV1Api(hub).create_cluster_role_binding(
                {**_binding(), "metadata": {"name": "take-over"}}, dry_run="All"
            )
        )
    assert 'cannot create resource "clusterrolebindings"' in message
