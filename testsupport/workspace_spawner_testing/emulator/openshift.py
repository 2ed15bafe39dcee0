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
        if verb == "list":
            # listing project requests only tells whether the user may create one
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}, 200
        return request_project(emulator, body, user=_user(emulator, request)), 201
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


def _user(emulator: Emulator, request: web.Request) -> str:
    return _caller(emulator, request)[0]


def _caller(emulator: Emulator, request: web.Request) -> tuple[str, list[str]]:
    header = request.headers.get("Authorization", "")
    return emulator.tokens.get(header[7:], ("", []))
