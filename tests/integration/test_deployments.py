"""Issue 12: the cases that failed where hubs are really deployed, one test each.

User namespaces, upgrades from KubeSpawner 6 and workspace-spawner 0.1, long usernames
with several volumes, named servers on one ReadWriteOnce claim, load_user_options()
called again, and derived claim names that never collide across users (issue 11).
"""

from __future__ import annotations

import asyncio
import logging

import project_support
import pytest
from kubernetes_asyncio import client
from z2jh_support import REAL_START_TIMEOUT, patient, user_namespace_rights

from workspace_spawner.constants import USERNAME_LABEL, VOLUME_NAME_LABEL
from workspace_spawner.kube import KubeError

# KubeSpawner 6 logs a warning for state without its version: expected in these tests
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def make_spawner(make_spawner, kube):
    return patient(make_spawner, kube)


async def start(spawner):
    return await asyncio.wait_for(spawner.start(), REAL_START_TIMEOUT + 30)


async def read_pvc(kube, name: str, namespace: str | None = None) -> dict | None:
    async with kube.api_client() as api:
        try:
            pvc = await client.CoreV1Api(api).read_namespaced_persistent_volume_claim(
                name, namespace or kube.namespace
            )
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise
        return api.sanitize_for_serialization(pvc)


async def list_pvc_names(kube, namespace: str | None = None) -> list[str]:
    async with kube.api_client() as api:
        pvcs = await client.CoreV1Api(api).list_namespaced_persistent_volume_claim(
            namespace or kube.namespace
        )
        return sorted(p.metadata.name for p in pvcs.items)


