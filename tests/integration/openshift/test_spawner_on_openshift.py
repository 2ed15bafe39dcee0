"""The spawner's project feature on the real control plane with OpenShift's project API.

The hub runs as its ServiceAccount with exactly the RBAC we ship
(helm-values/*rbac*.yaml); ``auto`` detection finds project.openshift.io in discovery;
the user is a static token user standing in for an OpenShift OAuth user, whose token
``user-token`` mode hands to the notebook.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import uuid
from pathlib import Path

import pytest

from workspace_spawner.project.mixin import ProjectMixin

pytestmark = [pytest.mark.real_cluster, pytest.mark.openshift]

PROJECTS = "/apis/project.openshift.io/v1/projects"
QUOTA = {"pods": "4", "requests.cpu": "2"}


@pytest.fixture(scope="module")
def layer() -> dict:
    path = os.environ.get("WORKSPACE_SPAWNER_TEST_OPENSHIFT")
    if not path:
        pytest.skip("needs the OpenShift layer: the OpenShift pass of make test-cluster")
    return json.loads(Path(path).read_text())


@pytest.fixture
def admin(layer):
    from workspace_spawner_testing.controlplane import Client

    return Client.from_kubeconfig(os.environ["WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG"])


@pytest.fixture
def user_token(layer):
    from workspace_spawner_testing.kubeconfig import Credentials

    return lambda name: Credentials.from_kubeconfig(layer["user_kubeconfigs"][name]).token


@pytest.fixture
def project(admin):
    """A fresh project name for alice; its namespace is deleted afterwards."""
    ProjectMixin.reset_caches()
    name = f"alice-ws-{uuid.uuid4().hex[:8]}"
    yield name
    ProjectMixin.reset_caches()
    try:
        admin.request("DELETE", f"/api/v1/namespaces/{name}")
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise


def _template(project: str) -> str:
    return "{username}" + project.removeprefix("alice")


async def test_user_token_mode_gives_the_notebook_the_users_own_project_list(
    make_spawner, kube, admin, user_token, project
):
    from workspace_spawner_testing.controlplane import Client

    spawner = make_spawner(
        "alice",
        workspace_project_enabled=True,
        workspace_project_template=_template(project),
        workspace_project_credentials="user-token",
        workspace_project_quota=QUOTA,
    )

    async def get_auth_state():
        return {"access_token": user_token("alice")}

    spawner.user.get_auth_state = get_auth_state
    await spawner.ensure_workspace_project()

    namespace = admin.request("GET", f"/api/v1/namespaces/{project}")
    annotations, labels = namespace["metadata"]["annotations"], namespace["metadata"]["labels"]
    # the hub asked for it as itself, through the project API (not a bare Namespace)
    assert annotations["openshift.io/requester"] == "system:serviceaccount:jupyterhub:hub"
    assert "openshift.io/sa.scc.uid-range" in annotations
    assert labels["app.kubernetes.io/managed-by"] == "workspace-spawner"
    quota = admin.request("GET", f"/api/v1/namespaces/{project}/resourcequotas/workspace-quota")
    assert quota["spec"]["hard"] == QUOTA
    access = admin.request(
        "GET",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{project}/rolebindings/workspace-access",
    )
    assert {"kind": "User", "name": "alice"} in [
        {k: s[k] for k in ("kind", "name")} for s in access["subjects"]
    ]

    # the notebook's `oc projects`, with the token the spawner mounted for it
    notebook = Client(admin.url, admin.ca_file, _mounted_token(admin, kube.namespace, "alice"))
    seen = {p["metadata"]["name"] for p in notebook.request("GET", PROJECTS)["items"]}
    assert project in seen
    assert kube.namespace not in seen and "kube-system" not in seen


def _mounted_token(admin, namespace: str, username: str) -> str:
    """The user's token as the spawner stored it for the notebook (user-token mode)."""
    secrets = admin.request("GET", f"/api/v1/namespaces/{namespace}/secrets")["items"]
    (secret,) = [
        s
        for s in secrets
        if s["metadata"]["name"].endswith("-token")
        and s["metadata"].get("labels", {}).get("hub.jupyter.org/username") == username
    ]
    return base64.b64decode(secret["data"]["token"]).decode()


