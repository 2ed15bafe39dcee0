"""The startup-script ConfigMap against the Kubernetes API emulator, over real HTTP.

One per namespace (so one per hub), written only when its content changes, no
request at all on a warm start of the same hub process.
"""

from __future__ import annotations

import pytest
from kubespawner import clients

from workspace_spawner import WorkspaceSpawner
from workspace_spawner.conda import CondaMixin, manifests
from workspace_spawner.constants import CONTENT_HASH_ANNOTATION
from workspace_spawner.kube import KubeError, to_dict
from workspace_spawner.testing.emulator import Emulator

# The emulator (being finished on its branch) still uses string keys on its aiohttp app.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

NAMESPACE = "default"
NAME = "workspace-spawner-conda"


@pytest.fixture(scope="module")
def running_emulator():
    emulator = Emulator().start_in_thread()
    yield emulator
    emulator.stop_thread()


@pytest.fixture
def emulator_spawner(running_emulator, tmp_path, monkeypatch):
    """``emulator_spawner(username, **traits)``: a WorkspaceSpawner talking to the emulator."""
    from kubernetes_asyncio.config import kube_config

    running_emulator.reset()
    kubeconfig = running_emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    # KubeSpawner loads the kubeconfig once per process (lru_cache)
    clients.load_config.cache_clear()
    monkeypatch.setattr(CondaMixin, "_conda_configmaps_current", set())

    def make(username: str = "alice", **traits):
        spawner = WorkspaceSpawner(_mock=True, namespace=NAMESPACE, **traits)
        spawner.user.name = username
        return spawner

    yield make
    clients.load_config.cache_clear()


def configmap_requests(emulator):
    return [(r.verb, r.name) for r in emulator.requests if r.resource == "configmaps"]


async def test_one_configmap_written_once_then_no_request(running_emulator, emulator_spawner):
    await emulator_spawner("alice").ensure_conda_startup()
    assert configmap_requests(running_emulator) == [("get", NAME), ("create", None)]
    stored = running_emulator.get("ConfigMap", NAME, NAMESPACE)
    assert stored["data"] == {"workspace-env.sh": manifests.startup_script()}
    assert stored["metadata"]["annotations"][CONTENT_HASH_ANNOTATION] == manifests.content_hash(stored["data"])
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workspace-spawner"

    running_emulator.clear_requests()
    await emulator_spawner("bob").ensure_conda_startup()
    await emulator_spawner("alice").ensure_conda_startup()
    assert configmap_requests(running_emulator) == []  # warm: the hub process knows it is current
    names = [cm["metadata"]["name"] for cm in running_emulator.list("ConfigMap", NAMESPACE)]
    assert names.count(NAME) == 1


async def test_a_new_hub_process_reads_once_and_leaves_it_alone(running_emulator, emulator_spawner, monkeypatch):
    await emulator_spawner().ensure_conda_startup()
    version = running_emulator.get("ConfigMap", NAME, NAMESPACE)["metadata"]["resourceVersion"]
    monkeypatch.setattr(CondaMixin, "_conda_configmaps_current", set())  # a restarted hub
    running_emulator.clear_requests()
    await emulator_spawner().ensure_conda_startup()
    assert configmap_requests(running_emulator) == [("get", NAME)]
    assert running_emulator.get("ConfigMap", NAME, NAMESPACE)["metadata"]["resourceVersion"] == version


async def test_changed_content_is_updated_in_place(running_emulator, emulator_spawner):
    # a ConfigMap written by an older version of the spawner
    running_emulator.create(
        manifests.make_configmap(
            name=NAME,
            data={"workspace-env.sh": "echo old\n", "other.sh": "x"},
            labels={},
            annotations={CONTENT_HASH_ANNOTATION: "0123456789abcdef"},
        ),
        namespace=NAMESPACE,
    )
    running_emulator.clear_requests()
    await emulator_spawner().ensure_conda_startup()
    assert configmap_requests(running_emulator) == [("get", NAME), ("update", NAME)]
    stored = running_emulator.get("ConfigMap", NAME, NAMESPACE)
    assert stored["data"] == {"workspace-env.sh": manifests.startup_script()}


async def test_switched_off_makes_no_request(running_emulator, emulator_spawner):
    await emulator_spawner(conda_workspace_env=False, persist_pip_user=False).ensure_conda_startup()
    assert configmap_requests(running_emulator) == []


async def test_missing_right_says_which(running_emulator, emulator_spawner):
    running_emulator.inject_fault(verb="create", resource="configmaps", status=403)
    with pytest.raises(KubeError) as error:
        await emulator_spawner().ensure_conda_startup()
    assert "Could not create ConfigMap workspace-spawner-conda in default" in str(error.value)
    assert "service account lacks this right" in str(error.value)


async def test_the_pod_with_both_init_containers_is_accepted(running_emulator, emulator_spawner):
    spawner = emulator_spawner(
        image="quay.io/jupyter/minimal-notebook:2026-11-16",
        conda_allow_create_from_form=True,
        user_options={"conda_create": True},
        mem_limit="1G",
    )
    await spawner.ensure_conda_startup()
    pod = await spawner.get_pod_manifest()
    created = to_dict(await spawner.api.create_namespaced_pod(NAMESPACE, pod))
    assert [c["name"] for c in created["spec"]["initContainers"]] == ["conda-env-create", "conda-env-check"]
