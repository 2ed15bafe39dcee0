"""The per-user project, in Kubernetes and OpenShift modes, with the hub running as its
ServiceAccount under exactly the RBAC of helm-values/workspace-project-rbac.yaml.

Each test runs on the emulator and on the real control plane (``make test-cluster``: the
Kubernetes cases in its plain pass, the OpenShift ones in its OpenShift pass, with the
project API and SCC admission of workspace_spawner_testing.openshift). Tests read and set
up the cluster through ``cluster``: the emulator's object API, or the same calls over
REST as the real cluster's admin. Only what needs the emulator's own controls (its
request log, fault injection) is marked ``emulator_only``, with its real-tier equivalent
named.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import project_support
import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner.clients import load_config
from project_support import (
    HUB_USER,
    PROJECT,
    ClusterAccounts,
    hub_requests,
    install_hub_rbac,
    kubeconfig_with_token,
    stop,
)

from workspace_spawner.constants import KUBECONFIG_ANNOTATION
from workspace_spawner.kube import KubeError
from workspace_spawner.project.mixin import ProjectMixin

pytestmark = pytest.mark.parametrize("kube", ["kubernetes", "openshift"], indirect=True)

QUOTA = {"pods": "2", "requests.cpu": "2"}
LIMITS = [{"type": "Container", "default": {"cpu": "200m"}, "defaultRequest": {"cpu": "100m"}}]


# the project tests' fixtures: the hub under the shipped RBAC, spawners with the feature on
fresh_caches = project_support.fresh_caches
hub = project_support.hub
project = project_support.project
spawn = project_support.spawn


async def test_first_spawn_makes_project_access_quota_and_limits(spawn, cluster, kube, project):
    spawner = spawn(
        workspace_project_quota=QUOTA,
        workspace_project_limit_range=LIMITS,
        workspace_project_groups=["teachers"],
    )
    await spawner.start()
    name, account = project("alice"), f"notebook-{project('alice')}"
    ns = cluster.get("Namespace", name)
    labels, annotations = ns["metadata"]["labels"], ns["metadata"]["annotations"]
    assert labels["app.kubernetes.io/managed-by"] == "workspace-spawner"
    assert labels["hub.jupyter.org/username"] == "alice"
    assert annotations["hub.jupyter.org/username"] == "alice"
    if cluster.openshift:
        assert annotations["openshift.io/requester"] == HUB_USER
    binding = cluster.get("RoleBinding", "workspace-access", name)
    assert binding["roleRef"]["name"] == "edit"
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "teachers"},
        {"kind": "ServiceAccount", "name": account, "namespace": kube.namespace},
    ]
    assert cluster.get("ResourceQuota", "workspace-quota", name)["spec"]["hard"] == QUOTA
    assert cluster.get("LimitRange", "workspace-limits", name)["spec"]["limits"][0]["default"] == {
        "cpu": "200m"
    }
    assert cluster.get("ServiceAccount", account, kube.namespace)
    pod = cluster.get("Pod", spawner.pod_name, kube.namespace)
    assert pod["spec"]["serviceAccountName"] == account
    assert pod["spec"]["automountServiceAccountToken"] is True
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["PROJECT_NAMESPACE"] == env["OPENSHIFT_PROJECT"] == name
    # only JupyterHub's own API token is in the environment (it always is)
    assert {k for k in env if "TOKEN" in k} == {"JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"}
    kubeconfig = json.loads(pod["metadata"]["annotations"][KUBECONFIG_ANNOTATION])
    assert kubeconfig["contexts"][0]["context"]["namespace"] == name
    assert "token" not in kubeconfig["users"][0]["user"]
    state = spawner.get_state()
    assert state["workspace_project_name"] == name
    assert state["workspace_project_service_account"] == account
    messages = [e["message"] for e in spawner._progress_log.events]
    assert f"Creating project {name}" in messages
    assert f"Applying quota to {name}" in messages
    assert f"Granting alice edit in {name}" in messages
    await stop(spawner)


PROJECT_KINDS = ("ResourceQuota", "LimitRange", "RoleBinding", "NetworkPolicy")


def versions(cluster, kube, name):
    """The resourceVersion of the project and of each object in it or made for it."""
    account = f"notebook-{name}"
    found = {
        ("Namespace", name): cluster.get("Namespace", name)["metadata"]["resourceVersion"],
        ("ServiceAccount", account): cluster.get("ServiceAccount", account, kube.namespace)[
            "metadata"
        ]["resourceVersion"],
    }
    for kind in PROJECT_KINDS:
        for obj in cluster.list(kind, name):
            found[(kind, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return found


async def test_warm_restart_reads_once_and_writes_nothing(spawn, cluster, kube, api_log, project):
    first = spawn(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
    await first.start()
    await stop(first)
    state = first.get_state()
    if kube.real:  # the quota controller's first count is a write, but not the hub's
        await quota_counted(cluster, project("alice"))
    before = versions(cluster, kube, project("alice"))
    api_log.clear_requests()
    second = spawn(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
    second.load_state(state)
    await second.start()
    # one read (the emulator's request log, the real kube-apiserver's audit log) ...
    project_requests = [
        r
        for r in hub_requests(api_log)
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
        ("get", "namespaces", project("alice"))
    ]
    # ... and nothing written: every object as the first start left it
    assert versions(cluster, kube, project("alice")) == before
    await stop(second)


@pytest.fixture
def may_bind_view(cluster):
    """What helm-values/workspace-project-rbac.yaml asks of an admin who changes
    workspace_project_role: let the hub bind that role too. RBAC's escalation check
    (which the emulator does not make) refuses it otherwise on Kubernetes; on OpenShift
    the hub, admin of the project, holds view's rights anyway."""
    name = f"wstest-bind-view-{uuid.uuid4().hex[:6]}"
    rbac = "rbac.authorization.k8s.io"
    cluster.create(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": [rbac],
                    "resources": ["clusterroles"],
                    "verbs": ["bind"],
                    "resourceNames": ["view"],
                }
            ],
        }
    )
    cluster.create(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": "jupyterhub"}],
        }
    )
    yield
    cluster.delete("ClusterRoleBinding", name)
    cluster.delete("ClusterRole", name)


