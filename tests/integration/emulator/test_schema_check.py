"""The emulator's compiled schema check answers as jsonschema does.

The emulator checks each write first with the Kubernetes schema compiled into plain
predicates (jsonschema took ~40 ms per pod under a class's load) and asks jsonschema
only about what that check does not pass. Soundness rests on the compiled check never
accepting what jsonschema refuses: here both judge the same objects, valid ones and
mutants of them (an unknown field, a missing field, a value of another type), and must
agree on each; and an invalid object is refused over HTTP with jsonschema's message.
"""

from __future__ import annotations

import copy
import random

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from workspace_spawner_testing.emulator import validation

pytestmark = pytest.mark.emulator_only(reason="the emulator's own schema check, against jsonschema")

META = {
    "name": "jupyter-ana",
    "namespace": "jupyterhub",
    "labels": {"app": "jupyterhub", "component": "singleuser-server"},
    "annotations": {"hub.jupyter.org/username": "ana"},
    "uid": "8b2c7a52-3f0e-4d6b-9a43-0c2f6c1b8e11",
    "resourceVersion": "1234",
    "generation": 1,
    "creationTimestamp": "2026-12-02T04:00:00Z",
    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "u"}],
    "finalizers": ["kubernetes.io/pvc-protection"],
}
SAMPLES = [
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": META,
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "notebook",
                    "image": "quay.io/jupyter/base-notebook:2026-11-30",
                    "args": ["jupyterhub-singleuser"],
                    "env": [
                        {"name": "JUPYTERHUB_USER", "value": "ana"},
                        {
                            "name": "JUPYTERHUB_API_TOKEN",
                            "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}},
                        },
                    ],
                    "ports": [{"containerPort": 8888, "name": "notebook-port", "protocol": "TCP"}],
                    "resources": {"limits": {"memory": "1G"}, "requests": {"cpu": "0.5"}},
                    "securityContext": {"runAsUser": 1000, "allowPrivilegeEscalation": False},
                    "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}],
                    "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "true"]}}},
                }
            ],
            "initContainers": [{"name": "fill", "image": "x:1", "command": ["cp", "-a"]}],
            "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-ana"}}],
            "securityContext": {"fsGroup": 100},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"disk": "ssd"},
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 1,
        },
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.9",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "notebook",
                    "ready": True,
                    "restartCount": 0,
                    "image": "x",
                    "imageID": "x",
                    "state": {"running": {"startedAt": "2026-12-02T04:00:01Z"}},
                }
            ],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": META,
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "dataSource": {
                "apiGroup": "snapshot.storage.k8s.io",
                "kind": "VolumeSnapshot",
                "name": "s",
            },
        },
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}},
    },
    {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": META,
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "n", "uid": "u"},
        "reason": "Pulled",
        "message": "pulled",
        "type": "Normal",
        "count": 2,
        "source": {"component": "kubelet", "host": "node"},
        "firstTimestamp": "2026-12-02T04:00:00Z",
        "lastTimestamp": "2026-12-02T04:00:00Z",
    },
    {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": META,
        "spec": {"hard": {"pods": "2", "requests.storage": "20Gi"}},
        "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}},
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": META,
        "spec": {
            "podSelector": {"matchLabels": {"a": "b"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchExpressions": [
                                    {"key": "k", "operator": "In", "values": ["v"]}
                                ]
                            }
                        }
                    ],
                    "ports": [{"port": 8888, "protocol": "TCP"}],
                }
            ],
        },
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": META,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": "jupyterhub"}],
    },
    {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": META,
        "spec": {"limits": [{"type": "Container", "default": {"memory": "1G"}}]},
    },
    {"apiVersion": "v1", "kind": "Namespace", "metadata": META, "spec": {"finalizers": ["k"]}},
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": META,
        "type": "Opaque",
        "data": {"a": "Yg=="},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": META,
        "spec": {"ports": [{"port": 80, "targetPort": "notebook-port"}], "type": "ClusterIP"},
    },
]
# what a mutant puts in place of a value: other JSON types, and the tricky numbers
REPLACEMENTS = [1, 1.5, 1.0, -3, True, False, "x", "", None, [], {}, ["x"], {"a": "b"}, [1]]


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutants(obj: dict, rng: random.Random, count: int):
    every = list(paths(obj))[1:]
    for _ in range(count):
        mutant = copy.deepcopy(obj)
        path = rng.choice(every)
        parent = mutant
        for part in path[:-1]:
            parent = parent[part]
        how = rng.random()
        if how < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif how < 0.3 and isinstance(parent[path[-1]], dict):
            parent[path[-1]]["unknownField"] = "x"
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
        yield path, mutant


def jsonschema_accepts(kind: str, api_version: str, obj: dict) -> bool:
    return validation._validator(kind, api_version).is_valid(obj)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["kind"])
def test_the_compiled_check_agrees_with_jsonschema_on_objects_and_their_mutants(sample):
    kind, api_version = sample["kind"], sample["apiVersion"]
    check = validation.compiled_check(kind, api_version)
    assert check is not None, "every kind the emulator serves with a schema compiles"
    assert jsonschema_accepts(kind, api_version, sample) and check(sample)
    rng = random.Random(f"{kind}-17")
    verdicts = {True: 0, False: 0}
    for path, mutant in mutants(sample, rng, 120):
        expected = jsonschema_accepts(kind, api_version, mutant)
        assert check(mutant) == expected, (path, mutant)
        verdicts[expected] += 1
    assert verdicts[True] and verdicts[False]  # both kinds of verdict were put to it


async def test_an_invalid_pod_is_refused_with_jsonschemas_message(kube, emulator):
    pod = copy.deepcopy(SAMPLES[0])
    pod["metadata"] = {"name": "bad"}
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "8888"
    del pod["status"]
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).create_namespaced_pod(kube.namespace, pod)
    assert error.value.status == 422
    assert "spec.containers[0].ports[0].containerPort" in error.value.body
    assert "'8888' is not of type 'integer'" in error.value.body