async def make_pvc(kube, name: str, *, labels: dict | None = None) -> None:
    body = {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    async with kube.api_client() as api:
        await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(kube.namespace, body)


async def read_pod(kube, spawner) -> dict:
    async with kube.api_client() as api:
        pod = await client.CoreV1Api(api).read_namespaced_pod(spawner.pod_name, spawner.namespace)
        return api.sanitize_for_serialization(pod)


def claims_of(pod: dict) -> dict[str, str]:
    """pod volume name -> claim name."""
    return {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }


# -- case 1: user namespaces ------------------------------------------------------------


async def test_user_namespaces_first_start_creates_the_namespace_before_the_claim(
    make_spawner, kube
):
    template = f"{kube.namespace}-u-{{username}}"
    spawner = make_spawner(enable_user_namespaces=True, user_namespace_template=template)
    namespace = f"{kube.namespace}-u-alice"
    assert spawner.namespace == namespace
    try:
        with user_namespace_rights(kube):
            await _start_twice(make_spawner, spawner, kube, namespace, template)
    finally:
        async with kube.api_client(admin=kube.real) as api:
            await client.CoreV1Api(api).delete_namespace(namespace)


async def _start_twice(make_spawner, spawner, kube, namespace: str, template: str) -> None:
    """First start, stop, and a restart from the saved state."""
    await start(spawner)
    assert await list_pvc_names(kube, namespace) == ["claim-alice"]
    pod = await read_pod(kube, spawner)
    assert claims_of(pod) == {"volume-claim-alice": "claim-alice"}
    await spawner.stop(now=True)
    # a restart finds the namespace (KubeSpawner's 409 is tolerated) and the claim
    again = make_spawner(
        enable_user_namespaces=True, user_namespace_template=template, state=spawner.get_state()
    )
    await start(again)
    assert await list_pvc_names(kube, namespace) == ["claim-alice"]
    await again.stop(now=True)


# -- case 2: upgrades -------------------------------------------------------------------

# What KubeSpawner 6 saved: no kubespawner_version, no pvc_name
KUBESPAWNER_6_STATE = {"pod_name": "jupyter-alice-2esmith"}


async def test_kubespawner_6_claim_is_adopted(make_spawner, kube, caplog):
    await make_pvc(
        kube,
        "claim-alice-2esmith",
        labels={"component": "singleuser-storage", USERNAME_LABEL: "alice-2esmith"},
    )
    state = dict(KUBESPAWNER_6_STATE, namespace=kube.namespace)
    spawner = make_spawner("alice.smith", state=state)
    assert spawner.pvc_name == "claim-alice-smith---63425827"
    with caplog.at_level(logging.WARNING):
        await start(spawner)
    assert await list_pvc_names(kube) == ["claim-alice-2esmith"]
    assert claims_of(await read_pod(kube, spawner))["volume-claim-alice-2esmith"] == (
        "claim-alice-2esmith"
    )
    state = spawner.get_state()
    assert state["pvc_name"] == state["workspace_pvcs"]["home"] == "claim-alice-2esmith"
    assert "adopting claim-alice-2esmith" in caplog.text
    await spawner.stop(now=True)


async def test_kubespawner_6_user_without_a_claim_gets_the_new_name(make_spawner, kube):
    spawner = make_spawner("alice.smith", state=dict(KUBESPAWNER_6_STATE, namespace=kube.namespace))
    await start(spawner)
    assert await list_pvc_names(kube) == ["claim-alice-smith---63425827"]
    await spawner.stop(now=True)


async def test_handle_legacy_names_false_never_looks_for_the_old_claim(make_spawner, kube):
    await make_pvc(kube, "claim-alice-2esmith")
    spawner = make_spawner(
        "alice.smith",
        handle_legacy_names=False,
        state=dict(KUBESPAWNER_6_STATE, namespace=kube.namespace),
    )
    await start(spawner)
    assert await list_pvc_names(kube) == ["claim-alice-2esmith", "claim-alice-smith---63425827"]
    await spawner.stop(now=True)


async def test_remember_pvc_name_false_follows_the_template(make_spawner, kube):
    await make_pvc(kube, "claim-old")
    state = {
        "kubespawner_version": "7.1.0",
        "pvc_name": "claim-old",
        "workspace_pvcs": {"home": "claim-old"},
        "namespace": kube.namespace,
    }
    spawner = make_spawner(remember_pvc_name=False, state=state)
    await start(spawner)
    assert claims_of(await read_pod(kube, spawner)) == {"volume-claim-alice": "claim-alice"}
    await spawner.stop(now=True)
    # and with True (the default) the saved name keeps winning over the template
    kept = make_spawner(state=state)
    await start(kept)
    assert claims_of(await read_pod(kube, kept)) == {"volume-claim-old": "claim-old"}
    await kept.stop(now=True)


DATA = {"data": {"mount_path": "/home/jovyan/data", "capacity": "1Gi"}}


async def test_workspace_spawner_0_1_claims_are_kept(make_spawner, kube):
    """0.1 named extra claims <home>-<key>; its state names them, so they stay mounted."""
    await make_pvc(kube, "claim-alice")
    await make_pvc(
        kube, "claim-alice-data", labels={USERNAME_LABEL: "alice", VOLUME_NAME_LABEL: "data"}
    )
    state = {
        "kubespawner_version": "7.1.0",
        "pvc_name": "claim-alice",
        "namespace": kube.namespace,
        "workspace_pvcs": {"home": "claim-alice", "data": "claim-alice-data"},
    }
    spawner = make_spawner(workspace_volumes=DATA, state=state)
    await start(spawner)
    assert await list_pvc_names(kube) == ["claim-alice", "claim-alice-data"]
    assert set(claims_of(await read_pod(kube, spawner)).values()) == {
        "claim-alice",
        "claim-alice-data",
    }
    await spawner.stop(now=True)
    # remember_pvc_name = False: the 0.1 name is adopted, as it is labelled alice's "data"
    forgetful = make_spawner(workspace_volumes=DATA, state=state, remember_pvc_name=False)
    await start(forgetful)
    assert await list_pvc_names(kube) == ["claim-alice", "claim-alice-data"]
    await forgetful.stop(now=True)


# -- issue 11: derived names never collide across users ------------------------------------


async def test_extra_volume_is_never_another_users_home_claim(make_spawner, kube):
    """alice's volume "data" and the user "alice-data" get two claims."""
    other = make_spawner("alice-data")
    await start(other)
    await other.stop(now=True)
    assert await list_pvc_names(kube) == ["claim-alice-data"]
    # alice forgot her state (a new hub, or remember_pvc_name False): still her own claim
    alice = make_spawner(
        "alice",
        workspace_volumes=DATA,
        state={"kubespawner_version": "7.1.0", "namespace": kube.namespace},
    )
    await start(alice)
    assert await list_pvc_names(kube) == ["claim-alice", "claim-alice--data", "claim-alice-data"]
    assert set(claims_of(await read_pod(kube, alice)).values()) == {
        "claim-alice",
        "claim-alice--data",
    }
    await alice.stop(now=True)


async def test_a_claim_labelled_as_another_volume_is_refused(make_spawner, kube):
    """A per-server template's claim-alice--gpu is the home of server gpu, not volume gpu."""
    await make_pvc(
        kube, "claim-alice--gpu", labels={USERNAME_LABEL: "alice", VOLUME_NAME_LABEL: "home"}
    )
    spawner = make_spawner(workspace_volumes={"gpu": {"mount_path": "/gpu", "capacity": "1Gi"}})
    with pytest.raises(KubeError, match="claim-alice--gpu holds the workspace volume 'home'"):
        await start(spawner)


# -- case 4: long usernames, several volumes ------------------------------------------------

LONG = "firstname.lastname@department.university-example.edu"


async def test_long_username_with_two_volumes_starts(make_spawner, kube):
    volumes = {
        "data": {"mount_path": "/data", "capacity": "1Gi"},
        "docs": {"mount_path": "/docs", "capacity": "1Gi"},
    }
    spawner = make_spawner(LONG, workspace_volumes=volumes)
    await start(spawner)
    claims = claims_of(await read_pod(kube, spawner))
    assert len(claims) == 3 and len(set(claims.values())) == 3
    assert all(len(name) <= 63 for name in claims)
    await spawner.stop(now=True)


# -- case 7: load_user_options --------------------------------------------------------------

PROFILES = [
    {"display_name": "Small", "slug": "small", "kubespawner_override": {"cpu_limit": 1.0}},
    {"display_name": "Large", "slug": "large", "kubespawner_override": {"cpu_limit": 4.0}},
]


async def test_load_user_options_applies_the_current_options_every_time(make_spawner, kube):
    spawner = make_spawner(profile_list=PROFILES)
    spawner.user_options = {"profile": "small"}
    await spawner.load_user_options()
    assert spawner.cpu_limit == 1.0
    spawner.user_options = {"profile": "large"}
    await spawner.load_user_options()
    assert spawner.cpu_limit == 4.0
    # and a start applies the options it starts with
    spawner.user_options = {"profile": "small"}
    await start(spawner)
    assert spawner.cpu_limit == 1.0
    await spawner.stop(now=True)


# -- case 5: named servers on one ReadWriteOnce claim ---------------------------------------


async def test_second_server_on_a_single_node_claim_is_refused_at_once(make_spawner, kube):
    default = make_spawner()
    await start(default)
    named = make_spawner(servername="gpu")
    # the hub knows both of alice's servers (JupyterHub's User.spawners)
    named.user.spawners = {"": default, "gpu": named}
    with pytest.raises(
        KubeError,
        match="Your default server is running with your workspace "
        r"volume claim-alice, .*ReadWriteOnce.*Stop that server",
    ):
        await start(named)
    await default.stop(now=True)
    # once the other one has stopped, the named server starts on the same claim
    await start(named)
    assert claims_of(await read_pod(kube, named)) == {"volume-claim-alice": "claim-alice"}
    await named.stop(now=True)


async def test_servers_with_their_own_claims_start_side_by_side(make_spawner, kube):
    template = "claim-{user_server}"
    default = make_spawner(pvc_name_template=template)
    named = make_spawner(servername="gpu", pvc_name_template=template)
    named.user.spawners = {"": default, "gpu": named}
    await start(default)
    await start(named)
    assert claims_of(await read_pod(kube, named)) == {"volume-claim-alice--gpu": "claim-alice--gpu"}
    await named.stop(now=True)
    await default.stop(now=True)


# -- case 3: OpenShift's restricted-v2, and what the per-user ServiceAccount inherits --------

PROJECT = {"workspace_project_enabled": True}


@pytest.fixture
def _fresh_project_caches():
    from workspace_spawner.project.mixin import ProjectMixin

    ProjectMixin.reset_caches()
    yield
    ProjectMixin.reset_caches()


project = project_support.project


@pytest.fixture
def project_traits(project):
    """The project feature on, the project named for this test (project_support.project)."""
    return {**PROJECT, "workspace_project_template": project.template}


async def test_per_user_account_keeps_the_pull_secrets_of_the_default_one(
    make_spawner, kube, cluster, project, project_traits, _fresh_project_caches
):
    default = {"imagePullSecrets": [{"name": "registry-pull"}]}
    if cluster.get("ServiceAccount", "default", kube.namespace):  # made by its controller
        cluster.patch("ServiceAccount", "default", default, kube.namespace)
    else:
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": kube.namespace},
                **default,
            }
        )
    spawner = make_spawner(**project_traits, image_pull_secrets=["own-pull"])
    await start(spawner)
    pod = await read_pod(kube, spawner)
    assert pod["spec"]["serviceAccountName"] == f"notebook-{project('alice')}"
    assert [s["name"] for s in pod["spec"]["imagePullSecrets"]] == ["own-pull", "registry-pull"]
    await spawner.stop(now=True)


