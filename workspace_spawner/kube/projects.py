"""API I/O of the per-user project: Namespace or ProjectRequest, and the objects in it.

Thin, idempotent, keyword-only coroutines: a create answering 409 is "already
there" (and is then replaced where the caller wants the object to match), a
delete answering 404 is "already gone". Anything else raises :class:`KubeError`
naming the verb and resource, which is what a hub admin must grant on a 403.

Like every module of :mod:`workspace_spawner.kube`, each function takes the
caller's ``CoreV1Api`` as ``api=`` (KubeSpawner's ``self.api``); the other API
groups (RBAC, networking, OpenShift's custom objects) are reached through its
``api_client``, so they share its connection pool and configuration.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import (
    ApisApi,
    AuthenticationV1Api,
    CoreV1Api,
    CustomObjectsApi,
    NetworkingV1Api,
    RbacAuthorizationV1Api,
)
from kubernetes_asyncio.client.exceptions import ApiException

from ..constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from . import kube_error, plain, tolerating

__all__ = [
    "detect_openshift",
    "own_user_name",
    "read_namespace",
    "read_service_account",
    "create_namespace",
    "create_project_request",
    "patch_namespace",
    "delete_project",
    "apply_object",
    "delete_object",
    "is_managed",
]

OPENSHIFT_PROJECT_GROUP = "project.openshift.io"


async def detect_openshift(*, api: CoreV1Api) -> bool:
    """True when API discovery lists project.openshift.io (https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api)."""
    try:
        groups = await ApisApi(api.api_client).get_api_versions()
    except ApiException as e:
        raise kube_error(e, action="list the API groups (GET /apis) to detect OpenShift") from e
    return any(g.name == OPENSHIFT_PROJECT_GROUP for g in groups.groups or [])


async def own_user_name(*, api: CoreV1Api) -> str | None:
    """The user name the API server knows this client by, from a SelfSubjectReview
    (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#self-subject-review,
    GA in Kubernetes 1.28, OpenShift 4.15); None where it is not served or not allowed."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        review = await AuthenticationV1Api(api.api_client).create_self_subject_review(body)
    except ApiException as e:
        if e.status in (403, 404):
            return None
        raise kube_error(e, action="create selfsubjectreviews (who is the hub?)") from e
    return review.status.user_info.username


async def read_namespace(*, api: CoreV1Api, name: str) -> dict[str, Any] | None:
    """The Namespace, or None when there is none."""
    _, namespace = await tolerating(
        404,
        plain(api.read_namespace(name, _preload_content=False)),
        action=f"get namespaces {name}",
    )
    return namespace


async def read_service_account(
    *, api: CoreV1Api, namespace: str, name: str
) -> dict[str, Any] | None:
    """The ServiceAccount, or None when there is none."""
    _, account = await tolerating(
        404,
        plain(api.read_namespaced_service_account(name, namespace, _preload_content=False)),
        action=f"get serviceaccounts {name} in {namespace}",
    )
    return account


async def create_namespace(*, api: CoreV1Api, body: dict[str, Any]) -> dict[str, Any] | None:
    """Create the Namespace; None when it was already there (the caller reads it)."""
    _, namespace = await tolerating(
        409,
        plain(api.create_namespace(body, _preload_content=False)),
        action=f"create namespaces {body['metadata']['name']}",
    )
    return namespace


async def create_project_request(*, api: CoreV1Api, body: dict[str, Any]) -> dict[str, Any] | None:
    """Ask OpenShift for a project; the answer is the Project. None when it exists already."""
    _, project = await tolerating(
        409,
        CustomObjectsApi(api.api_client).create_cluster_custom_object(
            OPENSHIFT_PROJECT_GROUP, "v1", "projectrequests", body
        ),
        action=f"create projectrequests.project.openshift.io {body['metadata']['name']}",
    )
    return project


