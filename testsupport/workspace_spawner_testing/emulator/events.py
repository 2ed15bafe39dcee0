"""core/v1 Events as controllers and the kubelet record them.

https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
Repeats of the same (object, reason, message) bump `count` and `lastTimestamp`.
"""

from __future__ import annotations

import secrets

from .apiserver import ApiServer, now_iso
from .errors import ApiError


def record_event(
    api: ApiServer,
    *,
    involved: dict,
    reason: str,
    message: str,
    type_: str = "Normal",
    component: str = "kubelet",
    host: str | None = None,
    field_path: str | None = None,
) -> dict:
    kind = api.registry.lookup("events")
    meta = involved["metadata"]
    namespace = meta.get("namespace") or "default"
    for event in api.store.items(kind, namespace):
        if (
            event["involvedObject"].get("uid") == meta.get("uid")
            and event["reason"] == reason
            and event["message"] == message
        ):
            event["count"] = event.get("count", 1) + 1
            event["lastTimestamp"] = now_iso()
            return api.write(kind, event)
    stamp = now_iso()
    involved_object = {
        "kind": involved.get("kind"),
        "apiVersion": involved.get("apiVersion"),
        "name": meta["name"],
        "namespace": namespace,
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if field_path:
        involved_object["fieldPath"] = field_path
    source = {"component": component}
    if host:
        source["host"] = host
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": involved_object,
        "reason": reason,
        "message": message,
        "type": type_,
        "source": source,
        "reportingComponent": component,
        "reportingInstance": host or "",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        return api.create(kind, event, namespace=namespace, validate=False)
    except ApiError:
        return event  # the namespace is gone or going: the event is dropped
