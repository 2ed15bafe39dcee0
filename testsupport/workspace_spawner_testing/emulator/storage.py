"""PersistentVolumeClaims: default StorageClass, resize admission, a simulated provisioner.

PersistentVolume objects are not emulated: a bound claim names a volume `pvc-<uid>`.
https://kubernetes.io/docs/concepts/storage/persistent-volumes/
"""

from __future__ import annotations

import asyncio
import copy

from workspace_spawner.quantity import parse_quantity

from ..seeds import DEFAULT_CLASS_ANNOTATION
from .apiserver import ApiServer, Operation, now_iso
from .errors import forbidden, invalid
from .events import record_event
from .store import Change


class Storage:
    def __init__(self, api: ApiServer, *, provision_seconds: float) -> None:
        self.api = api
        self.provision_seconds = provision_seconds
        self.pvcs = api.registry.lookup("persistentvolumeclaims")
        self.classes = api.registry.lookup("storageclasses")
        api.mutating.append(self.default_class)
        api.validating.append(self.admit_update)
        api.store.listeners.append(self.on_change)
        self._warned: set[str] = set()

    def default_class_name(self) -> str | None:
        for sc in self.api.store.items(self.classes):
            if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
                return sc["metadata"]["name"]
        return None

    def default_class(self, op: Operation) -> None:
        """DefaultStorageClass admission: an unset class becomes the default one.

        https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#defaultstorageclass
        """
        if op.kind.key == self.pvcs.key and op.verb == "create":
            spec = op.obj.setdefault("spec", {})
            if spec.get("storageClassName") is None and (name := self.default_class_name()):
                spec["storageClassName"] = name

    def admit_update(self, op: Operation) -> None:
        if op.kind.key != self.pvcs.key or op.old is None or op.subresource == "status":
            return
        old_spec, spec = op.old.get("spec", {}), op.obj.get("spec", {})
        name = op.obj["metadata"]["name"]
        old_size, size = _size(old_spec), _size(spec)
        rest, old_rest = copy.deepcopy(spec), copy.deepcopy(old_spec)
        for s in (rest, old_rest):
            ((s.get("resources") or {}).get("requests") or {}).pop("storage", None)
            # the volume name and class are set by the binder and the default class
            if old_spec.get("volumeName"):
                s.pop("volumeName", None)
        if rest != old_rest:
            raise invalid(
                "PersistentVolumeClaim",
                name,
                [
                    (
                        "spec",
                        "Forbidden: spec is immutable after creation except "
                        "resources.requests and volumeAttributesClassName for bound claims",
                    )
                ],
            )
        if size == old_size:
            return
        if old_size is not None and size is not None and size < old_size:
            # Since Kubernetes 1.34 (RecoverVolumeExpansionFailure GA) a request may go
            # back down, to recover from a failed expansion, but must stay above what was
            # provisioned. https://kubernetes.io/docs/concepts/storage/persistent-volumes/#recovering-from-failure-when-expanding-volumes
            capacity = _size(
                {"resources": {"requests": op.old.get("status", {}).get("capacity") or {}}}
            )
            if capacity is None or size <= capacity:
                raise invalid(
                    "PersistentVolumeClaim",
                    name,
                    [
                        (
                            "spec.resources.requests.storage",
                            "Forbidden: field can not be less than status.capacity",
                        )
                    ],
                )
            return
        # PersistentVolumeClaimResize admission
        # https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
        sc = self.api.store.get(self.classes, "", spec.get("storageClassName") or "")
        if op.old.get("status", {}).get("phase") != "Bound" or not (
            sc and sc.get("allowVolumeExpansion")
        ):
            raise forbidden(
                "persistentvolumeclaims",
                name,
                (
                    "only dynamically provisioned pvc can be resized and the storageclass that "
                    "provisions the pvc must support resize"
                ),
            )

    def on_change(self, change: Change) -> None:
        if change.kind.key == self.classes.key and change.type != "DELETED":
            for pvc in self.api.store.items(self.pvcs):
                self._schedule(pvc)
        elif change.kind.key == self.pvcs.key and change.type != "DELETED":
            self._schedule(change.obj)

    def _schedule(self, pvc: dict) -> None:
        status, spec = pvc.get("status", {}), pvc.get("spec", {})
        needs_bind = status.get("phase") == "Pending"
        needs_resize = status.get("phase") == "Bound" and _size(spec) != _size(
            {"resources": {"requests": status.get("capacity") or {}}}
        )
        if (needs_bind or needs_resize) and "deletionTimestamp" not in pvc["metadata"]:
            asyncio.get_running_loop().call_later(
                self.provision_seconds,
                self.reconcile,
                pvc["metadata"]["namespace"],
                pvc["metadata"]["name"],
            )

    def reconcile(self, namespace: str, name: str) -> None:
        pvc = self.api.store.get(self.pvcs, namespace, name)
        if pvc is None:
            return
        spec, status = pvc.setdefault("spec", {}), pvc.setdefault("status", {})
        class_name = spec.get("storageClassName")
        if status.get("phase") == "Bound":
            storage = (spec.get("resources") or {}).get("requests", {}).get("storage")
            if storage and status.get("capacity", {}).get("storage") != storage:
                status["capacity"] = {"storage": storage}
                self.api.write(self.pvcs, pvc)
            return
        if class_name is None and (default := self.default_class_name()):
            # retroactive default StorageClass assignment (Kubernetes >= 1.28)
            spec["storageClassName"] = class_name = default
        sc = self.api.store.get(self.classes, "", class_name) if class_name else None
        if sc is None:
            uid = pvc["metadata"]["uid"]
            if uid not in self._warned:
                self._warned.add(uid)
                if class_name:
                    reason = "ProvisioningFailed"
                    message = f'storageclass.storage.k8s.io "{class_name}" not found'
                else:
                    reason = "FailedBinding"
                    message = (
                        "no persistent volumes available for this claim and no storage class is set"
                    )
                record_event(
                    self.api,
                    involved=pvc,
                    reason=reason,
                    message=message,
                    type_="Warning",
                    component="persistentvolume-controller",
                )
            return
        for check in self.api.bind_checks:
            why = check(pvc)
            if why is not None:
                uid = pvc["metadata"]["uid"]
                if uid not in self._warned:
                    self._warned.add(uid)
                    record_event(
                        self.api,
                        involved=pvc,
                        reason="ProvisioningFailed",
                        message=why,
                        type_="Warning",
                        component=sc.get("provisioner", "emulator"),
                    )
                asyncio.get_running_loop().call_later(
                    max(self.provision_seconds, 0.05), self.reconcile, namespace, name
                )
                return
        status.update(
            {
                "phase": "Bound",
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "capacity": {"storage": _storage(spec) or "1Gi"},
            }
        )
        spec["volumeName"] = f"pvc-{pvc['metadata']['uid']}"
        annotations = pvc["metadata"].setdefault("annotations", {})
        annotations["pv.kubernetes.io/bind-completed"] = "yes"
        annotations["volume.kubernetes.io/storage-provisioner"] = sc.get("provisioner", "")
        self.api.write(self.pvcs, pvc)
        record_event(
            self.api,
            involved=pvc,
            reason="ProvisioningSucceeded",
            message=f"Successfully provisioned volume {spec['volumeName']}",
            component=sc.get("provisioner", "emulator"),
        )


def _storage(spec: dict) -> str | None:
    return ((spec.get("resources") or {}).get("requests") or {}).get("storage")


def _size(spec: dict):
    value = _storage(spec)
    return parse_quantity(value) if value is not None else None


__all__ = ["Storage", "DEFAULT_CLASS_ANNOTATION", "now_iso"]
