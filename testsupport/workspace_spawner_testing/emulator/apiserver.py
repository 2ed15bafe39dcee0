"""The API server's object semantics, below HTTP: create, read, replace, patch, delete.

Server-set fields, optimistic concurrency, finalizers, graceful deletion and the
admission chain (mutating -> schema validation -> validating), as in
https://kubernetes.io/docs/reference/using-api/api-concepts/ and
https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import validation
from .errors import ApiError, already_exists, conflict, forbidden, not_found
from .patch import apply_patch
from .resources import Kind, Registry
from .selectors import Selector
from .store import Store


def now_iso(offset: float = 0) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Operation:
    """What an admission plugin sees (CREATE or UPDATE, the new and the old object)."""

    verb: str
    kind: Kind
    obj: dict
    old: dict | None = None
    subresource: str | None = None


Admission = Callable[[Operation], None]

# kinds whose delete answers with the deleted object rather than a Status
_RETURNS_OBJECT = {"pods", "persistentvolumeclaims", "namespaces", "services"}


@dataclass
class ApiServer:
    registry: Registry
    store: Store
    # mutating plugins run before schema validation, validating plugins after it
    mutating: list[Admission] = field(default_factory=list)
    validating: list[Admission] = field(default_factory=list)
    # asked before a claim binds: None, or why it cannot bind yet (a claim restored from
    # a snapshot that is not ready)
    bind_checks: list[Callable[[dict], str | None]] = field(default_factory=list)
    # the controllers' events by their aggregation key (events.record_event)
    event_names: dict[tuple, str] = field(default_factory=dict)

    # -- reading --------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict:
        obj = self.store.get(kind, namespace if kind.namespaced else "", name)
        if obj is None:
            raise not_found(kind.plural, name, group=kind.group)
        return obj

    def list(self, kind: Kind, namespace: str | None, selector: Selector) -> list[dict]:
        return [json.loads(text) for text in self.list_texts(kind, namespace, selector)]

    def list_texts(self, kind: Kind, namespace: str | None, selector: Selector) -> list[str]:
        """The matches' JSON: the selector reads the stored objects, its field=value
        terms pick the candidates from the store's indexes."""
        return self.store.texts(
            kind,
            namespace if kind.namespaced else None,
            selector.matches,
            equal=selector.equalities(),
        )

    # -- writing --------------------------------------------------------------------

    def create(
        self, kind: Kind, body: Any, *, namespace: str | None = None, validate: bool = True
    ) -> dict:
        obj = self._check_body(kind, body)
        meta = obj["metadata"]
        if kind.namespaced:
            namespace = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request",
                )
            meta["namespace"] = namespace
            self._check_namespace_open(kind, namespace, meta.get("name", ""))
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            # https://kubernetes.io/docs/reference/using-api/api-concepts/#generated-values
            # the prefix is cut to 58 characters so the name fits a 63-character label
            # (k8s.io/apiserver/pkg/storage/names: maxGeneratedNameLength)
            alphabet = "bcdfghjklmnpqrstvwxz2456789"
            meta["name"] = meta["generateName"][:58] + "".join(
                secrets.choice(alphabet) for _ in range(5)
            )
        validation.check_name(kind, meta.get("name", ""))
        if self.store.contains(kind, meta.get("namespace", ""), meta["name"]):
            raise already_exists(kind.plural, meta["name"], group=kind.group)
        for key in (
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        if "spec" in obj or kind.plural in ("pods", "persistentvolumeclaims"):
            meta["generation"] = 1
        apply_defaults(kind, obj)
        self._admit(Operation("create", kind, obj), validate=validate)
        return self.store.put(kind, obj)

    def replace(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        validate: bool = True,
    ) -> dict:
        old = self.get(kind, namespace, name)
        obj = self._check_body(kind, body)
        if obj["metadata"].get("name", name) != name:
            raise ApiError(
                400,
                f"the name of the object ({obj['metadata']['name']}) does not "
                f"match the name on the URL ({name})",
            )
        sent_rv = obj["metadata"].get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind.plural, name, group=kind.group)
        return self._update(kind, old, obj, subresource=subresource, validate=validate)

    def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        validate: bool = True,
    ) -> dict:
        old = self.get(kind, namespace, name)
        patched = apply_patch(old, body, content_type)
        if not isinstance(patched, dict):
            raise ApiError(422, "patch did not produce an object", reason="Invalid")
        sent_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind.plural, name, group=kind.group)
        return self._update(kind, old, patched, subresource=subresource, validate=validate)

    def write(self, kind: Kind, obj: dict) -> dict:
        """A controller's write (kubelet, provisioner): no admission, no validation."""
        return self.store.put(kind, obj)

    def delete(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        *,
        grace: int | None = None,
        preconditions: dict | None = None,
    ) -> dict:
        """Delete or start deleting; returns what the API answers with."""
        obj = self.get(kind, namespace, name)
        meta = obj["metadata"]
        # DeleteOptions.preconditions: the object must still be the one the client read
        # https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/
        for key, field_name in (("uid", "uid"), ("resourceVersion", "resourceVersion")):
            wanted = (preconditions or {}).get(key)
            if wanted and wanted != meta.get(field_name):
                raise ApiError(
                    409,
                    (
                        f'Operation cannot be fulfilled on {kind.key} "{name}": the {key} in the '
                        f"precondition ({wanted}) does not match the {key} in record "
                        f"({meta.get(field_name)}). The object might have been modified"
                    ),
                    reason="Conflict",
                )
        if kind.plural == "namespaces":
            # https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
            if "deletionTimestamp" not in meta:
                meta["deletionTimestamp"] = now_iso()
                meta["deletionGracePeriodSeconds"] = 0
                obj.setdefault("status", {})["phase"] = "Terminating"
                obj = self.store.put(kind, obj)
            return obj
        if kind.plural == "pods" and self._delete_gracefully(obj, grace):
            return self.store.put(kind, obj)
        if meta.get("finalizers"):
            if kind.plural == "pods" and "deletionTimestamp" in meta and grace == 0:
                # the kubelet's final delete of a pod it stopped: gone once its finalizers
                # are (a grace period of 0 is what lets the last finalizer's removal delete)
                if meta.get("deletionGracePeriodSeconds") != 0:
                    meta["deletionGracePeriodSeconds"] = 0
                    obj = self.store.put(kind, obj)
                return obj
            # https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/
            if "deletionTimestamp" not in meta:
                meta["deletionTimestamp"] = now_iso()
                meta["deletionGracePeriodSeconds"] = 0
                obj = self.store.put(kind, obj)
            return obj
        gone = self.store.remove(kind, meta.get("namespace", ""), name)
        assert gone is not None
        if kind.plural in _RETURNS_OBJECT:
            return gone
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": kind.group, "kind": kind.plural, "uid": meta["uid"]},
        }

    # -- internals ------------------------------------------------------------------

    def _delete_gracefully(self, pod: dict, grace: int | None) -> bool:
        """Pods on a node get a deletionTimestamp; the kubelet removes them.

        https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
        """
        spec, meta = pod.get("spec", {}), pod["metadata"]
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        on_node = bool(spec.get("nodeName"))
        finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        if grace <= 0 or not on_node or finished:
            if meta.get("finalizers"):
                return False
            return False
        if "deletionTimestamp" in meta and meta.get("deletionGracePeriodSeconds", 0) <= grace:
            return True
        meta["deletionTimestamp"] = now_iso(grace)
        meta["deletionGracePeriodSeconds"] = grace
        return True

    def _update(
        self, kind: Kind, old: dict, obj: dict, *, subresource: str | None, validate: bool
    ) -> dict:
        meta, old_meta = obj.setdefault("metadata", {}), old["metadata"]
        if subresource == "status":
            # the status subresource changes status only
            # https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
            status = obj.get("status")
            obj = copy.deepcopy(old)
            if status is not None:
                obj["status"] = status
            meta = obj["metadata"]
        elif "status" in old and kind.plural in (
            "nodes",
            "pods",
            "persistentvolumeclaims",
            "namespaces",
            "resourcequotas",
        ):
            # the main resource ignores status changes for kinds with a status subresource
            obj["status"] = copy.deepcopy(old["status"])
        for key in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("resourceVersion", None)
        if "deletionTimestamp" in old_meta:
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise forbidden(
                    kind.plural,
                    meta["name"],
                    "no new finalizers can be added if "
                    "the object is being deleted, found new finalizers "
                    f"{sorted(added)}",
                    group=kind.group,
                )
        if obj.get("spec") != old.get("spec") and "generation" in old_meta:
            meta["generation"] = old_meta["generation"] + 1
        self._admit(Operation("update", kind, obj, old, subresource), validate=validate)
        if obj == old:
            # a no-op update does not bump the resourceVersion
            return old
        stored = self.store.put(kind, obj)
        if (
            "deletionTimestamp" in meta
            and not meta.get("finalizers")
            and kind.plural != "namespaces"
        ):  # the namespace controller empties those
            key = (meta.get("namespace", ""), meta["name"])
            # a pod on a node is removed by the kubelet's final delete (grace period 0)
            if kind.plural != "pods" or meta.get("deletionGracePeriodSeconds") == 0:
                self.store.remove(kind, key[0], key[1])
        return stored

    def _admit(self, op: Operation, *, validate: bool) -> None:
        for plugin in self.mutating:
            plugin(op)
        if validate:
            validation.check_schema(op.kind, op.obj, status_only=op.subresource == "status")
        for plugin in self.validating:
            plugin(op)

    def _check_body(self, kind: Kind, body: Any) -> dict:
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        if obj["apiVersion"] != kind.api_version or obj["kind"] != kind.kind:
            raise ApiError(
                400,
                f"the API version in the data ({obj['apiVersion']}) does not "
                f"match the expected API version ({kind.api_version})"
                if obj["apiVersion"] != kind.api_version
                else f"the kind in the data ({obj['kind']}) does not match the "
                f"expected kind ({kind.kind})",
            )
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        return obj

    def _check_namespace_open(self, kind: Kind, namespace: str, name: str) -> None:
        ns = self.store.get(self.registry.lookup("namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", namespace)
        if ns.get("status", {}).get("phase") == "Terminating":
            # https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#namespacelifecycle
            error = forbidden(
                kind.plural,
                name,
                f"unable to create new content in namespace "
                f"{namespace} because it is being terminated",
                group=kind.group,
            )
            error.details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise error


def apply_defaults(kind: Kind, obj: dict) -> None:
    """The defaults the API server fills in (the ones clients here read)."""
    if kind.plural == "pods":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            image = container.get("image", "")
            tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
            container.setdefault("imagePullPolicy", "IfNotPresent" if tagged else "Always")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind.plural == "persistentvolumeclaims":
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        obj["status"] = {"phase": "Pending"}
    elif kind.plural == "namespaces":
        # https://kubernetes.io/docs/concepts/services-networking/network-policies/#targeting-a-namespace-by-its-name
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif kind.plural == "secrets":
        obj.setdefault("type", "Opaque")
    elif kind.plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