@pytest.mark.openshift
async def test_restricted_v2_rejects_the_charts_uid_and_admits_our_openshift_values(
    make_spawner, kube, cluster, project, project_traits, _fresh_project_caches
):
    charts = make_spawner(uid=1000, fs_gid=100)
    # the emulator's SCC plugin answers as OpenShift's; the real tier's webhook's denial
    # comes prefixed by the kube-apiserver (admission webhook "..." denied the request)
    with pytest.raises(
        Exception,
        match="unable to validate against any security context "
        "constraint.*runAsUser: Invalid value: 1000",
    ):
        await start(charts)
    await charts.stop(now=True)
    ours = make_spawner(**project_traits)  # helm-values/openshift.yaml: no uid, no fsGroup
    await start(ours)
    pod = await read_pod(kube, ours)
    namespace = cluster.get("Namespace", kube.namespace)["metadata"]["annotations"]
    first = int(namespace["openshift.io/sa.scc.uid-range"].split("/")[0])
    assert pod["metadata"]["annotations"]["openshift.io/scc"] == "restricted-v2"
    assert pod["spec"]["securityContext"]["fsGroup"] == first
    assert {
        c["securityContext"]["runAsUser"]
        for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]
    } == {first}
    # each project made by a ProjectRequest has a range of its own
    made = cluster.get("Namespace", project("alice"))["metadata"]["annotations"]
    assert made["openshift.io/sa.scc.uid-range"] != namespace["openshift.io/sa.scc.uid-range"]
    await ours.stop(now=True)


@pytest.mark.openshift
async def test_anyuid_granted_to_the_hub_namespaces_accounts_reaches_per_user_accounts(
    make_spawner, kube, cluster, project, project_traits, _fresh_project_caches
):
    group = f"system:serviceaccounts:{kube.namespace}"
    if kube.emulator is not None:
        kube.emulator.grant_scc("anyuid", group=group)
    else:  # oc adm policy add-scc-to-group anyuid <group>, for the pods of the namespace
        from workspace_spawner_testing.openshift.install import scc_grant

        cluster.create(scc_grant("anyuid", namespace=kube.namespace, group=group))
    spawner = make_spawner(uid=1000, fs_gid=100, **project_traits)
    await start(spawner)
    pod = await read_pod(kube, spawner)
    assert pod["spec"]["serviceAccountName"] == f"notebook-{project('alice')}"
    assert pod["metadata"]["annotations"]["openshift.io/scc"] == "anyuid"
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    await spawner.stop(now=True)
