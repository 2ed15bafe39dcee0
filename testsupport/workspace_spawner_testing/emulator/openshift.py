"""OpenShift projects: a Project is a view of a Namespace; a ProjectRequest creates one.

https://docs.openshift.com/container-platform/latest/rest_api/project_apis/project-project-openshift-io-v1.html
https://docs.openshift.com/container-platform/latest/rest_api/project_apis/projectrequest-project-openshift-io-v1.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import validation
from .errors import ApiError, already_exists, not_found
from .selectors import query_selector

if TYPE_CHECKING:
    from aiohttp import web

    from .emulator import Emulator
    from .resources import Target

REQUESTER = "openshift.io/requester"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"
# openshift-apiserver refuses ProjectRequests for the platform's names
# (pkg/project/apiserver/registry/projectrequest/delegated: "is reserved")
RESERVED_PREFIXES = ("openshift-", "kube-")
RESERVED_NAMES = ("openshift", "kubernetes", "kube", "default")


def project_of(namespace: dict) -> dict:
    meta = dict(namespace["metadata"])
    return {
        "apiVersion": "project.openshift.io/v1",
        "kind": "Project",
        "metadata": meta,
        "spec": namespace.get("spec", {}),
        "status": namespace.get("status", {}),
    }


def serve(
    emulator: Emulator, request: web.Request, target: Target, verb: str, body: Any
) -> tuple[dict, int]:
    api, registry = emulator.api, emulator.registry
    namespaces = registry.lookup("namespaces")
    if target.kind.plural == "projectrequests":
        user, groups = _caller(emulator, request)
        if not emulator.authorizer(
            user, groups, "create", "project.openshift.io", "projectrequests", None, None, None
        ):
            if verb == "list":
                # what `oc new-project` asks first: may this user self-provision?
                raise ApiError(
                    403, "You may not request a new project via this API.", kind="projectrequests"
                )
            raise ApiError(
                403,
                f'projectrequests.project.openshift.io is forbidden: User "{user}" cannot '
                'create resource "projectrequests" in API group "project.openshift.io" '
                "at the cluster scope",
                kind="projectrequests",
                group="project.openshift.io",
            )
        if verb == "list":
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}, 200
        return request_project(emulator, body, user=user), 201
    name = target.name or ""
    if verb == "get":
        ns = api.store.get(namespaces, "", name)
        if ns is None:
            raise not_found("projects", name, group="project.openshift.io")
        return project_of(ns), 200
    if verb == "list":
        # only the namespaces the caller may get, as OpenShift's project list
        # (its authorization cache reviews "get namespaces" in each)
        user, groups = _caller(emulator, request)
        selector = query_selector(request.query, supports=target.kind.supports_field)
        items = [
            project_of(ns)
            for ns in api.list(namespaces, None, selector)
            if emulator.authorizer(
                user,
                groups,
                "get",
                "",
                "namespaces",
                None,
                ns["metadata"]["name"],
                ns["metadata"]["name"],
            )
        ]
        return {
            "kind": "ProjectList",
            "apiVersion": "project.openshift.io/v1",
            "metadata": {"resourceVersion": str(api.store.rv)},
            "items": items,
        }, 200
    if verb == "delete":
        if api.store.get(namespaces, "", name) is None:
            raise not_found("projects", name, group="project.openshift.io")
        api.delete(namespaces, "", name)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": "project.openshift.io", "kind": "projects"},
        }, 200
    raise ApiError(
        405,
        "the server does not allow this method on the requested resource",
        reason="MethodNotAllowed",
    )


def request_project(emulator: Emulator, body: Any, *, user: str) -> dict:
    kind = emulator.registry.lookup("projectrequests")
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request must be a JSON object")
    body.setdefault("apiVersion", kind.api_version)
    body.setdefault("kind", kind.kind)
    name = (body.get("metadata") or {}).get("name", "")
    validation.check_name(kind, name)
    validation.check_schema(kind, body)
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        raise ApiError(
            403,
            f'cannot request a project with the name "{name}": it is reserved for the platform',
            kind="projectrequests",
            name=name,
        )
    namespaces = emulator.registry.lookup("namespaces")
    if emulator.store.get(namespaces, "", name) is not None:
        raise already_exists("projects", name, group="project.openshift.io")
    annotations = {
        REQUESTER: user,
        DISPLAY_NAME: body.get("displayName", ""),
        DESCRIPTION: body.get("description", ""),
    }
    ns = emulator.api.create(namespaces, {"metadata": {"name": name, "annotations": annotations}})
    if user:
        # the default project template makes the requester the project's admin
        # (oc adm create-bootstrap-project-template)
        emulator.api.create(
            emulator.registry.lookup("rolebindings"),
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "admin", "namespace": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "admin",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        )
    return project_of(ns)


def _caller(emulator: Emulator, request: web.Request) -> tuple[str, list[str]]:
    header = request.headers.get("Authorization", "")
    return emulator.tokens.get(header[7:], ("", []))
