"""The conda startup's pure builders, compared to literal dicts."""

from __future__ import annotations

import pytest

from workspace_spawner.conda import manifests
from workspace_spawner.quantity import parse_bytes

PATTERN = r"^((docker\.io|quay\.io)/)?jupyter/"


@pytest.mark.parametrize(
    ("mode", "image", "picked"),
    [
        ("auto", "quay.io/jupyter/minimal-notebook:2026-11-16", "hook"),
        ("auto", "jupyter/scipy-notebook:latest", "hook"),
        ("auto", "docker.io/jupyter/base-notebook", "hook"),
        ("auto", "quay.io/jupyterhub/k8s-singleuser-sample:4.0.0", "wrap"),
        ("auto", "registry.example.org/jupyter/notebook:1", "wrap"),
        ("auto", "", "wrap"),
        ("hook", "registry.example.org/lab:1", "hook"),
        ("wrap", "quay.io/jupyter/minimal-notebook", "wrap"),
    ],
)
def test_pick_mode(mode, image, picked):
    assert manifests.pick_mode(mode=mode, image=image, hook_image_pattern=PATTERN) == picked


@pytest.mark.parametrize(
    ("args", "program"),
    [
        (None, "jupyterhub-singleuser"),
        ([], "jupyterhub-singleuser"),
        (["jupyterhub-singleuser", "--debug"], "jupyterhub-singleuser"),
        (["/opt/conda/bin/jupyter-labhub"], "jupyter-labhub"),
        (["start-notebook.py"], "jupyterhub-singleuser"),
        (["/usr/local/bin/start-singleuser.sh", "--x"], "jupyterhub-singleuser"),
        (["python3", "-m", "jupyterhub.singleuser"], "python3"),
    ],
)
def test_server_program(args, program):
    assert manifests.server_program(args) == program


def test_content_hash_depends_on_content_only():
    assert manifests.content_hash({"a": "1", "b": "2"}) == manifests.content_hash(
        {"b": "2", "a": "1"}
    )
    assert manifests.content_hash({"a": "1"}) != manifests.content_hash({"a": "2"})
    assert len(manifests.content_hash({"a": "1"})) == 16


def test_make_configmap():
    assert manifests.make_configmap(
        name="workspace-spawner-conda",
        data={"workspace-env.sh": "echo hi\n"},
        labels={"app.kubernetes.io/managed-by": "workspace-spawner"},
        annotations={"workspace-spawner.jupyter.org/content-hash": "abc"},
    ) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "workspace-spawner-conda",
            "labels": {"app.kubernetes.io/managed-by": "workspace-spawner"},
            "annotations": {"workspace-spawner.jupyter.org/content-hash": "abc"},
        },
        "data": {"workspace-env.sh": "echo hi\n"},
    }


def test_startup_script_is_the_package_data():
    script = manifests.startup_script()
    assert script.startswith("# shellcheck shell=sh\n")
    assert "_wsc_main || true" in script  # sourced under set -e, nothing may stop the caller
    # read once per hub process, not at each start (issue 17: the hub's CPU per spawn)
    assert manifests.startup_script() is script


@pytest.mark.parametrize(
    ("mode", "mounts"),
    [
        (
            "wrap",
            [
                {
                    "name": "workspace-conda-startup",
                    "mountPath": "/opt/workspace-spawner/conda",
                    "readOnly": True,
                }
            ],
        ),
        (
            "hook",
            [
                {
                    "name": "workspace-conda-startup",
                    "mountPath": "/opt/workspace-spawner/conda",
                    "readOnly": True,
                },
                {
                    "name": "workspace-conda-startup",
                    "mountPath": "/usr/local/bin/before-notebook.d/90-workspace-conda-env.sh",
                    "subPath": "workspace-env.sh",
                    "readOnly": True,
                },
            ],
        ),
    ],
)
def test_script_mounts(mode, mounts):
    assert manifests.script_mounts(mode=mode) == mounts


def test_script_volume_and_wrap_args():
    assert manifests.script_volume(configmap_name="cm") == {
        "name": "workspace-conda-startup",
        "configMap": {"name": "cm", "defaultMode": 0o755},
    }
    assert manifests.wrap_args(["jupyterhub-singleuser", "--debug"]) == [
        "sh",
        "/opt/workspace-spawner/conda/workspace-env.sh",
        "--exec",
        "jupyterhub-singleuser",
        "--debug",
    ]