async def patch_namespace(*, api: CoreV1Api, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Merge-patch the Namespace (labels, annotations); the patched Namespace."""
    try:
        return await plain(
            api.patch_namespace(
                name,
                patch,
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
        )
    except ApiException as e:
        raise kube_error(e, action=f"patch namespaces {name}") from e


async def delete_project(*, api: CoreV1Api, name: str, openshift: bool) -> bool:
    """Delete the project (its Namespace and all in it). False if it was already gone.

    On OpenShift through the Project, which the requester (the hub) may delete as
    the project's admin, so the hub needs no cluster-wide right to delete namespaces.
    """
    if openshift:
        request = CustomObjectsApi(api.api_client).delete_cluster_custom_object(
            OPENSHIFT_PROJECT_GROUP, "v1", "projects", name
        )
        resource = "projects.project.openshift.io"
    else:
        request, resource = api.delete_namespace(name), "namespaces"
    deleted, _ = await tolerating(404, request, action=f"delete {resource} {name}")
    return deleted


# kind -> (its API group, plural as RBAC names it, the suffix of its *_namespaced_* methods)
_METHODS = {
    "ResourceQuota": ("core", "resourcequotas", "resource_quota"),
    "LimitRange": ("core", "limitranges", "limit_range"),
    "ServiceAccount": ("core", "serviceaccounts", "service_account"),
    "Secret": ("core", "secrets", "secret"),
    "RoleBinding": ("rbac", "rolebindings", "role_binding"),
    "NetworkPolicy": ("networking", "networkpolicies", "network_policy"),
}
_GROUPS = {"rbac": "rbac.authorization.k8s.io", "networking": "networking.k8s.io"}


def _group_api(kind: str, api: CoreV1Api) -> tuple[Any, str, str]:
    which, plural, method = _METHODS[kind]
    if which == "rbac":
        return RbacAuthorizationV1Api(api.api_client), plural, method
    if which == "networking":
        return NetworkingV1Api(api.api_client), plural, method
    return api, plural, method


def _resource(kind: str, plural: str) -> str:
    group = _GROUPS.get(_METHODS[kind][0])
    return f"{plural}.{group}" if group else plural


def is_managed(obj: dict[str, Any]) -> bool:
    """True when workspace-spawner made ``obj`` (its managed-by label)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


async def apply_object(
    *,
    api: CoreV1Api,
    body: dict[str, Any],
    keep_unmanaged: bool = False,
) -> dict[str, Any]:
    """Create ``body``, or bring the object of that name in line with it.

    A ServiceAccount is merge-patched, never replaced: its controllers' fields
    (``secrets``, ``imagePullSecrets``, OpenShift's dockercfg annotations) stay
    (https://docs.openshift.com/container-platform/latest/authentication/using-service-accounts-in-applications.html).
    Other kinds are replaced; with ``keep_unmanaged``, an existing object without
    workspace-spawner's managed-by label (an admin's) is returned untouched instead.
    A RoleBinding's roleRef cannot change
    (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#clusterrolebinding-example):
    when the role changed, the binding is deleted and made again.
    """
    kind = body["kind"]
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    group, plural, method = _group_api(kind, api)
    resource = _resource(kind, plural)
    try:
        return await plain(
            getattr(group, f"create_namespaced_{method}")(namespace, body, _preload_content=False)
        )
    except ApiException as e:
        if e.status != 409:
            raise kube_error(e, action=f"create {resource} {name} in {namespace}") from e
    again = dict(api=api, body=body, keep_unmanaged=keep_unmanaged)
    try:
        if kind == "ServiceAccount":
            patch = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
            patch["metadata"] = {k: body["metadata"][k] for k in ("labels", "annotations")}
            return await plain(
                group.patch_namespaced_service_account(
                    name,
                    namespace,
                    patch,
                    _content_type="application/merge-patch+json",
                    _preload_content=False,
                )
            )
        if keep_unmanaged:
            existing = await plain(
                getattr(group, f"read_namespaced_{method}")(name, namespace, _preload_content=False)
            )
            if not is_managed(existing):
                return existing
        return await plain(
            getattr(group, f"replace_namespaced_{method}")(
                name, namespace, body, _preload_content=False
            )
        )
    except ApiException as e:
        if e.status == 422 and kind == "RoleBinding":
            await delete_object(api=api, kind=kind, name=name, namespace=namespace)
            return await apply_object(**again)
        if e.status == 404:  # deleted between the two requests
            return await apply_object(**again)
        raise kube_error(e, action=f"update {resource} {name} in {namespace}") from e


async def delete_object(*, api: CoreV1Api, kind: str, name: str, namespace: str) -> bool:
    """Delete one object; False when it was already gone."""
    group, plural, method = _group_api(kind, api)
    deleted, _ = await tolerating(
        404,
        getattr(group, f"delete_namespaced_{method}")(name, namespace),
        action=f"delete {_resource(kind, plural)} {name} in {namespace}",
    )
    return deleted
