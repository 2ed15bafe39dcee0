"""The per-user project, in Kubernetes and OpenShift modes, with the hub running as its
ServiceAccount under exactly the RBAC of helm-values/workspace-project-rbac.yaml."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner.clients import load_config
from project_support import HUB_USER, install_hub_rbac

from workspace_spawner.constants import KUBECONFIG_ANNOTATION
from workspace_spawner.kube import KubeError
from workspace_spawner.project.mixin import ProjectMixin

pytestmark = [
    pytest.mark.emulator_only,
    pytest.mark.parametrize("kube", ["kubernetes", "openshift"], indirect=True),
]

PROJECT = {"workspace_project_enabled": True}
QUOTA = {"pods": "2", "requests.cpu": "2"}
LIMITS = [{"type": "Container", "default": {"cpu": "200m"}, "defaultRequest": {"cpu": "100m"}}]


@pytest.fixture(autouse=True)
def _fresh_caches():
    ProjectMixin.reset_caches()
    yield
    ProjectMixin.reset_caches()


@pytest.fixture
def hub(kube, emulator):
    """The hub's kubeconfig holds its ServiceAccount's token while the test runs."""
    rbac, token = install_hub_rbac(emulator)
    admin = kube.kubeconfig.read_text()
    emulator.write_kubeconfig(kube.kubeconfig, token=token)
    load_config.cache_clear()
    yield rbac
    kube.kubeconfig.write_text(admin)
    load_config.cache_clear()


@pytest.fixture
def spawn(make_spawner, hub):
    """make_spawner with the project feature on; stops every started spawner afterwards."""
    started = []

    def make(username="alice", **traits):
        spawner = make_spawner(username, **{**PROJECT, **traits})
        started.append(spawner)
        return spawner

    yield make
    # stop() only needs the hub's pod rights; the loop is still running here


async def _stop(spawner):
    await spawner.stop(now=True)


def hub_requests(emulator):
    return [r for r in emulator.requests if r.user == HUB_USER]


async def test_first_spawn_makes_project_access_quota_and_limits(spawn, emulator, kube):
    spawner = spawn(
        workspace_project_quota=QUOTA,
        workspace_project_limit_range=LIMITS,
        workspace_project_groups=["teachers"],
    )
    await spawner.start()
    ns = emulator.get("Namespace", "alice-workspace")
    labels, annotations = ns["metadata"]["labels"], ns["metadata"]["annotations"]
    assert labels["app.kubernetes.io/managed-by"] == "workspace-spawner"
    assert labels["hub.jupyter.org/username"] == "alice"
    assert annotations["hub.jupyter.org/username"] == "alice"
    if emulator.openshift:
        assert annotations["openshift.io/requester"] == HUB_USER
    binding = emulator.get("RoleBinding", "workspace-access", "alice-workspace")
    assert binding["roleRef"]["name"] == "edit"
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "teachers"},
        {"kind": "ServiceAccount", "name": "notebook-alice-workspace", "namespace": "jupyterhub"},
    ]
    assert (
        emulator.get("ResourceQuota", "workspace-quota", "alice-workspace")["spec"]["hard"] == QUOTA
    )
    assert emulator.get("LimitRange", "workspace-limits", "alice-workspace")["spec"]["limits"][0][
        "default"
    ] == {"cpu": "200m"}
    assert emulator.get("ServiceAccount", "notebook-alice-workspace", "jupyterhub")
    pod = emulator.get("Pod", spawner.pod_name, "jupyterhub")
    assert pod["spec"]["serviceAccountName"] == "notebook-alice-workspace"
    assert pod["spec"]["automountServiceAccountToken"] is True
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["PROJECT_NAMESPACE"] == env["OPENSHIFT_PROJECT"] == "alice-workspace"
    # only JupyterHub's own API token is in the environment (it always is)
    assert {k for k in env if "TOKEN" in k} == {"JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"}
    kubeconfig = json.loads(pod["metadata"]["annotations"][KUBECONFIG_ANNOTATION])
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "alice-workspace"
    assert "token" not in kubeconfig["users"][0]["user"]
    state = spawner.get_state()
    assert state["workspace_project_name"] == "alice-workspace"
    assert state["workspace_project_service_account"] == "notebook-alice-workspace"
    messages = [e["message"] for e in spawner._progress_log.events]
    assert "Creating project alice-workspace" in messages
    assert "Applying quota to alice-workspace" in messages
    assert "Granting alice edit in alice-workspace" in messages
    await _stop(spawner)


async def test_warm_restart_reads_once_and_writes_nothing(spawn, make_spawner, emulator):
    first = spawn(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
    await first.start()
    await _stop(first)
    state = first.get_state()
    emulator.clear_requests()
    second = spawn(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
    second.load_state(state)
    await second.start()
    project_requests = [
        r
        for r in hub_requests(emulator)
        if r.resource
        in (
            "namespaces",
            "projectrequests",
            "resourcequotas",
            "limitranges",
            "rolebindings",
            "serviceaccounts",
        )
        or r.path == "/apis"
    ]
    assert [(r.verb, r.resource, r.name) for r in project_requests] == [
        ("get", "namespaces", "alice-workspace")
    ]
    await _stop(second)


async def test_config_changes_are_reconciled(spawn, emulator):
    first = spawn(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
    await first.start()
    await _stop(first)
    state = first.get_state()

    changed = spawn(
        workspace_project_quota={"pods": "5"},
        workspace_project_limit_range=[],
        workspace_project_role="view",
    )
    changed.load_state(state)
    await changed.start()
    await _stop(changed)
    assert emulator.get("ResourceQuota", "workspace-quota", "alice-workspace")["spec"]["hard"] == {
        "pods": "5"
    }
    assert emulator.get("LimitRange", "workspace-limits", "alice-workspace") is None
    assert (
        emulator.get("RoleBinding", "workspace-access", "alice-workspace")["roleRef"]["name"]
        == "view"
    )

    emptied = spawn(workspace_project_quota={})
    emptied.load_state(changed.get_state())
    await emptied.start()
    await _stop(emptied)
    assert emulator.get("ResourceQuota", "workspace-quota", "alice-workspace") is None


@pytest.mark.parametrize(
    "labels, annotations, owner",
    [
        ({}, {}, "not made by workspace-spawner (no app.kubernetes.io/managed-by label)"),
        (
            {
                "app.kubernetes.io/managed-by": "workspace-spawner",
                "hub.jupyter.org/username": "bob",
            },
            {},
            "made by workspace-spawner for bob",
        ),
        ({}, {"openshift.io/requester": "mallory"}, "an OpenShift project requested by mallory"),
    ],
    ids=["unlabelled", "someone-elses", "squatted"],
)
async def test_foreign_namespace_is_refused(spawn, emulator, labels, annotations, owner):
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "kube-workspace", "labels": labels, "annotations": annotations},
        }
    )
    spawner = spawn("kube")
    with pytest.raises(KubeError) as e:
        await spawner._start()
    assert str(e.value).startswith(
        f"Project kube-workspace already exists and is {owner}, so it is not used for kube. "
        "An admin must delete or rename it"
    )
    assert emulator.get("RoleBinding", "workspace-access", "kube-workspace") is None
    assert emulator.get("Pod", spawner.pod_name, "jupyterhub") is None


async def test_existing_mode(spawn, emulator):
    spawner = spawn(workspace_project_mode="existing")
    with pytest.raises(
        KubeError, match="Project alice-workspace does not exist.*an admin must create"
    ):
        await spawner._start()
    assert emulator.get("Namespace", "alice-workspace") is None
    emulator.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alice-workspace"}}
    )
    spawner = spawn(workspace_project_mode="existing")
    await spawner.start()
    assert emulator.get("RoleBinding", "workspace-access", "alice-workspace")
    assert (
        "labels" not in emulator.get("Namespace", "alice-workspace")["metadata"]
        or "app.kubernetes.io/managed-by"
        not in emulator.get("Namespace", "alice-workspace")["metadata"]["labels"]
    )
    await _stop(spawner)


async def test_terminating_project_waits_then_starts(spawn, emulator):
    first = spawn()
    await first.start()
    await _stop(first)
    emulator.hold_namespace_termination("alice-workspace")
    emulator.delete("Namespace", "alice-workspace")
    spawner = spawn()
    task = asyncio.ensure_future(spawner.start())
    for _ in range(100):
        if any(
            "being deleted, try again shortly" in e["message"] for e in spawner._progress_log.events
        ):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("no 'being deleted' message")
    assert not task.done()
    emulator.release_namespace_termination("alice-workspace")
    await task
    assert (
        emulator.get("Namespace", "alice-workspace")["metadata"]["labels"][
            "hub.jupyter.org/username"
        ]
        == "alice"
    )
    await _stop(spawner)


async def test_terminating_project_times_out(spawn, emulator):
    first = spawn()
    await first._start() if False else await first.ensure_workspace_project()
    emulator.hold_namespace_termination("alice-workspace")
    emulator.delete("Namespace", "alice-workspace")
    spawner = spawn(start_timeout=2)
    with pytest.raises(KubeError, match="being deleted, try again shortly"):
        await spawner.ensure_workspace_project()
    emulator.release_namespace_termination("alice-workspace")


async def test_transient_faults_are_retried(spawn, emulator):
    resource = "projectrequests" if emulator.openshift else "namespaces"
    emulator.inject_fault(verb="create", resource=resource, status=503, count=2)
    emulator.inject_fault(verb="create", resource="rolebindings", status=500, count=1)
    spawner = spawn()
    await spawner.ensure_workspace_project()
    assert emulator.get("RoleBinding", "workspace-access", "alice-workspace")


@pytest.mark.parametrize(
    "resource, verb",
    [("rolebindings", "create"), ("namespaces", "patch"), ("serviceaccounts", "create")],
)
async def test_a_failed_start_does_not_block_the_next(spawn, emulator, resource, verb):
    if verb == "patch" and not emulator.openshift:
        pytest.skip("namespaces are patched only after an OpenShift ProjectRequest")
    emulator.inject_fault(verb=verb, resource=resource, status=500, count=1000)
    spawner = spawn(k8s_api_request_retry_timeout=1)
    with pytest.raises(KubeError):
        await spawner.ensure_workspace_project()
    emulator.faults.clear()
    # a new hub process: nothing remembered but what the cluster says
    ProjectMixin.reset_caches()
    spawner = spawn()
    await spawner.ensure_workspace_project()
    ns = emulator.get("Namespace", "alice-workspace")
    assert ns["metadata"]["labels"]["hub.jupyter.org/username"] == "alice"
    assert emulator.get("RoleBinding", "workspace-access", "alice-workspace")


async def test_missing_hub_rights_name_verb_and_resource(make_spawner, kube, emulator):
    _, token = install_hub_rbac(emulator, with_project_rbac=False)
    admin = kube.kubeconfig.read_text()
    emulator.write_kubeconfig(kube.kubeconfig, token=token)
    load_config.cache_clear()
    try:
        spawner = make_spawner(**PROJECT, workspace_project_api="kubernetes")
        # a first start creates without reading first (issue 17): the create is refused
        with pytest.raises(
            KubeError,
            match='Could not create namespaces alice-workspace: .*cannot create resource "namespaces"',
        ):
            await spawner.ensure_workspace_project()
    finally:
        kube.kubeconfig.write_text(admin)
        load_config.cache_clear()


async def _api_as(emulator, tmp_path, token):
    path = emulator.write_kubeconfig(tmp_path / "as.yaml", token=token)
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return client.ApiClient(configuration)


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "worker"},
    "spec": {
        "containers": [
            {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}
        ]
    },
}


async def test_notebook_account_acts_only_in_its_project(spawn, emulator, hub, tmp_path):
    alice, bob = spawn("alice"), spawn("bob")
    await alice.ensure_workspace_project()
    await bob.ensure_workspace_project()
    token = hub.service_account_token("jupyterhub", alice.workspace_project_service_account)
    async with await _api_as(emulator, tmp_path, token) as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod("alice-workspace", POD)
        for namespace in ("jupyterhub", "bob-workspace"):
            with pytest.raises(ApiException) as e:
                await core.create_namespaced_pod(namespace, POD)
            assert e.value.status == 403
            assert (
                f'pods is forbidden: User "system:serviceaccount:jupyterhub:notebook-alice-workspace" '
                f'cannot create resource "pods" in API group "" in the namespace "{namespace}"'
            ) == json.loads(e.value.body)["message"]


async def test_quota_is_enforced_on_workloads(spawn, emulator, hub, tmp_path):
    spawner = spawn(workspace_project_quota={"pods": "1", "requests.cpu": "1"})
    await spawner.ensure_workspace_project()
    token = hub.service_account_token("jupyterhub", spawner.workspace_project_service_account)
    async with await _api_as(emulator, tmp_path, token) as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod("alice-workspace", POD)
        with pytest.raises(ApiException) as e:
            await core.create_namespaced_pod(
                "alice-workspace", {**POD, "metadata": {"name": "worker-2"}}
            )
        assert e.value.status == 403 and "exceeded quota" in e.value.body


@pytest.mark.parametrize("delete", [True, False])
async def test_delete_forever(spawn, emulator, delete):
    spawner = spawn(delete_workspace_project=delete)
    await spawner.ensure_workspace_project()
    await spawner.delete_forever()
    ns = emulator.get("Namespace", "alice-workspace")
    if delete:
        assert ns is None or ns["metadata"].get("deletionTimestamp")
        assert emulator.get("ServiceAccount", "notebook-alice-workspace", "jupyterhub") is None
    else:
        assert ns is not None and not ns["metadata"].get("deletionTimestamp")


async def test_api_detection_is_cached_per_process(spawn, emulator):
    for user in ("alice", "bob", "carol"):
        await spawn(user).ensure_workspace_project()
    assert [r.path for r in hub_requests(emulator) if r.path == "/apis"] == ["/apis"]
    assert spawn("dave").get_state() is not None


async def test_user_token_is_a_secret_volume(spawn, emulator):
    spawner = spawn(workspace_project_credentials="user-token")

    async def get_auth_state():
        return {"access_token": "sha256~secret-oauth-token"}

    spawner.user.get_auth_state = get_auth_state
    await spawner.start()
    secret = emulator.get("Secret", "notebook-alice-workspace-token", "jupyterhub")
    assert secret is not None
    pod = emulator.get("Pod", spawner.pod_name, "jupyterhub")
    assert "sha256~secret-oauth-token" not in json.dumps(pod)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert (
        volumes["workspace-project-user-token"]["secret"]["secretName"]
        == "notebook-alice-workspace-token"
    )
    kubeconfig = json.loads(pod["metadata"]["annotations"][KUBECONFIG_ANNOTATION])
    assert kubeconfig["users"][0]["user"] == {
        "tokenFile": "/var/run/secrets/workspace-spawner/user-token/token"
    }
    await _stop(spawner)
