"""Server-set metadata and name validation, through the real client."""

from __future__ import annotations

import datetime
import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException


def create(api: client.ApiClient, kind: str, name: str, namespace: str):
    """The create call of `kind` for an object named `name`."""
    meta = {"name": name}
    v1, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    return {
        "namespaces": lambda: v1.create_namespace({"metadata": meta}),
        "services": lambda: v1.create_namespaced_service(
            namespace, {"metadata": meta, "spec": {"ports": [{"port": 80}]}}
        ),
        "configmaps": lambda: v1.create_namespaced_config_map(namespace, {"metadata": meta}),
        "pods": lambda: v1.create_namespaced_pod(
            namespace, {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
        ),
        "roles": lambda: rbac.create_namespaced_role(namespace, {"metadata": meta}),
        "storageclasses": lambda: client.StorageV1Api(api).create_storage_class(
            {"metadata": meta, "provisioner": "example.com/x"}
        ),
    }[kind]()


# kube-apiserver 1.37 words these differently ("must not contain dots", "may not contain
# '/'"): divergence kept (docs/dev/emulator.md), the emulator keeps the older wording
NEWER_WORDING = pytest.mark.emulator_only(
    reason="divergence kept (docs/dev/emulator.md): 1.37 words this name error differently"
)


LABEL = "lowercase RFC 1123 label"
DNS1035 = "DNS-1035 label"
SUBDOMAIN = "lowercase RFC 1123 subdomain"
TOO_LONG = "must be no more than"
SEGMENT = 'may not contain "/" or "%"'


@pytest.mark.parametrize(
    "kind,name,problem",
    [
        # namespaces: RFC 1123 labels, 63 characters
        ("namespaces", "a" * 63, None),
        ("namespaces", "1abc", None),
        ("namespaces", "a" * 64, TOO_LONG),
        pytest.param("namespaces", "a.b", LABEL, marks=NEWER_WORDING),
        ("namespaces", "-a", LABEL),
        ("namespaces", "a-", LABEL),
        ("namespaces", "Ab", LABEL),
        # services: RFC 1035 labels, starting with a letter
        ("services", "abc-1", None),
        pytest.param("services", "1abc", DNS1035, marks=NEWER_WORDING),
        pytest.param("services", "a.b", DNS1035, marks=NEWER_WORDING),
        ("services", "a" * 64, TOO_LONG),
        # most kinds: RFC 1123 subdomains, 253 characters
        ("configmaps", "a.b-c", None),
        ("configmaps", "a" * 253, None),
        ("configmaps", "a" * 254, TOO_LONG),
        ("configmaps", "a..b", SUBDOMAIN),
        ("configmaps", "a_b", SUBDOMAIN),
        ("pods", "jupyter-alice.x", None),
        ("pods", "Jupyter", SUBDOMAIN),
        ("storageclasses", "fast.ssd", None),
        ("storageclasses", "Fast", SUBDOMAIN),
        # RBAC: any path segment
        ("roles", "system:controller:Thing_1", None),
        pytest.param("roles", "a/b", SEGMENT, marks=NEWER_WORDING),
        pytest.param("roles", "..", SEGMENT, marks=NEWER_WORDING),
        pytest.param("roles", "a%b", SEGMENT, marks=NEWER_WORDING),
    ],
)
async def test_name_validation(kube, emulator, kind, name, problem):
    async with kube.api_client() as api:
        if problem is None:
            created = await create(api, kind, name, kube.namespace)
            assert created.metadata.name == name
            if kind in ("namespaces", "storageclasses"):  # cluster-wide: outlive the test
                emulator.delete(kind, name)
            return
        with pytest.raises(ApiException) as error:
            await create(api, kind, name, kube.namespace)
    status = json.loads(error.value.body)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert problem in status["message"]


@pytest.mark.parametrize("prefix", ["jupyter-", "x" * 70])
async def test_generate_name(kube, emulator, prefix):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        made = [
            await v1.create_namespaced_config_map(
                kube.namespace, {"metadata": {"generateName": prefix}}
            )
            for _ in range(2)
        ]
    names = [m.metadata.name for m in made]
    assert names[0] != names[1]
    for name in names:
        assert name.startswith(prefix[:58]) and len(name) == min(len(prefix), 58) + 5


async def test_server_set_metadata_and_resource_versions_across_kinds(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        created = [
            await v1.create_namespaced_config_map(kube.namespace, {"metadata": {"name": "a"}}),
            await v1.create_namespaced_secret(kube.namespace, {"metadata": {"name": "a"}}),
            await v1.create_namespaced_service_account(kube.namespace, {"metadata": {"name": "a"}}),
            await v1.patch_namespaced_config_map(
                "a", kube.namespace, {"metadata": {"labels": {"x": "1"}}}
            ),
        ]
        listed = await v1.list_namespaced_secret(kube.namespace)
    versions = [int(o.metadata.resource_version) for o in created]
    assert versions == sorted(set(versions))
    assert int(listed.metadata.resource_version) >= versions[-1]
    assert len({o.metadata.uid for o in created}) == 3  # the patch kept the configmap's uid
    for obj in created:
        assert obj.metadata.namespace == kube.namespace
        assert obj.metadata.creation_timestamp is not None


async def test_generation_counts_spec_changes_only(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        body = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
        generations = [(await v1.create_namespaced_pod(kube.namespace, body)).metadata.generation]
        for patch in (
            {"metadata": {"labels": {"a": "b"}}},
            {"spec": {"containers": [{"name": "c", "image": "x:2"}]}},
            {"metadata": {"annotations": {"a": "b"}}},
        ):
            patched = await v1.patch_namespaced_pod("p", kube.namespace, patch)
            generations.append(patched.metadata.generation)
        status = await v1.patch_namespaced_pod_status(
            "p", kube.namespace, {"status": {"message": "hello"}}
        )
        generations.append(status.metadata.generation)
    assert generations == [1, 1, 2, 2, 2]


@pytest.mark.emulator_only(reason="the emulator's direct store access")
def test_a_value_the_api_could_not_serve_is_refused_where_it_is_written(emulator):
    # the store copies objects as JSON: a bad value fails at its write, not as a 500 at
    # every later read or watch of the kind, and nothing is stored (a kind without a
    # schema, so that validation does not catch it first)
    body = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": "bad"},
        "driver": "emulator.local/hostpath",
        "deletionPolicy": "Delete",
        "parameters": {"since": datetime.datetime(2026, 1, 1)},
    }
    with pytest.raises(TypeError, match="not JSON serializable"):
        emulator.create(body)
    assert emulator.get("volumesnapshotclasses", "bad") is None
