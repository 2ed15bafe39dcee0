"""Namespaces and OpenShift projects: Terminating first, then gone with their contents.

On the emulator and on the real control plane (the OpenShift cases in the OpenShift pass
of make test-cluster, against the stand-in's project API); names are unique per test
there, since namespaces outlive a test."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

PROJECTS = ("project.openshift.io", "v1", "projects")


def unique(kube, name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}" if kube.real else name


def namespace(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }


# the real namespace controller looks again 15 s after content it could not delete
GONE_TIMEOUT = 60.0


async def test_terminating_namespace_survives_updates_until_emptied(
    kube, emulator, termination, wait_for
):
    gone = unique(kube, "gone")
    emulator.create(namespace(gone))
    emulator.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inside"}}, namespace=gone
    )
    termination.hold(gone)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        await v1.delete_namespace(gone)
        patched = await v1.patch_namespace(gone, {"metadata": {"labels": {"x": "y"}}})
        assert patched.status.phase == "Terminating"
        with pytest.raises(ApiException) as error:
            await v1.create_namespaced_config_map(gone, {"metadata": {"name": "late"}})
        assert error.value.status == 403
        assert "because it is being terminated" in error.value.body
    termination.release(gone)
    await wait_for(lambda: emulator.get("namespaces", gone) is None, GONE_TIMEOUT)
    assert emulator.get("configmaps", "inside", gone) is None


@pytest.mark.openshift
async def test_deleting_a_project_terminates_its_namespace(
    kube, openshift_emulator, termination, wait_for
):
    emulator = openshift_emulator
    alice = unique(kube, "alice")
    async with kube.api_client() as api:
        objects = client.CustomObjectsApi(api)
        await objects.create_cluster_custom_object(
            "project.openshift.io",
            "v1",
            "projectrequests",
            {
                "apiVersion": "project.openshift.io/v1",
                "kind": "ProjectRequest",
                "metadata": {"name": alice},
            },
        )
        emulator.create(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, namespace=alice
        )
        termination.hold(alice)
        answer = await objects.delete_cluster_custom_object(*PROJECTS, alice)
        assert answer["status"] == "Success"
        project = await objects.get_cluster_custom_object(*PROJECTS, alice)
        assert project["status"]["phase"] == "Terminating"
        assert "deletionTimestamp" in project["metadata"]
        termination.release(alice)
        await wait_for(lambda: emulator.get("namespaces", alice) is None, GONE_TIMEOUT)
        assert emulator.get("secrets", "s", alice) is None
        with pytest.raises(ApiException) as error:
            await objects.get_cluster_custom_object(*PROJECTS, alice)
        assert error.value.status == 404
        with pytest.raises(ApiException) as error:
            await objects.delete_cluster_custom_object(*PROJECTS, alice)
        assert error.value.status == 404


@pytest.mark.openshift
async def test_listing_projects_lists_namespaces(kube, openshift_emulator):
    team_a, team_b = unique(kube, "team-a"), unique(kube, "team-b")
    team = team_a.removeprefix("team-a") or "-"  # a label value of this test's own
    openshift_emulator.create(namespace(team_a, {"team": f"a{team}"}))
    openshift_emulator.create(namespace(team_b, {"team": f"b{team}"}))
    try:
        async with kube.api_client() as api:
            objects = client.CustomObjectsApi(api)
            every = await objects.list_cluster_custom_object(*PROJECTS)
            selected = await objects.list_cluster_custom_object(
                *PROJECTS, label_selector=f"team=a{team}"
            )
    finally:
        if kube.real:
            for name in (team_a, team_b):
                openshift_emulator.delete("Namespace", name)
    assert every["kind"] == "ProjectList" and every["metadata"]["resourceVersion"]
    assert {"default", "jupyterhub", team_a, team_b} <= {
        p["metadata"]["name"] for p in every["items"]
    }
    assert [(p["kind"], p["metadata"]["name"]) for p in selected["items"]] == [("Project", team_a)]


async def test_projects_are_not_served_outside_openshift_mode(kube, emulator):
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CustomObjectsApi(api).list_cluster_custom_object(*PROJECTS)
    assert error.value.status == 404


@pytest.mark.emulator_only(
    reason="installs the emulator's RBAC and tokens; on the real tier "
    "openshift/test_standins.py::test_a_users_project_list_shows_their_own_and_the_ones_given"
)
async def test_a_users_project_list_shows_only_the_projects_they_may_get(
    kube, openshift_emulator, tmp_path
):
    """As OpenShift's project list (and our aggregated server on the real control
    plane): a ProjectRequest makes the requester the project's admin, and the list is
    the namespaces the caller may get."""
    from kubernetes_asyncio import config

    from workspace_spawner_testing.emulator.rbac import Rbac

    Rbac.install(openshift_emulator)
    tokens = {user: f"{user}-token" for user in ("alice", "bob")}
    for user, token in tokens.items():
        openshift_emulator.add_token(token, user=user)
    openshift_emulator.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "self-provisioner"},
            "rules": [
                {
                    "apiGroups": ["project.openshift.io"],
                    "resources": ["projectrequests", "projects"],
                    "verbs": ["create", "list"],
                }
            ],
        }
    )
    openshift_emulator.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "self-provisioners"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "self-provisioner",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": "system:authenticated",
                }
            ],
        }
    )

    async def as_user(user: str):
        path = tmp_path / f"{user}.kubeconfig"
        openshift_emulator.write_kubeconfig(path, token=tokens[user])
        configuration = client.Configuration()
        await config.load_kube_config(config_file=str(path), client_configuration=configuration)
        return client.ApiClient(configuration)

    for user in ("alice", "bob"):
        async with await as_user(user) as api:
            await client.CustomObjectsApi(api).create_cluster_custom_object(
                "project.openshift.io",
                "v1",
                "projectrequests",
                {
                    "apiVersion": "project.openshift.io/v1",
                    "kind": "ProjectRequest",
                    "metadata": {"name": f"{user}-project"},
                },
            )
    binding = openshift_emulator.get("RoleBinding", "admin", "alice-project")
    assert binding["subjects"][0]["name"] == "alice"
    async with await as_user("alice") as api:
        seen = await client.CustomObjectsApi(api).list_cluster_custom_object(*PROJECTS)
    assert [p["metadata"]["name"] for p in seen["items"]] == ["alice-project"]


@pytest.mark.openshift
@pytest.mark.parametrize("name", ["default", "openshift-infra", "kube-public", "kube"])
async def test_a_project_request_for_a_platform_name_is_refused(kube, openshift_emulator, name):
    """openshift-apiserver refuses the platform's names, even to an admin (the real tier's
    stand-in did; the emulator's OpenShift mode made them)."""
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CustomObjectsApi(api).create_cluster_custom_object(
                "project.openshift.io",
                "v1",
                "projectrequests",
                {
                    "apiVersion": "project.openshift.io/v1",
                    "kind": "ProjectRequest",
                    "metadata": {"name": name},
                },
            )
    assert error.value.status == 403
    assert f'"{name}": it is reserved for the platform' in json.loads(error.value.body)["message"]


