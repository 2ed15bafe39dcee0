"""The pod runner's pure mapping from a pod manifest to what a container runs with."""

from __future__ import annotations

import pytest

from workspace_spawner_testing.podrunner import layout
from workspace_spawner_testing.podrunner.layout import Image

IMAGE = Image(
    uid=1000,
    gid=100,
    env={"PATH": "/bin", "HOME": "/home/jovyan"},
    entrypoint=("tini", "--"),
    cmd=("start-notebook.py",),
)
POD = {
    "metadata": {
        "name": "jupyter-alice",
        "namespace": "hub",
        "uid": "u1",
        "annotations": {"a": "b"},
    },
    "spec": {"nodeName": "node", "securityContext": {"fsGroup": 100, "supplementalGroups": [5]}},
}


@pytest.mark.parametrize(
    ("container", "argv"),
    [
        ({}, ["tini", "--", "start-notebook.py"]),
        ({"args": ["jupyterhub-singleuser"]}, ["tini", "--", "jupyterhub-singleuser"]),
        ({"command": ["sh", "-c"]}, ["sh", "-c"]),
        ({"command": ["sh"], "args": ["-c", "x"]}, ["sh", "-c", "x"]),
    ],
)
def test_command_and_args_combine_with_the_image(container: dict, argv: list[str]) -> None:
    assert layout.container_argv(container, IMAGE) == argv


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$(A)-$(B)", "1-$(B)"),
        ("$$(A)", "$(A)"),
        ("plain", "plain"),
    ],
)
def test_dependent_variables_expand_like_the_kubelet(value: str, expected: str) -> None:
    assert layout.expand_refs(value, {"A": "1"}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://0.0.0.0:8888/user/alice/", "http://127.0.0.5:8888/user/alice/"),
        ("--ip=0.0.0.0", "--ip=127.0.0.5"),
        ("0.0.0.0", "127.0.0.5"),
        ("http://127.0.0.1:8081/hub/api", "http://127.0.0.1:8081/hub/api"),
    ],
)
def test_a_wildcard_listen_address_becomes_the_pod_ip(value: str, expected: str) -> None:
    assert layout.bind_pod_ip(value, "127.0.0.5") == expected


def test_env_image_then_env_from_then_env_with_refs() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "URL", "value": "http://0.0.0.0:8888$(HOME)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "EMPTY"},
        ],
    }
    env = layout.container_env(
        pod=POD,
        container=container,
        image=IMAGE,
        pod_ip="127.0.0.9",
        resolve_ref=lambda kind, ref: layout.field_value(POD, ref["fieldPath"], "127.0.0.9"),
        env_from=lambda source: {"X": "1"},
    )
    assert env == {
        "HOSTNAME": "jupyter-alice",
        "PATH": "/bin",
        "HOME": "/home/jovyan",
        "CM_X": "1",
        "URL": "http://127.0.0.9:8888/home/jovyan",
        "POD": "jupyter-alice",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "jupyter-alice"),
        ("metadata.namespace", "hub"),
        ("metadata.annotations['a']", "b"),
        ("metadata.labels['missing']", None),
        ("status.podIP", "127.0.0.9"),
    ],
)
def test_downward_api_fields(path: str, value: str | None) -> None:
    assert layout.field_value(POD, path, "127.0.0.9") == value


@pytest.mark.parametrize(
    ("pod_ctx", "ctx", "user"),
    [
        ({}, {}, {"uid": 1000, "gid": 100, "groups": [], "no_new_privs": False}),
        (
            {"runAsUser": 0, "fsGroup": 100},
            {"runAsGroup": 0, "allowPrivilegeEscalation": False},
            {"uid": 0, "gid": 0, "groups": [100], "no_new_privs": True},
        ),
        (
            {"runAsUser": 1000},
            {"runAsUser": 2000},
            {"uid": 2000, "gid": 100, "groups": [], "no_new_privs": False},
        ),
    ],
)
def test_user_from_security_contexts_over_the_image(pod_ctx: dict, ctx: dict, user: dict) -> None:
    pod = {"spec": {"securityContext": pod_ctx}}
    assert layout.user_of(pod, {"securityContext": ctx}, IMAGE) == user


def test_overlay_layers_one_per_top_level_directory(tmp_path) -> None:
    (tmp_path / "home" / "jovyan").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "file").write_text("x")
    assert layout.overlay_layers(str(tmp_path)) == [
        {"path": "/etc", "source": str(tmp_path / "etc")},
        {"path": "/home", "source": str(tmp_path / "home")},
    ]
    assert layout.overlay_layers(None) == []
