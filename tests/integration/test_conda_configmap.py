"""The startup-script ConfigMap against the Kubernetes API, over real HTTP.

One per namespace (so one per hub), written only when its content changes, no
request at all on a warm start of the same hub process. The requests are counted in
``api_log`` (the emulator's request log, or the real kube-apiserver's audit log of the
hub's ServiceAccount), the ConfigMap set up and read through ``cluster``; only the
fault tests need the emulator.
"""

from __future__ import annotations

import pytest

from workspace_spawner.conda import CondaMixin, manifests
from workspace_spawner.constants import CONTENT_HASH_ANNOTATION
from workspace_spawner.kube import KubeError, to_dict

FAULTS = pytest.mark.emulator_only(reason="fault injection on a create (inject_fault)")
NAME = "workspace-spawner-conda"


def configmap_requests(api_log):
    """(verb, name) of the ConfigMap requests; a create by its verb alone (name None): the
    audit log's RequestReceived event names no object a create makes (its name is in the
    body), and what it made is read from the cluster."""
    return [
        (r.verb, None if r.verb == "create" else r.name)
        for r in api_log.requests
        if r.resource == "configmaps"
    ]


async def test_one_configmap_written_once_then_no_request(kube, cluster, api_log, make_spawner):
    await make_spawner("alice").ensure_conda_startup()
    assert configmap_requests(api_log) == [("get", NAME), ("create", None)]
    stored = cluster.get("ConfigMap", NAME, kube.namespace)
    assert stored["data"] == {"workspace-env.sh": manifests.startup_script()}
    assert stored["metadata"]["annotations"][CONTENT_HASH_ANNOTATION] == manifests.content_hash(
        stored["data"]
    )
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspace-spawner"

    api_log.clear_requests()
    await make_spawner("bob").ensure_conda_startup()
    await make_spawner("alice").ensure_conda_startup()
    assert configmap_requests(api_log) == []  # warm: the hub process knows it is current
    names = [cm["metadata"]["name"] for cm in cluster.list("ConfigMap", kube.namespace)]
    assert names.count(NAME) == 1


async def test_a_new_hub_process_reads_once_and_leaves_it_alone(
    kube, cluster, api_log, make_spawner
):
    await make_spawner().ensure_conda_startup()
    version = cluster.get("ConfigMap", NAME, kube.namespace)["metadata"]["resourceVersion"]
    CondaMixin.reset_caches()  # a restarted hub
    api_log.clear_requests()
    await make_spawner().ensure_conda_startup()
    assert configmap_requests(api_log) == [("get", NAME)]
    assert cluster.get("ConfigMap", NAME, kube.namespace)["metadata"]["resourceVersion"] == version


async def test_changed_content_is_updated_in_place(kube, cluster, api_log, make_spawner):
    # a ConfigMap written by an older version of the spawner
    cluster.create(
        manifests.make_configmap(
            name=NAME,
            data={"workspace-env.sh": "echo old\n", "other.sh": "x"},
            labels={},
            annotations={CONTENT_HASH_ANNOTATION: "0123456789abcdef"},
        ),
        namespace=kube.namespace,
    )
    api_log.clear_requests()
    await make_spawner().ensure_conda_startup()
    assert configmap_requests(api_log) == [("get", NAME), ("update", NAME)]
    stored = cluster.get("ConfigMap", NAME, kube.namespace)
    assert stored["data"] == {"workspace-env.sh": manifests.startup_script()}


async def test_switched_off_makes_no_request(kube, cluster, api_log, make_spawner):
    await make_spawner(conda_workspace_env=False, persist_pip_user=False).ensure_conda_startup()
    assert configmap_requests(api_log) == []


@FAULTS
async def test_missing_right_turns_conda_off_for_the_start_and_says_why(
    kube, emulator, make_spawner
):
    """Zero to JupyterHub's hub Role grants no ConfigMap rights: the server still starts."""
    emulator.inject_fault(verb="create", resource="configmaps", status=403)
    spawner = make_spawner()
    await spawner.ensure_conda_startup()
    messages = [e["message"] for e in spawner._progress_log.events]
    assert any(
        "conda environment and pip user packages are off for this start" in m
        and f"workspace-spawner-conda in {kube.namespace}" in m
        and "helm-values/conda-rbac.yaml" in m
        for m in messages
    ), messages
    pod = to_dict(await spawner.get_pod_manifest())
    assert "workspace-conda-startup" not in [v["name"] for v in pod["spec"].get("volumes") or []]
    assert not [
        c for c in pod["spec"].get("initContainers") or [] if c["name"].startswith("conda-")
    ]

    # with the right granted, the next start has the conda logic again
    await spawner.ensure_conda_startup()
    pod = to_dict(await spawner.get_pod_manifest())
    assert "workspace-conda-startup" in [v["name"] for v in pod["spec"]["volumes"]]


@FAULTS
async def test_other_api_errors_fail_the_start(kube, emulator, make_spawner):
    emulator.inject_fault(verb="create", resource="configmaps", status=422)
    with pytest.raises(
        KubeError, match=f"Could not create ConfigMap workspace-spawner-conda in {kube.namespace}"
    ):
        await make_spawner().ensure_conda_startup()


async def test_the_pod_with_both_init_containers_is_accepted(kube, cluster, api_log, make_spawner):
    spawner = make_spawner(
        image="quay.io/jupyter/minimal-notebook:2026-11-16",
        conda_allow_create_from_form=True,
        user_options={"conda_create": True},
        mem_limit="1G",
    )
    await spawner.ensure_conda_startup()
    pod = await spawner.get_pod_manifest()
    created = to_dict(await spawner.api.create_namespaced_pod(kube.namespace, pod))
    # the workspace volume is filled from the image first, then conda works in it
    assert [c["name"] for c in created["spec"]["initContainers"]] == [
        "setup-volume",
        "conda-env-create",
        "conda-env-check",
    ]