@pytest.mark.emulator_only(
    reason="installs the emulator's RBAC and tokens; on the real tier openshift/test_standins.py"
    "::test_listing_project_requests_tells_whether_the_user_may_self_provision"
)
async def test_listing_project_requests_tells_whether_the_user_may_self_provision(
    kube, openshift_emulator, tmp_path
):
    """``oc new-project`` lists projectrequests first: Success for a self-provisioner,
    OpenShift's Forbidden otherwise (the emulator answered Success to everyone)."""
    from kubernetes_asyncio import config

    from workspace_spawner_testing.emulator.rbac import Rbac
    from workspace_spawner_testing.openshift.install import rbac_objects

    Rbac.install(openshift_emulator)
    # OpenShift's basic-user (every user may ask), not self-provisioner (may not create)
    for obj in rbac_objects():
        if obj["metadata"]["name"] in ("basic-user", "basic-users"):
            openshift_emulator.create(obj)
    openshift_emulator.add_token("mallory-token", user="mallory", groups=["system:authenticated"])
    path = openshift_emulator.write_kubeconfig(tmp_path / "mallory.yaml", token="mallory-token")
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        objects = client.CustomObjectsApi(api)
        with pytest.raises(ApiException) as error:
            await objects.list_cluster_custom_object(
                "project.openshift.io", "v1", "projectrequests"
            )
    assert error.value.status == 403
    assert (
        json.loads(error.value.body)["message"] == "You may not request a new project via this API."
    )
    async with kube.api_client() as api:  # the admin may
        answer = await client.CustomObjectsApi(api).list_cluster_custom_object(
            "project.openshift.io", "v1", "projectrequests"
        )
    assert answer["status"] == "Success"
