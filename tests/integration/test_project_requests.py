"""The API requests of the project and conda features (issue 17), counted by the API server.

The physical limit: one write for each object that must exist, no read that the saved
state already answers, and the facts of a hub process (OpenShift or not, the pods'
default ServiceAccount, the conda ConfigMap) asked once per process however many users
start at once. The hub runs as its ServiceAccount under the RBAC of helm-values/.

Counted from ``api_log``, the hub ServiceAccount's requests only: the emulator's request
log, or on the real control plane (``make test-cluster``, the OpenShift cases in its
OpenShift pass) the kube-apiserver's audit log, which records the project stand-in's
``projectrequests`` as the aggregator receives them.
"""

from __future__ import annotations

import asyncio

import project_support
import pytest
from project_support import hub_requests, stop

from workspace_spawner import WorkspaceSpawner
from workspace_spawner.kube import KubeError

# the project tests' fixtures: the hub under the shipped RBAC, spawners with the feature on
fresh_caches = project_support.fresh_caches
hub = project_support.hub
project = project_support.project
spawn = project_support.spawn

pytestmark = pytest.mark.parametrize("kube", ["kubernetes", "openshift"], indirect=True)

QUOTA = {"pods": "4", "requests.cpu": "2"}
LIMITS = [{"type": "Container", "default": {"cpu": "200m"}}]
TRAITS = dict(workspace_project_quota=QUOTA, workspace_project_limit_range=LIMITS)
FEATURE_RESOURCES = {
    "namespaces",
    "projectrequests",
    "projects",
    "serviceaccounts",
    "secrets",
    "rolebindings",
    "resourcequotas",
    "limitranges",
    "networkpolicies",
    "configmaps",
}
# the objects of the project that must exist, each written once
PROJECT_WRITES = [
    ("create", "serviceaccounts", None),
    ("create", "rolebindings", None),
    ("create", "resourcequotas", None),
    ("create", "limitranges", None),
    ("create", "networkpolicies", None),
]


def feature_requests(api_log) -> list[tuple[str, str | None, str | None]]:
    """(verb, resource, name) of the hub's requests of the project and conda features.

    A create is compared by its resource alone (name None): what is made, and how often,
    is the question here; the names are test_project_spawn's. The project's objects are
    written at once, so they reach the server in no set order: each run of them is
    sorted, the order of everything else kept."""
    requests = [
        (r.verb, r.resource or r.path, None if r.verb == "create" else r.name)
        for r in hub_requests(api_log)
        if r.resource in FEATURE_RESOURCES or r.path == "/apis"
    ]
    return _writes_at_once_sorted(requests)


def _writes_at_once_sorted(requests: list) -> list:
    ordered, run = [], []
    for request in requests:
        if request in PROJECT_WRITES:
            run.append(request)
            continue
        ordered += sorted(run) + [request]
        run = []
    return ordered + sorted(run)


def first_start(*, openshift: bool, project: str, hub_process_new: bool = True):
    """What a first start asks: the project made without a read first (409 would say it is there)."""
    if openshift:
        # OpenShift copies no labels from a ProjectRequest: one patch labels the Namespace
        made = [("create", "projectrequests", None), ("patch", "namespaces", project)]
    else:
        made = [("create", "namespaces", None)]
    once_per_process = [("get", "/apis", None)] if hub_process_new else []
    default_account = [("get", "serviceaccounts", "default")] if hub_process_new else []
    conda = [("get", "configmaps", "workspace-spawner-conda"), ("create", "configmaps", None)]
    return (
        once_per_process
        + made
        + default_account
        + sorted(PROJECT_WRITES)
        + (conda if hub_process_new else [])
    )


async def test_a_first_start_writes_each_object_once_and_reads_only_once_per_hub(
    spawn, cluster, api_log, project
):
    alice = spawn("alice", **TRAITS)
    await alice.start()
    assert feature_requests(api_log) == first_start(
        openshift=cluster.openshift, project=project("alice")
    )
    await stop(alice)

    # the next user of the same hub process: no discovery, no account or ConfigMap read
    api_log.clear_requests()
    bob = spawn("bob", **TRAITS)
    await bob.start()
    assert feature_requests(api_log) == first_start(
        openshift=cluster.openshift, project=project("bob"), hub_process_new=False
    )
    await stop(bob)


@pytest.mark.parametrize("hub_restarted", [False, True], ids=["same-hub", "hub-restarted"])
async def test_a_warm_restart_reads_the_project_once_and_writes_nothing(
    spawn, api_log, project, hub_restarted
):
    first = spawn(**TRAITS)
    await first.start()
    await stop(first)
    state = first.get_state()
    if hub_restarted:
        WorkspaceSpawner.reset_caches()
    api_log.clear_requests()
    again = spawn(**TRAITS)
    again.load_state(state)
    await again.start()
    # the saved state says OpenShift or not and what was applied; only whether the
    # project is still there (and still the user's) is asked
    expected = [("get", "namespaces", project("alice"))]
    if hub_restarted:
        # a new hub process reads the pods' default account and the ConfigMap once
        expected += [
            ("get", "serviceaccounts", "default"),
            ("get", "configmaps", "workspace-spawner-conda"),
        ]
    assert feature_requests(api_log) == expected
    await stop(again)


async def test_a_class_starting_at_once_asks_the_hub_process_facts_once(spawn, cluster, api_log):
    users = [f"student{i}" for i in range(8)]
    spawners = [spawn(user, **TRAITS) for user in users]

    async def before_the_pod(spawner):
        await spawner.ensure_workspace_project()
        await spawner.ensure_conda_startup()

    await asyncio.gather(*(before_the_pod(s) for s in spawners))
    requests = feature_requests(api_log)
    assert requests.count(("get", "/apis", None)) == 1
    assert requests.count(("get", "serviceaccounts", "default")) == 1
    assert [r for r in requests if r[1] == "configmaps"] == [
        ("get", "configmaps", "workspace-spawner-conda"),
        ("create", "configmaps", None),
    ]
    made = "projectrequests" if cluster.openshift else "namespaces"
    assert requests.count(("create", made, None)) == len(users)
    for _, resource, _ in PROJECT_WRITES:
        assert requests.count(("create", resource, None)) == len(users)
    # nothing read before it was made, nothing deleted
    assert not [r for r in requests if r[0] == "delete" or r[:2] == ("get", "namespaces")]


async def test_a_squatted_project_is_still_read_and_refused_after_the_409(
    spawn, cluster, api_log, project
):
    squatted = project("alice")
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": squatted}})
    spawner = spawn()
    with pytest.raises(KubeError, match="already exists and is not made by workspace-spawner"):
        await spawner.ensure_workspace_project()
    made = "projectrequests" if cluster.openshift else "namespaces"
    requests = [r for r in feature_requests(api_log) if r[1] != "/apis"]
    assert requests == [("create", made, None), ("get", "namespaces", squatted)]
    assert "hub.jupyter.org/username" not in (
        cluster.get("Namespace", squatted)["metadata"].get("labels") or {}
    )
