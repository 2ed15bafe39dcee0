"""The startup-script ConfigMap against the Kubernetes API emulator, over real HTTP.

One per namespace (so one per hub), written only when its content changes, no
request at all on a warm start of the same hub process.
"""

from __future__ import annotations

import pytest

from workspace_spawner.conda import CondaMixin, manifests
from workspace_spawner.constants import CONTENT_HASH_ANNOTATION
from workspace_spawner.kube import KubeError, to_dict

pytestmark = pytest.mark.emulator_only

NAME = "workspace-spawner-conda"


def configmap_requests(emulator):
    return [(r.verb, r.name) for r in emulator.requests if r.resource == "configmaps"]


async def test_one_configmap_written_once_then_no_request(kube, emulator, make_spawner):
    await make_spawner("alice").ensure_conda_startup()
    assert configmap_requests(emulator) == [("get", NAME), ("create", NAME)]
    stored = emulator.get("ConfigMap", NAME, kube.namespace)
    assert stored["data"] == {"workspace-env.sh": manifests.startup_script()}
    assert stored["metadata"]["annotations"][CONTENT_HASH_ANNOTATION] == manifests.content_hash(
        stored["data"]
    )
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspace-spawner"

    emulator.clear_requests()
    await make_spawner("bob").ensure_conda_startup()
    await make_spawner("alice").ensure_conda_startup()
    assert configmap_requests(emulator) == []  # warm: the hub process knows it is current
    names = [cm["metadata"]["name"] for cm in emulator.list("ConfigMap", kube.namespace)]
    assert names.count(NAME) == 1


async def test_a_new_hub_process_reads_once_and_leaves_it_alone(kube, emulator, make_spawner):
    await make_spawner().ensure_conda_startup()
    version = emulator.get("ConfigMap", NAME, kube.namespace)["metadata"]["resourceVersion"]
    CondaMixin.reset_caches()  # a restarted hub
    emulator.clear_requests()
    await make_spawner().ensure_conda_startup()
    assert configmap_requests(emulator) == [("get", NAME)]
    assert emulator.get("ConfigMap", NAME, kube.namespace)["metadata"]["resourceVersion"] == version


async def test_changed_content_is_updated_in_place(kube, emulator, make_spawner):
    # a ConfigMap written by an older version of the spawner
    emulator.create(
        manifests.make_configmap(
            name=NAME,
            data={"workspace-env.sh": "echo old\n", "other.sh": "x"},
            labels={},
            annotations={CONTENT_HASH_ANNOTATION: "0123456789abcdef"},
        ),
        namespace=kube.namespace,
    )
    emulator.clear_requests()
    await make_spawner().ensure_conda_startup()
    assert configmap_requests(emulator) == [("get", NAME), ("update", NAME)]
    stored = emulator.get("ConfigMap", NAME, kube.namespace)
    assert stored["data"] == {"workspace-env.sh": manifests.startup_script()}


async def test_switched_off_makes_no_request(kube, emulator, make_spawner):
    await make_spawner(conda_workspace_env=False, persist_pip_user=False).ensure_conda_startup()
    assert configmap_requests(emulator) == []


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


async def test_other_api_errors_fail_the_start(kube, emulator, make_spawner):
    emulator.inject_fault(verb="create", resource="configmaps", status=422)
    with pytest.raises(
        KubeError, match=f"Could not create ConfigMap workspace-spawner-conda in {kube.namespace}"
    ):
        await make_spawner().ensure_conda_startup()


async def test_the_pod_with_both_init_containers_is_accepted(kube, emulator, make_spawner):
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
