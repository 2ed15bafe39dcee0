"""``project.openshift.io/v1`` as an aggregated API server, for the real control plane.

The kube-apiserver's aggregator proxies ``/apis/project.openshift.io/v1/...`` here
(https://kubernetes.io/docs/concepts/extend-kubernetes/api-extension/apiserver-aggregation/)
after authenticating and authorizing the caller with its own RBAC. It tells who the
caller is in X-Remote-User/X-Remote-Group/X-Remote-Extra-* headers, which this server
believes only from a client certificate signed by the requestheader CA with one of the
allowed names, as every aggregated API server must
(https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/#authentication-flow).

What it serves, after openshift-apiserver (pkg/project/apiserver/registry in
github.com/openshift/openshift-apiserver):

- ``projectrequests`` create: the Namespace with OpenShift's annotations (requester,
  display name, description, the SCC ranges) and the default project template's
  ``admin`` RoleBinding for the requester; list: a success Status when the caller may
  create one (what ``oc new-project`` asks first), Forbidden otherwise.
- ``projects`` get and list: the namespaces the caller may ``get``, asked with a
  SubjectAccessReview; delete: deletes the namespace; update and patch: only the
  display name and description, labels are immutable here.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from ..emulator.patch import merge_patch
from . import ranges
from .upstream import Caller, Upstream, UpstreamError

GROUP = "project.openshift.io"
VERSION = "v1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
REQUESTER = "openshift.io/requester"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"
# the annotations a Project update may change (openshift-apiserver's
# ValidateProjectUpdate); everything else is the Namespace's
MUTABLE_ANNOTATIONS = (DISPLAY_NAME, DESCRIPTION)
# names a ProjectRequest may not take (openshift-apiserver's projectrequest
# validation: the platform's own prefixes)
RESERVED_PREFIXES = ("openshift-", "kube-")
RESERVED_NAMES = ("openshift", "kubernetes", "kube", "default")
# the group the kube-apiserver's pass-through grant on projects is bound to
PASS_THROUGH_GROUP = "system:authenticated"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

RESOURCES = [
    {
        "name": "projectrequests",
        "singularName": "projectrequest",
        "namespaced": False,
        "kind": "ProjectRequest",
        "verbs": ["create", "list"],
    },
    {
        "name": "projects",
        "singularName": "project",
        "namespaced": False,
        "kind": "Project",
        "verbs": ["delete", "get", "list", "patch", "update"],
    },
]


class StatusError(Exception):
    """An answer as a Kubernetes Status."""

    def __init__(
        self, code: int, reason: str, message: str, *, name: str = "", kind: str = "projects"
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = {"name": name, "group": GROUP, "kind": kind} if name else None

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return web.json_response(body, status=self.code)


def forbidden(caller: Caller, verb: str, resource: str, name: str = "") -> StatusError:
    target = f'{resource}.{GROUP} "{name}"' if name else f"{resource}.{GROUP}"
    return StatusError(
        403,
        "Forbidden",
        f'{target} is forbidden: User "{caller.user}" cannot {verb} resource '
        f'"{resource}" in API group "{GROUP}"'
        + (f' in the namespace "{name}"' if name else " at the cluster scope"),
        name=name,
        kind=resource,
    )


def success(**details: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    }
    if details:
        body["details"] = details
    return body


def project_of(namespace: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Project",
        "apiVersion": GROUP_VERSION,
        "metadata": namespace.get("metadata", {}),
        "spec": namespace.get("spec", {}),
        "status": namespace.get("status", {}),
    }


def admin_binding(*, namespace: str, requester: str) -> dict[str, Any]:
    """The default project template's RoleBinding: the requester is the project's admin
    (``oc adm create-bootstrap-project-template``)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "admin", "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "admin",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": requester}],
    }


