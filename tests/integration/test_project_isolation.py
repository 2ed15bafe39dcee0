"""A user's project is isolated and reconciled without clobbering (issue 11), with the hub as
its ServiceAccount under exactly the RBAC of helm-values/; on the emulator and on the real
control plane (its OpenShift pass for the OpenShift cases), as test_project_spawn."""

from __future__ import annotations

import project_support
import pytest
from project_support import stop

# the project tests' fixtures: the hub under the shipped RBAC, spawners with the feature on
fresh_caches = project_support.fresh_caches
hub = project_support.hub
project = project_support.project
spawn = project_support.spawn

pytestmark = pytest.mark.parametrize("kube", ["kubernetes", "openshift"], indirect=True)

PSA = "pod-security.kubernetes.io/"


def pod_security(cluster, name) -> dict[str, str]:
    labels = cluster.get("Namespace", name)["metadata"]["labels"]
    return {k: v for k, v in labels.items() if k.startswith(PSA)}


async def test_a_new_project_gets_pod_security_and_a_network_policy(spawn, cluster, kube, project):
    name = project("alice")
    spawner = spawn()
    await spawner.start()
    if cluster.openshift:
        # the label syncer's and the SCCs' business: left alone
        assert pod_security(cluster, name) == {}
    else:
        assert pod_security(cluster, name) == {
            f"{PSA}enforce": "baseline",
            f"{PSA}enforce-version": "latest",
            f"{PSA}warn": "restricted",
            f"{PSA}warn-version": "latest",
            f"{PSA}audit": "restricted",
            f"{PSA}audit-version": "latest",
        }
    policy = cluster.get("NetworkPolicy", "workspace-isolation", name)
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers[1]["podSelector"]["matchLabels"]["hub.jupyter.org/username"] == "alice"
    assert f"Isolating {name} on the network" in [
        e["message"] for e in spawner._progress_log.events
    ]
    await stop(spawner)


async def test_an_existing_project_is_brought_in_line_at_the_next_start(
    spawn, cluster, kube, project
):
    name = project("alice")
    first = spawn(workspace_project_pod_security={}, workspace_project_network_policy=False)
    await first.start()
    await stop(first)
    assert pod_security(cluster, name) == {}
    assert cluster.get("NetworkPolicy", "workspace-isolation", name) is None
    # the hub is upgraded: the defaults apply to the project made before
    again = spawn()
    again.load_state(first.get_state())
    await again.start()
    await stop(again)
    if not cluster.openshift:
        assert pod_security(cluster, name)[f"{PSA}enforce"] == "baseline"
    assert cluster.get("NetworkPolicy", "workspace-isolation", name)
    # an admin switches the policy off for their own: it goes
    off = spawn(workspace_project_network_policy=False)
    off.load_state(again.get_state())
    await off.start()
    await stop(off)
    assert cluster.get("NetworkPolicy", "workspace-isolation", name) is None


async def test_the_service_account_keeps_what_its_controllers_set(spawn, cluster, kube, project):
    name = project("alice")
    first = spawn()
    await first.start()
    await stop(first)
    # what the token and image-pull controllers (OpenShift's dockercfg) add
    cluster.patch(
        "ServiceAccount",
        f"notebook-{name}",
        {
            "metadata": {
                "annotations": {
                    "openshift.io/internal-registry-pull-secret-ref": f"notebook-{name}-dockercfg-x"
                }
            },
            "secrets": [{"name": f"notebook-{name}-dockercfg-x"}],
            "imagePullSecrets": [{"name": f"notebook-{name}-dockercfg-x"}],
        },
        kube.namespace,
    )
    changed = spawn(workspace_project_groups=["teachers"])  # a change: the start reconciles
    changed.load_state(first.get_state())
    await changed.start()
    await stop(changed)
    account = cluster.get("ServiceAccount", f"notebook-{name}", kube.namespace)
    assert account["secrets"] == [{"name": f"notebook-{name}-dockercfg-x"}]
    assert account["imagePullSecrets"] == [{"name": f"notebook-{name}-dockercfg-x"}]
    assert account["metadata"]["annotations"]["openshift.io/internal-registry-pull-secret-ref"]
    assert account["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspace-spawner"


async def test_an_admins_role_binding_is_never_replaced_in_existing_mode(
    spawn, cluster, kube, project
):
    name = project("alice")
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": "workspace-spawner"},
            },
        }
    )
    mine = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "workspace-access", "namespace": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "course-staff"}
        ],
    }
    cluster.create(mine)
    spawner = spawn(workspace_project_mode="existing")
    await spawner.start()
    binding = cluster.get("RoleBinding", "workspace-access", name)
    assert binding["roleRef"]["name"] == "view"
    assert binding["subjects"] == mine["subjects"]
    assert f"Keeping the RoleBinding an admin made in {name}" in [
        e["message"] for e in spawner._progress_log.events
    ]
    await stop(spawner)


async def test_the_openshift_user_subject_is_the_exact_user_name(spawn, cluster, kube, project):
    name = project("alice")
    spawner = spawn("alice")

    async def get_auth_state():
        # OAuthenticator's OpenShiftOAuthenticator: the OpenShift User object
        return {"access_token": "sha256~t", "openshift_user": {"metadata": {"name": "Alice"}}}

    spawner.user.get_auth_state = get_auth_state
    await spawner.ensure_workspace_project()
    users = [
        s["name"]
        for s in cluster.get("RoleBinding", "workspace-access", name)["subjects"]
        if s["kind"] == "User"
    ]
    # OpenShift's name, case and all; on Kubernetes the template (the hub's username)
    assert users == (["Alice"] if cluster.openshift else ["alice"])
