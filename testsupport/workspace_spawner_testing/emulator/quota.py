"""ResourceQuota admission and status, and LimitRange defaults for containers.

https://kubernetes.io/docs/concepts/policy/resource-quotas/
https://kubernetes.io/docs/concepts/policy/limit-range/
"""

from __future__ import annotations

from decimal import Decimal

from workspace_spawner.quantity import format_quantity, parse_quantity

from .apiserver import ApiServer, Operation
from .errors import forbidden
from .store import Change

_COMPUTE = ("memory", "cpu", "ephemeral-storage")


def _containers(pod: dict) -> list[dict]:
    return pod.get("spec", {}).get("containers", [])


def _pod_counts(pod: dict) -> bool:
    # terminal pods do not count against quota
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


def usage_of(kind_plural: str, obj: dict) -> dict[str, Decimal]:
    """What one object adds to each quota key."""
    out: dict[str, Decimal] = {}
    if kind_plural == "pods":
        if not _pod_counts(obj):
            return out
        out["pods"] = out["count/pods"] = Decimal(1)
        for container in _containers(obj):
            resources = container.get("resources") or {}
            for field in ("requests", "limits"):
                for resource, value in (resources.get(field) or {}).items():
                    key = f"{field}.{resource}"
                    out[key] = out.get(key, Decimal(0)) + parse_quantity(value)
                    if field == "requests" and resource in _COMPUTE:
                        # the short form "memory" means requests.memory
                        out[resource] = out.get(resource, Decimal(0)) + parse_quantity(value)
    elif kind_plural == "persistentvolumeclaims":
        out["persistentvolumeclaims"] = out["count/persistentvolumeclaims"] = Decimal(1)
        storage = ((obj.get("spec", {}).get("resources") or {}).get("requests") or {}).get(
            "storage"
        )
        if storage is not None:
            out["requests.storage"] = parse_quantity(storage)
    else:
        out[f"count/{kind_plural}"] = Decimal(1)
    return out


class Quotas:
    """Admission (403 "exceeded quota") and status (hard, used) of ResourceQuotas."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.kind = api.registry.lookup("resourcequotas")
        api.mutating.append(self.apply_limit_ranges)
        api.validating.append(self.admit)
        api.store.listeners.append(self.on_change)

    def used(self, namespace: str) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for plural in ("pods", "persistentvolumeclaims", "services", "secrets", "configmaps"):
            kind = self.api.registry.lookup(plural)
            for obj in self.api.store.items(kind, namespace):
                for key, value in usage_of(plural, obj).items():
                    totals[key] = totals.get(key, Decimal(0)) + value
        return totals

    def admit(self, op: Operation) -> None:
        if (
            op.kind.plural
            not in ("pods", "persistentvolumeclaims", "services", "secrets", "configmaps")
            or op.subresource == "status"
        ):
            return
        namespace = op.obj["metadata"]["namespace"]
        quotas = self.api.store.items(self.kind, namespace)
        if not quotas:
            return
        delta = usage_of(op.kind.plural, op.obj)
        if op.old is not None:
            for key, value in usage_of(op.kind.plural, op.old).items():
                delta[key] = delta.get(key, Decimal(0)) - value
        used = self.used(namespace)
        name = op.obj["metadata"]["name"]
        for quota in quotas:
            hard = quota.get("spec", {}).get("hard") or {}
            if op.kind.plural == "pods" and op.old is None:
                self._require_limits(op, quota, hard)
            over = [
                key
                for key in sorted(hard)
                if delta.get(key, 0) > 0
                and used.get(key, Decimal(0)) + delta[key] > parse_quantity(hard[key])
            ]
            if over:

                def show(values: dict, key: str) -> str:
                    return f"{key}={_fmt(key, values.get(key, Decimal(0)))}"

                raise forbidden(
                    op.kind.plural,
                    name,
                    (
                        f"exceeded quota: {quota['metadata']['name']}, "
                        f"requested: {','.join(show(delta, k) for k in over)}, "
                        f"used: {','.join(show(used, k) for k in over)}, "
                        f"limited: {','.join(f'{k}={hard[k]}' for k in over)}"
                    ),
                )

    def _require_limits(self, op: Operation, quota: dict, hard: dict) -> None:
        # a quota on a compute resource makes it required on every container
        for key in sorted(hard):
            field, _, resource = key.rpartition(".")
            if resource not in _COMPUTE or field not in ("limits", "requests", ""):
                continue
            section = field or "requests"
            missing = [
                c["name"]
                for c in _containers(op.obj)
                if resource not in ((c.get("resources") or {}).get(section) or {})
            ]
            if missing:
                raise forbidden(
                    op.kind.plural,
                    op.obj["metadata"]["name"],
                    (
                        f"failed quota: {quota['metadata']['name']}: must specify "
                        f"{section}.{resource} for: {','.join(missing)}"
                    ),
                )

    def apply_limit_ranges(self, op: Operation) -> None:
        """LimitRanger: default limits and requests of containers that set none."""
        if op.kind.plural != "pods" or op.verb != "create":
            return
        ranges = self.api.store.items(
            self.api.registry.lookup("limitranges"), op.obj["metadata"]["namespace"]
        )
        for item in (i for r in ranges for i in r.get("spec", {}).get("limits", [])):
            if item.get("type") != "Container":
                continue
            pod_spec = op.obj.get("spec", {})
            for container in pod_spec.get("initContainers", []) + pod_spec.get("containers", []):
                resources = container.setdefault("resources", {})
                limits = resources.setdefault("limits", {})
                requests = resources.setdefault("requests", {})
                for resource, value in (item.get("default") or {}).items():
                    limits.setdefault(resource, value)
                for resource, value in (item.get("defaultRequest") or {}).items():
                    requests.setdefault(resource, value)
        for container in op.obj.get("spec", {}).get("containers", []):
            resources = container.get("resources") or {}
            # a limit without a request makes the request equal to the limit
            for resource, value in (resources.get("limits") or {}).items():
                resources.setdefault("requests", {}).setdefault(resource, value)
            for key in ("limits", "requests"):
                if key in resources and not resources[key]:
                    del resources[key]

    def on_change(self, change: Change) -> None:
        if change.kind.plural not in (
            "pods",
            "persistentvolumeclaims",
            "resourcequotas",
            "services",
            "secrets",
            "configmaps",
        ):
            return
        namespace = change.obj["metadata"].get("namespace", "")
        self.refresh(namespace)

    def refresh(self, namespace: str) -> None:
        """Recompute status.hard and status.used of the namespace's quotas."""
        quotas = self.api.store.items(self.kind, namespace)
        if not quotas:
            return
        used = self.used(namespace)
        for quota in quotas:
            hard = quota.get("spec", {}).get("hard") or {}
            status = {
                "hard": dict(hard),
                "used": {k: _fmt(k, used.get(k, Decimal(0))) for k in hard},
            }
            if quota.get("status") != status:
                quota["status"] = status
                self.api.write(self.kind, quota)


def _fmt(key: str, value: Decimal) -> str:
    return format_quantity(value, binary=("memory" in key or "storage" in key))