async def test_config_changes_are_reconciled(spawn, cluster, project, may_bind_view):
    name = project("alice")
    first = spawn(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
    await first.start()
    await stop(first)
    state = first.get_state()

    changed = spawn(
        workspace_project_quota={"pods": "5"},
        workspace_project_limit_range=[],
        workspace_project_role="view",
    )
    changed.load_state(state)
    await changed.start()
    await stop(changed)
    assert cluster.get("ResourceQuota", "workspace-quota", name)["spec"]["hard"] == {"pods": "5"}
    assert cluster.get("LimitRange", "workspace-limits", name) is None
    assert cluster.get("RoleBinding", "workspace-access", name)["roleRef"]["name"] == "view"

    emptied = spawn(workspace_project_quota={})
    emptied.load_state(changed.get_state())
    await emptied.start()
    await stop(emptied)
    assert cluster.get("ResourceQuota", "workspace-quota", name) is None


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
async def test_foreign_namespace_is_refused(
    spawn, cluster, kube, project, labels, annotations, owner
):
    # not "kube": OpenShift refuses to make projects named kube-* (and openshift-*)
    name = project("kate")
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
        }
    )
    spawner = spawn("kate")
    with pytest.raises(KubeError) as e:
        await spawner._start()
    assert str(e.value).startswith(
        f"Project {name} already exists and is {owner}, so it is not used for kate. "
        "An admin must delete or rename it"
    )
    assert cluster.get("RoleBinding", "workspace-access", name) is None
    assert cluster.get("Pod", spawner.pod_name, kube.namespace) is None


async def test_existing_mode(spawn, cluster, project):
    name = project("alice")
    spawner = spawn(workspace_project_mode="existing")
    with pytest.raises(KubeError, match=f"Project {name} does not exist.*an admin must create"):
        await spawner._start()
    assert cluster.get("Namespace", name) is None
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    spawner = spawn(workspace_project_mode="existing")
    await spawner.start()
    assert cluster.get("RoleBinding", "workspace-access", name)
    labels = cluster.get("Namespace", name)["metadata"].get("labels") or {}
    assert "app.kubernetes.io/managed-by" not in labels
    await stop(spawner)


async def test_terminating_project_waits_then_starts(spawn, cluster, kube, project, termination):
    name = project("alice")
    first = spawn()
    await first.start()
    await stop(first)
    termination.hold(name)
    cluster.delete("Namespace", name)
    # the real namespace controller retries a namespace whose content remains after 15 s
    spawner = spawn(start_timeout=120 if kube.real else 30)
    task = asyncio.ensure_future(spawner.start())
    for _ in range(200):
        if any(
            "being deleted, try again shortly" in e["message"] for e in spawner._progress_log.events
        ):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("no 'being deleted' message")
    assert not task.done()
    termination.release(name)
    await task
    assert cluster.get("Namespace", name)["metadata"]["labels"]["hub.jupyter.org/username"] == (
        "alice"
    )
    await stop(spawner)


