"""The node agent's pure parts: taints as kubelet --register-with-taints takes them, and what
the process runtime reads from the API for a pod (its Secrets, ConfigMaps and tokens)."""

from __future__ import annotations

import argparse

import pytest

from workspace_spawner_testing.nodeagent import parse_taint
from workspace_spawner_testing.podrunner.agent import references, token_requests

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.mark.parametrize(
    "text,taint",
    [
        ("a/b=c:NoSchedule", {"key": "a/b", "value": "c", "effect": "NoSchedule"}),
        ("dedicated:NoExecute", {"key": "dedicated", "effect": "NoExecute"}),
        ("k=v=w:PreferNoSchedule", {"key": "k", "value": "v=w", "effect": "PreferNoSchedule"}),
    ],
)
def test_taints_as_the_kubelet_takes_them(text, taint):
    assert parse_taint(text) == taint


@pytest.mark.parametrize("text", ["k=v", "k=v:Sometimes", ":NoSchedule"])
def test_a_bad_taint_says_the_form(text):
    with pytest.raises(argparse.ArgumentTypeError, match="key=value:Effect"):
        parse_taint(text)


def pod(*, volumes=(), env=(), env_from=(), mounts=(), automount=None) -> dict:
    container = {
        "name": "c",
        "env": list(env),
        "envFrom": list(env_from),
        "volumeMounts": list(mounts),
    }
    spec: dict = {"volumes": list(volumes), "containers": [container]}
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"metadata": {"name": "p"}, "spec": spec}


PROJECTED = {
    "name": "kube-api-access-x",
    "projected": {
        "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
            {"configMap": {"name": "kube-root-ca.crt"}},
            {"secret": {"name": "extra"}},
            {"serviceAccountToken": {"path": "vault", "audience": "vault"}},
        ]
    },
}


@pytest.mark.parametrize(
    "manifest,wanted",
    [
        (pod(volumes=[{"name": "s", "secret": {"secretName": "s1"}}]), {("secrets", "s1")}),
        (pod(volumes=[{"name": "c", "configMap": {"name": "c1"}}]), {("configmaps", "c1")}),
        (pod(volumes=[PROJECTED]), {("configmaps", "kube-root-ca.crt"), ("secrets", "extra")}),
        (
            pod(
                env=[
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "k"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c2", "key": "k"}}},
                    {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "D", "value": "x"},
                ],
                env_from=[{"secretRef": {"name": "s3"}}, {"configMapRef": {"name": "c3"}}],
            ),
            {("secrets", "s2"), ("configmaps", "c2"), ("secrets", "s3"), ("configmaps", "c3")},
        ),
        (pod(volumes=[{"name": "d", "emptyDir": {}}]), set()),
    ],
)
def test_the_objects_a_pod_refers_to(manifest, wanted):
    assert set(references(manifest)) == wanted


@pytest.mark.parametrize(
    "manifest,wanted",
    [
        # the API server's admission added the token volume and its mount
        (
            pod(volumes=[PROJECTED], mounts=[{"name": "kube-api-access-x", "mountPath": SA_DIR}]),
            {(None, 3607), ("vault", 3600)},
        ),
        # none added (the emulator): the runner mounts one itself
        (pod(), {(None, 3607)}),
        (pod(automount=False), set()),
    ],
)
def test_the_tokens_a_pod_is_given(manifest, wanted):
    assert token_requests(manifest) == wanted