def test_startup_env():
    assert manifests.startup_env(
        envs_dir="{home}/.conda/envs",
        env_name="workspace",
        program="jupyterhub-singleuser",
        pip_user_base="{home}/.local",
    ) == {
        "WORKSPACE_CONDA_ENVS_DIR": "{home}/.conda/envs",
        "WORKSPACE_CONDA_ENV_NAME": "workspace",
        "WORKSPACE_SERVER_COMMAND": "jupyterhub-singleuser",
        "WORKSPACE_PIP_USER_BASE": "{home}/.local",
    }
    assert manifests.startup_env(envs_dir=None, env_name="w", program="p", pip_user_base=None) == {}


def test_init_container():
    assert manifests.init_container(
        name="conda-env-check",
        action="--check",
        image="quay.io/jupyter/minimal-notebook",
        image_pull_policy="IfNotPresent",
        env={"WORKSPACE_CONDA_ENV_NAME": "workspace"},
        volume_mounts=[{"name": "home", "mountPath": "/home/jovyan"}],
        security_context={"runAsUser": 1000},
        resources={"limits": {"memory": "1G"}},
    ) == {
        "name": "conda-env-check",
        "image": "quay.io/jupyter/minimal-notebook",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "/opt/workspace-spawner/conda/workspace-env.sh", "--check"],
        "env": [
            {"name": "WORKSPACE_CONDA_ENV_NAME", "value": "workspace"},
            {"name": "WORKSPACE_CONDA_MESSAGE_FILE", "value": "/dev/termination-log"},
        ],
        "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"runAsUser": 1000},
        "resources": {"limits": {"memory": "1G"}},
    }


@pytest.mark.parametrize(
    ("resources", "limit", "result"),
    [
        (None, None, {}),
        # no request: 0, not the limit (which the API server would copy into it)
        (None, 4 * 2**30, {"limits": {"memory": str(4 * 2**30)}, "requests": {"memory": "0"}}),
        (
            {"limits": {"memory": "1G", "cpu": "1"}, "requests": {"memory": "512Mi"}},
            4 * 2**30,
            {"limits": {"memory": str(4 * 2**30), "cpu": "1"}, "requests": {"memory": "512Mi"}},
        ),
        (
            {"limits": {"memory": "8Gi"}, "requests": {"memory": "8Gi"}},
            2**30,
            {"limits": {"memory": str(2**30)}, "requests": {"memory": str(2**30)}},
        ),
    ],
)
def test_with_memory_limit(resources, limit, result):
    assert manifests.with_memory_limit(resources, limit) == result


def _effective_memory_request(pod_spec: dict) -> int:
    """A pod's memory request as the scheduler counts it, after the API server's defaulting.

    A container with a limit and no request gets the limit as request; the pod's request
    is the larger of the largest init container's and the containers' sum
    (https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers).
    """

    def request(container: dict) -> int:
        resources = container.get("resources") or {}
        value = (resources.get("requests") or {}).get("memory")
        if value is None:
            value = (resources.get("limits") or {}).get("memory", "0")
        return parse_bytes(value)

    init = max((request(c) for c in pod_spec.get("initContainers") or []), default=0)
    return max(init, sum(request(c) for c in pod_spec["containers"]))


@pytest.mark.parametrize(
    ("notebook", "expected"),
    [
        ({}, 0),
        ({"requests": {"memory": "1Gi"}, "limits": {"memory": "2Gi"}}, 2**30),
        ({"limits": {"memory": "2Gi"}}, 2 * 2**30),
    ],
)
def test_the_clone_limit_never_becomes_the_pods_request(notebook, expected):
    """Issue 12 case 8: the 4Gi clone limit is not what the server reserves for its life."""
    clone = {
        "name": "conda-env-create",
        "resources": manifests.with_memory_limit(notebook, 4 * 2**30),
    }
    spec = {"initContainers": [clone], "containers": [{"name": "notebook", "resources": notebook}]}
    assert _effective_memory_request(spec) == expected
    assert parse_bytes(clone["resources"]["limits"]["memory"]) == 4 * 2**30


@pytest.mark.parametrize(
    ("terminated", "verdict"),
    [
        ({"exitCode": 0, "message": "good: Using it.\n"}, ("good", "Using it.")),
        (
            {"exitCode": 1, "message": "no-space: Not enough: a: b"},
            ("no-space", "Not enough: a: b"),
        ),
        ({"exitCode": 137, "reason": "OOMKilled"}, ("OOMKilled", "")),
        ({"exitCode": 2, "message": "no colon"}, ("failed", "no colon")),
    ],
)
def test_split_verdict(terminated, verdict):
    assert manifests.split_verdict(terminated) == verdict