async def test_terminating_project_times_out(spawn, cluster, project, termination):
    name = project("alice")
    first = spawn()
    await first.ensure_workspace_project()
    termination.hold(name)
    cluster.delete("Namespace", name)
    spawner = spawn(start_timeout=2)
    try:
        with pytest.raises(KubeError, match="being deleted, try again shortly"):
            await spawner.ensure_workspace_project()
    finally:
        termination.release(name)


async def test_transient_faults_are_retried(spawn, cluster, kube, faults, project):
    if not cluster.openshift:
        first = faults.inject_fault(verb="create", resource="namespaces", status=503, count=2)
    elif kube.emulator is not None:
        first = faults.inject_fault(verb="create", resource="projectrequests", status=503, count=2)
    else:  # the aggregated server admits ProjectRequests: the labels' patch after it
        first = faults.inject_fault(verb="patch", resource="namespaces", status=503, count=2)
    second = faults.inject_fault(verb="create", resource="rolebindings", status=500, count=1)
    spawner = spawn()
    await spawner.ensure_workspace_project()
    assert cluster.get("RoleBinding", "workspace-access", project("alice"))
    assert (first.count, second.count) == (0, 0), "every fault met, and retried past"


@pytest.mark.parametrize(
    "resource, verb",
    [("rolebindings", "create"), ("namespaces", "patch"), ("serviceaccounts", "create")],
)
async def test_a_failed_start_does_not_block_the_next(
    spawn, cluster, faults, project, resource, verb
):
    if verb == "patch" and not cluster.openshift:
        pytest.skip("namespaces are patched only after an OpenShift ProjectRequest")
    faults.inject_fault(verb=verb, resource=resource, status=500, count=1000)
    spawner = spawn(k8s_api_request_retry_timeout=1)
    with pytest.raises(KubeError):
        await spawner.ensure_workspace_project()
    faults.clear()
    # a new hub process: nothing remembered but what the cluster says
    ProjectMixin.reset_caches()
    spawner = spawn()
    await spawner.ensure_workspace_project()
    ns = cluster.get("Namespace", project("alice"))
    assert ns["metadata"]["labels"]["hub.jupyter.org/username"] == "alice"
    assert cluster.get("RoleBinding", "workspace-access", project("alice"))


@pytest.fixture
def lesser_hub(kube, cluster, tmp_path):
    """A kubeconfig of a hub with the chart's Role and the features' RBAC in its namespace,
    but not the project's."""
    if kube.emulator is not None:
        _, token = install_hub_rbac(cluster, with_project_rbac=False)
        return cluster.write_kubeconfig(tmp_path / "lesser-hub.yaml", token=token)
    account = "hub-without-projects"
    cluster.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
        namespace=kube.namespace,
    )
    cluster.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": kube.namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": kube.namespace}],
        }
    )
    token = ClusterAccounts(cluster.client).service_account_token(kube.namespace, account)
    return kubeconfig_with_token(kube.kubeconfig, tmp_path / "lesser-hub.yaml", token)


async def test_missing_hub_rights_name_verb_and_resource(make_spawner, kube, project, lesser_hub):
    hub = kube.kubeconfig.read_text()
    kube.kubeconfig.write_text(lesser_hub.read_text())
    load_config.cache_clear()
    try:
        spawner = make_spawner(
            **PROJECT,
            workspace_project_api="kubernetes",
            workspace_project_template=project.template,
        )
        # a first start creates without reading first (issue 17): the create is refused
        with pytest.raises(
            KubeError,
            match=f'Could not create namespaces {project("alice")}: .*cannot create resource "namespaces"',
        ):
            await spawner.ensure_workspace_project()
    finally:
        kube.kubeconfig.write_text(hub)
        load_config.cache_clear()


async def _api_as(kube, tmp_path, token):
    path = kubeconfig_with_token(kube.kubeconfig, tmp_path / "as.yaml", token)
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return client.ApiClient(configuration)


# As Pod Security's restricted profile asks (a plain cluster's user projects enforce
# baseline); on OpenShift restricted-v2 gives it a uid of the project's range.
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "worker"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "busybox",
                "resources": {"requests": {"cpu": "100m"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsUser": 1000,
                },
            }
        ],
    },
}