class ProjectAPI:
    """The handlers; ``upstream`` is the kube-apiserver, as this server's own identity."""

    def __init__(
        self, *, upstream: Upstream, allowed_names: tuple[str, ...], allocator: ranges.Allocator
    ) -> None:
        self.upstream = upstream
        self.allowed_names = allowed_names
        self.allocator = allocator

    # -- who asks ---------------------------------------------------------------------

    def caller(self, request: web.Request) -> Caller:
        """The aggregator's word on the caller, taken only from its client certificate."""
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        if not peer:
            raise StatusError(
                401,
                "Unauthorized",
                "a client certificate signed by the requestheader CA is required",
            )
        names = {
            value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"
        }
        if self.allowed_names and not names & set(self.allowed_names):
            raise StatusError(
                401,
                "Unauthorized",
                f"client certificate {sorted(names)} is not one of the "
                f"requestheader allowed names {list(self.allowed_names)}",
            )
        user = request.headers.get("X-Remote-User", "")
        if not user:
            raise StatusError(401, "Unauthorized", "no X-Remote-User header")
        groups = tuple(request.headers.getall("X-Remote-Group", ()))
        extra: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            if key.lower().startswith("x-remote-extra-"):
                extra.setdefault(unquote(key[len("x-remote-extra-") :]).lower(), []).append(value)
        return Caller(user, groups, extra)

    async def allowed(
        self,
        caller: Caller,
        verb: str,
        resource: str,
        *,
        group: str = GROUP,
        namespace: str = "",
        name: str = "",
    ) -> bool:
        return await self.upstream.allowed(
            caller, verb=verb, resource=resource, group=group, namespace=namespace, name=name
        )

    # -- discovery --------------------------------------------------------------------

    async def api_group_list(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._api_group()]}
        )

    async def api_group(self, request: web.Request) -> web.Response:
        return web.json_response(self._api_group())

    def _api_group(self) -> dict[str, Any]:
        version = {"groupVersion": GROUP_VERSION, "version": VERSION}
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": GROUP,
            "versions": [version],
            "preferredVersion": version,
        }

    async def api_resources(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": GROUP_VERSION,
                "resources": RESOURCES,
            }
        )

    # -- projectrequests --------------------------------------------------------------

    async def list_project_requests(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        # openshift-apiserver's projectrequest List: the answer to "may I self-provision?"
        if not await self.allowed(caller, "create", "projectrequests"):
            raise StatusError(
                403,
                "Forbidden",
                "You may not request a new project via this API.",
                kind="projectrequests",
            )
        return web.json_response(success())

    async def create_project_request(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        if not await self.allowed(caller, "create", "projectrequests"):
            raise forbidden(caller, "create", "projectrequests")
        body = await _json_body(request)
        name = (body.get("metadata") or {}).get("name", "")
        _check_project_name(name)
        if request.query.get("dryRun"):
            raise StatusError(400, "BadRequest", "dryRun is not served by this stand-in")
        annotations = {
            REQUESTER: caller.user,
            DISPLAY_NAME: str(body.get("displayName") or ""),
            DESCRIPTION: str(body.get("description") or ""),
        }
        namespace = await self._create_namespace(name, annotations)
        try:
            await self.upstream.request(
                "POST",
                f"/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings",
                admin_binding(namespace=name, requester=caller.user),
            )
        except UpstreamError:
            # as openshift-apiserver does when the template fails: no half-made project
            await self.upstream.request("DELETE", f"/api/v1/namespaces/{name}")
            raise
        return web.json_response(project_of(namespace), status=201)

    async def _create_namespace(self, name: str, annotations: dict[str, str]) -> dict:
        # OpenShift's namespace-security-allocation controller sets the SCC ranges just
        # after; here they are there from the start (and the namespace webhook, which
        # gives them to every other namespace, leaves them as they are)
        annotations = {**annotations, **await self.allocator.annotations()}
        try:
            return await self.upstream.request(
                "POST",
                "/api/v1/namespaces",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name, "annotations": annotations},
                },
            )
        except UpstreamError as e:
            if e.status == 409:
                raise StatusError(
                    409, "AlreadyExists", f'project.{GROUP} "{name}" already exists', name=name
                ) from e
            raise

    # -- projects -----------------------------------------------------------------------

    async def list_projects(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        if "watch" in request.query and request.query["watch"] not in ("", "0", "false"):
            raise StatusError(
                405, "MethodNotAllowed", "watching projects is not served by this stand-in"
            )
        query = {k: v for k, v in request.query.items() if k in ("labelSelector", "fieldSelector")}
        path = "/api/v1/namespaces" + _query_string(query)
        namespaces = await self.upstream.request("GET", path)
        items = namespaces.get("items", [])
        # OpenShift's project list is the namespaces the caller may "get"
        # (openshift-apiserver's project authorization cache reviews exactly that)
        visible = await asyncio.gather(
            *(
                self.allowed(
                    caller,
                    "get",
                    "namespaces",
                    group="",
                    namespace=ns["metadata"]["name"],
                    name=ns["metadata"]["name"],
                )
                for ns in items
            )
        )
        projects = [project_of(ns) for ns, ok in zip(items, visible, strict=True) if ok]
        return web.json_response(
            {
                "kind": "ProjectList",
                "apiVersion": GROUP_VERSION,
                "metadata": {
                    "resourceVersion": namespaces.get("metadata", {}).get("resourceVersion", "")
                },
                "items": projects,
            }
        )

    async def get_project(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        name = request.match_info["name"]
        await self._require(caller, "get", name, resource="namespaces", group="")
        return web.json_response(project_of(await self._namespace(name)))

    async def delete_project(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        name = request.match_info["name"]
        await self._require(caller, "delete", name)
        try:
            await self.upstream.request("DELETE", f"/api/v1/namespaces/{name}")
        except UpstreamError as e:
            raise _passed_on(e, name) from e
        return web.json_response(success(name=name, group=GROUP, kind="projects"))

    async def update_project(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        name = request.match_info["name"]
        await self._require(caller, "update" if request.method == "PUT" else "patch", name)
        namespace = await self._namespace(name)
        body = await _json_body(request)
        if request.method == "PUT":
            new = body
        elif request.content_type in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ):
            new = merge_patch(project_of(namespace), body)
        else:
            raise StatusError(
                415,
                "UnsupportedMediaType",
                f"{request.content_type} patches are not served by this "
                "stand-in: use a merge patch",
            )
        old_meta, new_meta = namespace["metadata"], new.get("metadata") or {}
        if (new_meta.get("labels") or {}) != (old_meta.get("labels") or {}):
            raise _immutable(name, "metadata.labels")
        old_annotations = dict(old_meta.get("annotations") or {})
        new_annotations = dict(new_meta.get("annotations") or {})
        for key in MUTABLE_ANNOTATIONS:
            old_annotations.pop(key, None)
            new_annotations.pop(key, None)
        if new_annotations != old_annotations:
            raise _immutable(name, "metadata.annotations")
        changes = {key: (new_meta.get("annotations") or {}).get(key) for key in MUTABLE_ANNOTATIONS}
        updated = await self.upstream.request(
            "PATCH",
            f"/api/v1/namespaces/{name}",
            {"metadata": {"annotations": changes}},
            content_type="application/merge-patch+json",
        )
        return web.json_response(project_of(updated))

    async def _require(
        self,
        caller: Caller,
        verb: str,
        name: str,
        *,
        resource: str = "projects",
        group: str = GROUP,
    ) -> None:
        """OpenShift authorizes a request for project X as one in namespace X, so the
        project's RoleBindings decide (the projectRequestInfoResolver of OpenShift's
        kube-apiserver). A plain kube-apiserver sees a cluster-scoped request and lets
        it through only on the cluster-wide grant to ``system:authenticated`` that
        :mod:`.install` makes (:data:`PASS_THROUGH_GROUP`); so that grant is left out
        of this check, which is the real one."""
        if resource == "projects":
            caller = Caller(
                caller.user,
                tuple(g for g in caller.groups if g != PASS_THROUGH_GROUP),
                caller.extra,
            )
        if not await self.allowed(caller, verb, resource, group=group, namespace=name, name=name):
            raise forbidden(caller, verb, "projects", name)

    async def _namespace(self, name: str) -> dict[str, Any]:
        try:
            return await self.upstream.request("GET", f"/api/v1/namespaces/{name}")
        except UpstreamError as e:
            raise _passed_on(e, name) from e

    # -- the application ----------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        base = f"/apis/{GROUP}/{VERSION}"
        return [
            web.get("/apis", self.api_group_list),
            web.get(f"/apis/{GROUP}", self.api_group),
            web.get(base, self.api_resources),
            web.get(f"{base}/projectrequests", self.list_project_requests),
            web.post(f"{base}/projectrequests", self.create_project_request),
            web.get(f"{base}/projects", self.list_projects),
            web.get(f"{base}/projects/{{name}}", self.get_project),
            web.delete(f"{base}/projects/{{name}}", self.delete_project),
            web.put(f"{base}/projects/{{name}}", self.update_project),
            web.patch(f"{base}/projects/{{name}}", self.update_project),
        ]


def _check_project_name(name: str) -> None:
    if not name or len(name) > 63 or not _DNS_LABEL.match(name):
        raise StatusError(
            422,
            "Invalid",
            f'ProjectRequest.{GROUP} "{name}" is invalid: metadata.name: Invalid '
            f'value: "{name}": a lowercase RFC 1123 label must consist of lower '
            "case alphanumeric characters or '-', at most 63 characters",
            name=name,
            kind="ProjectRequest",
        )
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        raise StatusError(
            403,
            "Forbidden",
            f'cannot request a project with the name "{name}": it is reserved for the platform',
            name=name,
            kind="projectrequests",
        )


def _immutable(name: str, field: str) -> StatusError:
    return StatusError(
        422,
        "Invalid",
        f'Project.{GROUP} "{name}" is invalid: {field}: Invalid value: field is '
        "immutable, try updating the namespace",
        name=name,
        kind="Project",
    )


def _passed_on(error: UpstreamError, name: str) -> StatusError:
    if error.status == 404:
        return StatusError(404, "NotFound", f'projects.{GROUP} "{name}" not found', name=name)
    return StatusError(
        error.status,
        str(error.body.get("reason", "")),
        str(error.body.get("message", error)),
        name=name,
    )


def _query_string(query: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return "?" + urlencode(query) if query else ""


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as e:
        raise StatusError(400, "BadRequest", f"the body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise StatusError(400, "BadRequest", "the body of the request must be a JSON object")
    return body


@web.middleware
async def _status_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except StatusError as e:
        return e.response()
    except UpstreamError as e:
        return web.json_response(
            e.body or {"kind": "Status", "status": "Failure", "code": e.status}, status=e.status
        )


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def serving_context(*, cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """TLS that asks for a client certificate and verifies it against ``client_ca``.

    Optional rather than required, so that one server also answers the admission
    webhooks, which the kube-apiserver calls without a client certificate; every
    project route still refuses a request without one (:meth:`ProjectAPI.caller`).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


class OpenShiftServer:
    """The stand-in openshift-apiserver, and the SCC webhooks (``scc``), on one TLS port
    in a thread of its own."""

    def __init__(
        self,
        *,
        upstream: Upstream,
        cert: Path,
        key: Path,
        client_ca: Path,
        allowed_names: tuple[str, ...],
        scc: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = upstream
        self.host, self.port = host, port
        self._context = serving_context(cert=cert, key=key, client_ca=client_ca)
        self._allowed_names = allowed_names
        self._scc = scc
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.allocator: ranges.Allocator | None = None

    def app(self) -> web.Application:
        from .admission import SccWebhooks

        async def list_namespaces() -> list[dict[str, Any]]:
            return (await self.upstream.request("GET", "/api/v1/namespaces")).get("items", [])

        self.allocator = allocator = ranges.Allocator(list_namespaces=list_namespaces)
        app = web.Application(middlewares=[_status_errors])
        api = ProjectAPI(
            upstream=self.upstream, allowed_names=self._allowed_names, allocator=allocator
        )
        app.add_routes(api.routes())
        app.add_routes([web.get(p, _ok) for p in ("/healthz", "/livez", "/readyz")])
        if self._scc:
            app.add_routes(SccWebhooks(upstream=self.upstream, allocator=allocator).routes())
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.upstream.close()

    def start_in_thread(self) -> OpenShiftServer:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:  # noqa: BLE001 - handed to the starting thread
                failure.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="openshift-apiserver", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def call(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the server's loop, from another thread; its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = self._thread = None
