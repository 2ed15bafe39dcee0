"""SCC admission as admission webhooks, serving the emulator's own rules.

OpenShift admits every pod through its SecurityContextConstraints plugin and gives
every namespace its SCC ranges with the namespace-security-allocation controller.
Here both are webhooks of the kube-apiserver
(https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/),
calling the pure rules of :mod:`workspace_spawner_testing.openshift_scc` that the
emulator's OpenShift mode calls too, so both tiers apply identical rules:

- ``/admission/namespaces`` (mutating, CREATE): the uid block, groups and MCS label
  of a namespace that has none, unique across the cluster;
- ``/admission/pods`` (mutating, CREATE): the pod as the first usable SCC admits it
  (values assigned, ``openshift.io/scc`` set), or a denial with OpenShift's message;
- ``/admission/pods/validate`` (validating, CREATE): the same rules once more after
  every mutating webhook ran, as OpenShift validates after mutation.

The SCCs are the cluster's ``SecurityContextConstraints`` objects (a CRD, as in
OpenShift 4); a pod may use those whose ``users``/``groups`` name its
ServiceAccount, and those its ServiceAccount may ``use`` through RBAC
(``oc adm policy add-scc-to-user``, :meth:`.install.OpenShift.add_scc_to_user`).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import web

from . import ranges
from .upstream import Caller, Upstream

SCC_GROUP = "security.openshift.io"
SCC_PATH = f"/apis/{SCC_GROUP}/v1/securitycontextconstraints"
NAMESPACES_PATH = "/admission/namespaces"
PODS_PATH = "/admission/pods"
PODS_VALIDATE_PATH = "/admission/pods/validate"


def review_response(
    review: dict[str, Any],
    *,
    allowed: bool,
    message: str = "",
    patch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def replace_patch(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902) turning ``old`` into ``new`` at the top-level fields."""
    patch = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            patch.append({"op": "remove", "path": f"/{key}"})
        elif old.get(key) != new[key]:
            patch.append(
                {"op": "add" if key not in old else "replace", "path": f"/{key}", "value": new[key]}
            )
    return patch


def service_account_identity(namespace: str, name: str) -> Caller:
    """A ServiceAccount's user and groups as the kube-apiserver authenticates it."""
    return Caller(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


class SccWebhooks:
    def __init__(self, *, upstream: Upstream, allocator: ranges.Allocator) -> None:
        self.upstream = upstream
        self.allocator = allocator

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(NAMESPACES_PATH, self.namespaces),
            web.post(PODS_PATH, self.pods),
            web.post(PODS_VALIDATE_PATH, self.validate_pods),
        ]

    async def namespaces(self, request: web.Request) -> web.Response:
        review = await request.json()
        namespace = review["request"]["object"]
        annotations = (namespace.get("metadata") or {}).get("annotations") or {}
        if ranges.block_of(annotations) is not None:
            return web.json_response(review_response(review, allowed=True))
        new = {
            **namespace,
            "metadata": {
                **namespace.get("metadata", {}),
                "annotations": {**annotations, **await self.allocator.annotations()},
            },
        }
        return web.json_response(
            review_response(review, allowed=True, patch=replace_patch(namespace, new))
        )

    async def pods(self, request: web.Request) -> web.Response:
        return await self._review(request, mutate=True)

    async def validate_pods(self, request: web.Request) -> web.Response:
        return await self._review(request, mutate=False)

    async def _review(self, request: web.Request, *, mutate: bool) -> web.Response:
        review = await request.json()
        pod = review["request"]["object"]
        verdict = await self._admit(pod, namespace=review["request"]["namespace"])
        if verdict.denial is not None:
            return web.json_response(review_response(review, allowed=False, message=verdict.denial))
        patch = replace_patch(pod, verdict.pod or {}) if mutate else None
        return web.json_response(review_response(review, allowed=True, patch=patch))

    async def _admit(self, pod: dict[str, Any], *, namespace: str) -> Any:
        from .. import openshift_scc  # the deployments helper's module, on main soon

        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        identity = service_account_identity(namespace, account)
        ns = await self.upstream.request("GET", f"/api/v1/namespaces/{namespace}")
        sccs = (await self.upstream.request("GET", SCC_PATH)).get("items", [])
        usable = openshift_scc.usable_sccs(sccs, user=identity.user, groups=identity.groups)
        named = {s["metadata"]["name"] for s in usable}
        others = [s for s in sccs if s["metadata"]["name"] not in named]
        granted = await asyncio.gather(
            *(
                self.upstream.allowed(
                    identity,
                    verb="use",
                    group=SCC_GROUP,
                    resource="securitycontextconstraints",
                    namespace=namespace,
                    name=s["metadata"]["name"],
                )
                for s in others
            )
        )
        usable += [s for s, ok in zip(others, granted, strict=True) if ok]
        return openshift_scc.admit_pod(
            pod,
            namespace_annotations=(ns.get("metadata") or {}).get("annotations") or {},
            sccs=usable,
        )


SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


def scc_crd() -> dict[str, Any]:
    """SecurityContextConstraints as OpenShift 4 serves them: a cluster-scoped CRD whose
    fields sit at the top level of the object (no spec)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"securitycontextconstraints.{SCC_GROUP}"},
        "spec": {
            "group": SCC_GROUP,
            "scope": "Cluster",
            "names": {
                "plural": "securitycontextconstraints",
                "singular": "securitycontextconstraint",
                "kind": "SecurityContextConstraints",
                "shortNames": ["scc"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def webhook_configurations(
    *, url: str, ca_bundle_b64: str, exempt: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The Mutating- and ValidatingWebhookConfiguration calling :class:`SccWebhooks`."""
    selector = {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": [*SYSTEM_NAMESPACES, *exempt],
            }
        ]
    }

    def hook(name: str, path: str, resource: str, *, api_group: str = "") -> dict:
        spec: dict[str, Any] = {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "clientConfig": {"url": url + path, "caBundle": ca_bundle_b64},
            "rules": [
                {
                    "apiGroups": [api_group],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE"],
                    "resources": [resource],
                }
            ],
        }
        if resource == "pods":
            spec["namespaceSelector"] = selector
            # run again when a later mutating webhook changed the pod
            spec["reinvocationPolicy"] = "IfNeeded"
        return spec

    mutating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "workspace-spawner-testing-scc"},
        "webhooks": [
            hook("namespaces.security.openshift.io", NAMESPACES_PATH, "namespaces"),
            hook("pods.security.openshift.io", PODS_PATH, "pods"),
        ],
    }
    validating_hook = hook("pods.validate.security.openshift.io", PODS_VALIDATE_PATH, "pods")
    validating_hook.pop("reinvocationPolicy")
    validating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "workspace-spawner-testing-scc"},
        "webhooks": [validating_hook],
    }
    return [mutating, validating]
