"""The emulator through the real kubernetes_asyncio client: verbs, errors, selectors, watch."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException


def ours(items: list) -> list[str]:
    """The names of the ConfigMaps a test made: a real cluster's controller manager also
    publishes kube-root-ca.crt in every namespace (the emulator does not)."""
    return sorted(i.metadata.name for i in items if i.metadata.name != "kube-root-ca.crt")


def cm(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": {"a": "b"},
    }


async def test_create_get_conflict_and_not_found(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        created = await v1.create_namespaced_config_map(kube.namespace, cm("one"))
        assert created.metadata.uid and created.metadata.resource_version
        with pytest.raises(ApiException) as exists:
            await v1.create_namespaced_config_map(kube.namespace, cm("one"))
        assert exists.value.status == 409
        with pytest.raises(ApiException) as missing:
            await v1.read_namespaced_config_map("nope", kube.namespace)
        assert missing.value.status == 404


async def test_error_is_a_status_object(kube, emulator):
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).read_namespaced_secret("nope", kube.namespace)
    import json

    status = json.loads(error.value.body)
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'secrets "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "secrets"},
        "code": 404,
    }


@pytest.mark.emulator_only(
    reason="divergence kept (docs/dev/emulator.md): kube-apiserver "
    "drops unknown fields with a warning unless fieldValidation=Strict"
)
async def test_unknown_field_is_invalid(kube, emulator):
    body = cm("bad")
    body["bogus"] = 1
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).create_namespaced_config_map(kube.namespace, body)
    assert error.value.status == 422
    assert "bogus" in error.value.body


@pytest.mark.parametrize("name", ["Upper", "under_score", "x" * 254, "-dash"])
async def test_invalid_names(kube, emulator, name):
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).create_namespaced_config_map(kube.namespace, cm(name))
    assert error.value.status == 422


async def test_create_in_missing_namespace_is_404(kube, emulator):
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).create_namespaced_config_map("ghost", cm("x"))
    assert error.value.status == 404
    assert json.loads(error.value.body)["message"] == 'namespaces "ghost" not found'


async def test_replace_with_stale_resource_version_conflicts(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        first = await v1.create_namespaced_config_map(kube.namespace, cm("c"))
        first.data = {"a": "c"}
        await v1.replace_namespaced_config_map("c", kube.namespace, first)
        first.data = {"a": "d"}
        with pytest.raises(ApiException) as error:
            await v1.replace_namespaced_config_map("c", kube.namespace, first)
    assert error.value.status == 409
    assert "the object has been modified" in error.value.body


LABELLED = {"a": {"app": "x", "tier": "web"}, "b": {"app": "y"}, "c": {"tier": "db"}}


@pytest.mark.parametrize(
    "selector,expected",
    [
        ("app=x", ["a"]),
        ("app==x", ["a"]),
        ("app!=x", ["b", "c"]),
        ("app in (x,y)", ["a", "b"]),
        ("app notin (x)", ["b", "c"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b"]),
        ("app=x,tier=web", ["a"]),
        ("", ["a", "b", "c"]),
    ],
)
async def test_label_selectors(kube, emulator, selector, expected):
    for name, labels in LABELLED.items():
        emulator.create(cm(name, labels), namespace=kube.namespace)
    async with kube.api_client() as api:
        found = await client.CoreV1Api(api).list_namespaced_config_map(
            kube.namespace, label_selector=selector
        )
    assert ours(found.items) == expected


@pytest.mark.parametrize(
    "selector,expected",
    [
        ("metadata.name=a", ["a"]),
        ("metadata.name!=a", ["b", "c"]),
        ("metadata.namespace=={namespace}", ["a", "b", "c"]),
    ],
)
async def test_field_selectors(kube, emulator, selector, expected):
    for name in LABELLED:
        emulator.create(cm(name), namespace=kube.namespace)
    async with kube.api_client() as api:
        found = await client.CoreV1Api(api).list_namespaced_config_map(
            kube.namespace, field_selector=selector.format(namespace=kube.namespace)
        )
    assert ours(found.items) == expected


async def test_unsupported_field_selector_is_bad_request(kube, emulator):
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).list_namespaced_config_map(
                kube.namespace, field_selector="data.a=b"
            )
    assert error.value.status == 400


@pytest.mark.parametrize(
    "content_type,patch",
    [
        ("application/merge-patch+json", {"metadata": {"labels": {"new": "1"}}}),
        ("application/strategic-merge-patch+json", {"metadata": {"labels": {"new": "1"}}}),
        (
            "application/json-patch+json",
            [{"op": "add", "path": "/metadata/labels/new", "value": "1"}],
        ),
    ],
)
async def test_patch_types(kube, emulator, content_type, patch):
    emulator.create(cm("p", {"old": "0"}), namespace=kube.namespace)
    async with kube.api_client() as api:
        api.set_default_header("Content-Type", content_type)
        v1 = client.CoreV1Api(api)
        await v1.patch_namespaced_config_map("p", kube.namespace, patch, _content_type=content_type)
    assert emulator.get("configmaps", "p", kube.namespace)["metadata"]["labels"] == {
        "old": "0",
        "new": "1",
    }


@pytest.mark.emulator_only(reason="tests the emulator's strategic-merge function in process")
async def test_strategic_merge_merges_containers_by_name(kube, emulator):
    from workspace_spawner_testing.emulator.patch import strategic_merge

    pod = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}
    merged = strategic_merge(pod, {"spec": {"containers": [{"name": "b", "image": "3"}]}})
    assert merged["spec"]["containers"] == [
        {"name": "a", "image": "1"},
        {"name": "b", "image": "3"},
    ]


async def test_watch_streams_changes_and_honours_timeout(kube, emulator):
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        listed = await v1.list_namespaced_config_map(kube.namespace)
        rv = listed.metadata.resource_version
        emulator.create(cm("w1"), namespace=kube.namespace)
        emulator.delete("configmaps", "w1", kube.namespace)
        seen = []
        async with watch.Watch().stream(
            v1.list_namespaced_config_map, kube.namespace, resource_version=rv, timeout_seconds=1
        ) as stream:
            async for event in stream:
                seen.append((event["type"], event["raw_object"]["metadata"]["name"]))
    assert seen == [("ADDED", "w1"), ("DELETED", "w1")]


@pytest.mark.emulator_only(reason="compacts the emulator's store history")
async def test_watch_from_compacted_version_is_gone(kube, emulator):
    emulator._call(emulator.store.compact)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        with pytest.raises(ApiException) as error:
            async with watch.Watch().stream(
                v1.list_namespaced_config_map,
                kube.namespace,
                resource_version="1",
                timeout_seconds=1,
            ) as s:
                async for _ in s:
                    pass
    assert error.value.status == 410


async def test_finalizers_hold_deletion(kube, emulator):
    body = cm("f")
    body["metadata"]["finalizers"] = ["example.com/keep"]
    emulator.create(body, namespace=kube.namespace)
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        await v1.delete_namespaced_config_map("f", kube.namespace)
        held = emulator.get("configmaps", "f", kube.namespace)
        assert "deletionTimestamp" in held["metadata"]
        await v1.patch_namespaced_config_map(
            "f", kube.namespace, {"metadata": {"finalizers": None}}
        )
    assert emulator.get("configmaps", "f", kube.namespace) is None


@pytest.mark.emulator_only(reason="holds namespace termination, the emulator's own control")
async def test_namespace_termination_can_be_held(kube, emulator, wait_for):
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    emulator.create(cm("inside"), namespace="gone")
    emulator.hold_namespace_termination("gone")
    async with kube.api_client() as api:
        await client.CoreV1Api(api).delete_namespace("gone")
    await asyncio.sleep(0.2)
    assert emulator.get("namespaces", "gone")["status"]["phase"] == "Terminating"
    emulator.release_namespace_termination("gone")
    await wait_for(lambda: emulator.get("namespaces", "gone") is None)
    assert emulator.get("configmaps", "inside", "gone") is None


@pytest.mark.emulator_only(reason="fault injection and the request log")
async def test_fault_injection_and_request_log(kube, emulator):
    emulator.inject_fault(verb="create", resource="configmaps", status=500)
    emulator.clear_requests()
    async with kube.api_client() as api:
        v1 = client.CoreV1Api(api)
        with pytest.raises(ApiException) as error:
            await v1.create_namespaced_config_map(kube.namespace, cm("x"))
        assert error.value.status == 500
        await v1.create_namespaced_config_map(kube.namespace, cm("x"))
    codes = [(r.verb, r.resource, r.status) for r in emulator.requests]
    assert codes == [("create", "configmaps", 500), ("create", "configmaps", 201)]
    assert emulator.count_writes() == 2


@pytest.mark.emulator_only(reason="writes a kubeconfig of the emulator with a wrong token")
async def test_unknown_token_is_unauthorized(kube, emulator, tmp_path):
    from kubernetes_asyncio import config

    path = emulator.write_kubeconfig(tmp_path / "kc", token="wrong")
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).list_namespace()
    assert error.value.status == 401


@pytest.mark.emulator_only(reason="replaces the emulator's authoriser")
async def test_authorizer_denies_with_forbidden(kube, emulator):
    emulator.authorizer = lambda user, groups, verb, *rest: verb != "delete"
    emulator.create(cm("keep"), namespace=kube.namespace)
    async with kube.api_client() as api:
        with pytest.raises(ApiException) as error:
            await client.CoreV1Api(api).delete_namespaced_config_map("keep", kube.namespace)
    assert error.value.status == 403


@pytest.mark.openshift
async def test_discovery_shows_openshift_mode(kube, openshift_emulator):
    """On the emulator and on the real tier's stand-in (the OpenShift pass), as the admin."""
    from workspace_spawner_testing.controlplane import ADMIN

    name = f"alice-{uuid.uuid4().hex[:8]}" if kube.real else "alice-workspace"
    async with kube.api_client() as api:
        groups = await client.ApisApi(api).get_api_versions()
        assert "project.openshift.io" in [g.name for g in groups.groups]
        objects = client.CustomObjectsApi(api)
        await objects.create_cluster_custom_object(
            "project.openshift.io",
            "v1",
            "projectrequests",
            {
                "apiVersion": "project.openshift.io/v1",
                "kind": "ProjectRequest",
                "metadata": {"name": name},
                "displayName": "Alice",
            },
        )
        try:
            with pytest.raises(ApiException) as error:
                await objects.create_cluster_custom_object(
                    "project.openshift.io", "v1", "projectrequests", {"metadata": {"name": name}}
                )
            assert error.value.status == 409
            project = await objects.get_cluster_custom_object(
                "project.openshift.io", "v1", "projects", name
            )
        finally:
            if kube.real:
                await client.CoreV1Api(api).delete_namespace(name)
    annotations = project["metadata"]["annotations"]
    assert annotations["openshift.io/requester"] == (ADMIN if kube.real else "kubernetes-admin")
    assert annotations["openshift.io/display-name"] == "Alice"


async def test_discovery_without_openshift(kube, emulator):
    """Plain Kubernetes (the emulator's default mode, the plain pass of make test-cluster)."""
    async with kube.api_client() as api:
        groups = await client.ApisApi(api).get_api_versions()
    assert "project.openshift.io" not in [g.name for g in groups.groups]


async def test_a_self_subject_review_names_the_caller(kube):
    """``kubectl auth whoami``: what the hub asks to know its own user name."""
    from workspace_spawner_testing.controlplane import ADMIN

    async with kube.api_client() as api:
        review = await client.AuthenticationV1Api(api).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
    assert review.status.user_info.username == (ADMIN if kube.real else "kubernetes-admin")
    assert "system:masters" in review.status.user_info.groups