async def test_the_notebooks_project_list_is_exactly_the_users_own_and_the_ones_given(
    make_spawner, kube, admin, layer, user_token
):
    """``oc projects`` in carol's notebook, with the token user-token mode mounted: her
    own project and the one bob gave her, nothing else (carol is in no other test)."""
    from workspace_spawner_testing.controlplane import Client
    from workspace_spawner_testing.openshift.install import role_grant

    bob = Client.from_kubeconfig(layer["user_kubeconfigs"]["bob"])
    suffix = uuid.uuid4().hex[:8]
    own, given, private = f"carol-{suffix}", f"bob-given-{suffix}", f"bob-private-{suffix}"
    try:
        for name in (given, private):
            bob.request(
                "POST",
                "/apis/project.openshift.io/v1/projectrequests",
                {
                    "apiVersion": "project.openshift.io/v1",
                    "kind": "ProjectRequest",
                    "metadata": {"name": name},
                },
            )
        # bob, admin of his project, gives carol view there (oc adm policy add-role-to-user)
        bob.apply(role_grant("view", user="carol", project=given))
        spawner = make_spawner(
            "carol",
            workspace_project_enabled=True,
            workspace_project_template="{username}-" + suffix,
            workspace_project_credentials="user-token",
        )

        async def get_auth_state():
            return {"access_token": user_token("carol")}

        spawner.user.get_auth_state = get_auth_state
        await spawner.ensure_workspace_project()
        notebook = Client(admin.url, admin.ca_file, _mounted_token(admin, kube.namespace, "carol"))
        seen = {p["metadata"]["name"] for p in notebook.request("GET", PROJECTS)["items"]}
        assert seen == {own, given}
        with pytest.raises(urllib.error.HTTPError) as refused:
            notebook.request("GET", f"{PROJECTS}/{private}")
        assert refused.value.code == 403
    finally:
        for name in (own, given, private):
            try:
                admin.request("DELETE", f"/api/v1/namespaces/{name}")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise


async def test_a_second_start_finds_the_project_and_changes_nothing(make_spawner, admin, project):
    spawner = make_spawner(
        "alice", workspace_project_enabled=True, workspace_project_template=_template(project)
    )
    await spawner.ensure_workspace_project()
    before = admin.request("GET", f"/api/v1/namespaces/{project}")
    again = make_spawner(
        "alice",
        workspace_project_enabled=True,
        workspace_project_template=_template(project),
        state=spawner.get_state(),
    )
    await again.ensure_workspace_project()
    after = admin.request("GET", f"/api/v1/namespaces/{project}")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_deleting_the_user_deletes_the_project_through_the_project_api(
    make_spawner, admin, project
):
    """The hub holds no right to delete namespaces on OpenShift: it deletes the Project,
    as the admin the project template made it."""
    traits = {
        "workspace_project_enabled": True,
        "delete_workspace_project": True,
        "workspace_project_template": _template(project),
    }
    spawner = make_spawner("alice", **traits)
    await spawner.ensure_workspace_project()
    await make_spawner("alice", state=spawner.get_state(), **traits).delete_forever()
    try:
        namespace = admin.request("GET", f"/api/v1/namespaces/{project}")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    else:
        assert namespace["status"]["phase"] == "Terminating"


def _uid_range(admin, namespace: str) -> range:
    first, size = admin.request("GET", f"/api/v1/namespaces/{namespace}")["metadata"][
        "annotations"
    ]["openshift.io/sa.scc.uid-range"].split("/")
    return range(int(first), int(first) + int(size))


async def test_the_servers_pod_is_admitted_under_restricted_v2(make_spawner, kube, admin):
    """The spawner's pod, its setup-volume init container included, passes SCC admission
    with nothing set by the admin: the uid comes from the namespace's range. Created
    by the hub as the spawner would (admission is all this is about; running it is the
    node agent's part, tested in the plain pass)."""
    from kubernetes_asyncio.client import CoreV1Api

    spawner = make_spawner("alice")
    manifest = await spawner.get_pod_manifest()
    async with kube.api_client() as api:  # the hub's ServiceAccount
        created = await CoreV1Api(api).create_namespaced_pod(
            kube.namespace, api.sanitize_for_serialization(manifest)
        )
        pod = api.sanitize_for_serialization(created)
    assert pod["metadata"]["annotations"]["openshift.io/scc"] == "restricted-v2"
    containers = pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
    assert {c["name"] for c in containers} >= {"notebook", "setup-volume"}
    uids = _uid_range(admin, kube.namespace)
    for container in containers:
        assert container["securityContext"]["runAsUser"] in uids, container["name"]
    assert pod["spec"]["securityContext"]["fsGroup"] in uids


async def test_z2jh_uid_and_fs_gid_are_refused_by_restricted_v2(make_spawner, kube):
    """Zero to JupyterHub's singleuser uid 1000 and fsGid 100, kept on OpenShift: the pod
    is refused, and the message names the SCC and the range to use."""
    from kubernetes_asyncio.client import CoreV1Api
    from kubernetes_asyncio.client.exceptions import ApiException

    manifest = await make_spawner("alice", uid=1000, fs_gid=100).get_pod_manifest()
    async with kube.api_client() as api:  # the hub's ServiceAccount
        with pytest.raises(ApiException) as raised:
            await CoreV1Api(api).create_namespaced_pod(
                kube.namespace, api.sanitize_for_serialization(manifest)
            )
    assert raised.value.status == 403
    message = json.loads(raised.value.body)["message"]
    assert "restricted-v2" in message and "1000" in message and "must be in the ranges" in message