def pod_for(cluster, project):
    """POD with a uid the project's SCC range holds on OpenShift, 1000 elsewhere."""
    if not cluster.openshift:
        return POD
    annotations = cluster.get("Namespace", project)["metadata"]["annotations"]
    uid = int(annotations["openshift.io/sa.scc.uid-range"].split("/")[0])
    container = {**POD["spec"]["containers"][0]}
    container["securityContext"] = {**container["securityContext"], "runAsUser": uid}
    return {**POD, "spec": {**POD["spec"], "containers": [container]}}


async def test_notebook_account_acts_only_in_its_project(
    spawn, cluster, kube, hub, project, tmp_path
):
    alice, bob = spawn("alice"), spawn("bob")
    await alice.ensure_workspace_project()
    await bob.ensure_workspace_project()
    token = hub.service_account_token(kube.namespace, alice.workspace_project_service_account)
    async with await _api_as(kube, tmp_path, token) as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod(project("alice"), pod_for(cluster, project("alice")))
        for namespace in (kube.namespace, project("bob")):
            with pytest.raises(ApiException) as e:
                await core.create_namespaced_pod(namespace, POD)
            assert e.value.status == 403
            assert (
                f'pods is forbidden: User "system:serviceaccount:{kube.namespace}:'
                f'{alice.workspace_project_service_account}" '
                f'cannot create resource "pods" in API group "" in the namespace "{namespace}"'
            ) == json.loads(e.value.body)["message"]


async def quota_counted(cluster, namespace, name="workspace-quota", timeout=60.0):
    """Wait until the quota controller has filled the quota's status: until then a real
    kube-apiserver refuses every pod in the namespace ("status unknown for quota")."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (cluster.get("ResourceQuota", name, namespace).get("status") or {}).get("hard"):
        assert loop.time() < deadline, f"quota {name} in {namespace} never counted"
        await asyncio.sleep(0.2)


async def test_quota_is_enforced_on_workloads(spawn, cluster, kube, hub, project, tmp_path):
    name = project("alice")
    spawner = spawn(workspace_project_quota={"pods": "1", "requests.cpu": "1"})
    await spawner.ensure_workspace_project()
    token = hub.service_account_token(kube.namespace, spawner.workspace_project_service_account)
    if kube.real:
        await quota_counted(cluster, name)
    pod = pod_for(cluster, name)
    async with await _api_as(kube, tmp_path, token) as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod(name, pod)
        with pytest.raises(ApiException) as e:
            await core.create_namespaced_pod(name, {**pod, "metadata": {"name": "worker-2"}})
        assert e.value.status == 403 and "exceeded quota" in e.value.body


@pytest.mark.parametrize("delete", [True, False])
async def test_delete_forever(spawn, cluster, kube, project, delete):
    spawner = spawn(delete_workspace_project=delete)
    await spawner.ensure_workspace_project()
    await spawner.delete_forever()
    ns = cluster.get("Namespace", project("alice"))
    if delete:
        assert ns is None or ns["metadata"].get("deletionTimestamp")
        account = cluster.get("ServiceAccount", f"notebook-{project('alice')}", kube.namespace)
        assert account is None
    else:
        assert ns is not None and not ns["metadata"].get("deletionTimestamp")


async def test_api_detection_is_cached_per_process(spawn, api_log):
    for user in ("alice", "bob", "carol"):
        await spawn(user).ensure_workspace_project()
    assert [r.path for r in hub_requests(api_log) if r.path == "/apis"] == ["/apis"]
    assert spawn("dave").get_state() is not None


async def test_user_token_is_a_secret_volume(spawn, cluster, kube, project):
    spawner = spawn(workspace_project_credentials="user-token")

    async def get_auth_state():
        return {"access_token": "sha256~secret-oauth-token"}

    spawner.user.get_auth_state = get_auth_state
    await spawner.start()
    secret_name = f"notebook-{project('alice')}-token"
    assert cluster.get("Secret", secret_name, kube.namespace) is not None
    pod = cluster.get("Pod", spawner.pod_name, kube.namespace)
    assert "sha256~secret-oauth-token" not in json.dumps(pod)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["workspace-project-user-token"]["secret"]["secretName"] == secret_name
    kubeconfig = json.loads(pod["metadata"]["annotations"][KUBECONFIG_ANNOTATION])
    assert kubeconfig["users"][0]["user"] == {
        "tokenFile": "/var/run/secrets/workspace-spawner/user-token/token"
    }
    await stop(spawner)
