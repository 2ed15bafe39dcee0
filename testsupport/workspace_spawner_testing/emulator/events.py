"""core/v1 Events as controllers and the kubelet record them.

https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/
Repeats of the same event bump `count` and `lastTimestamp`; "the same" is client-go's
key (source, involved object with its fieldPath, type, reason, message: getEventKey in
https://github.com/kubernetes/client-go/blob/master/tools/record/events_cache.go), so
two containers pulling one image get an event each. The repeat is found by that key in
an index, not by a scan of the namespace's events (a class of 500 pods makes thousands).
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
    key = (namespace, meta.get("uid"), field_path, type_, reason, message, component, host)
    known = api.event_names.get(key)
    event = api.store.get(kind, namespace, known) if known else None
    if event is not None:
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
        created = api.create(kind, event, namespace=namespace, validate=False)
        api.event_names[key] = created["metadata"]["name"]
        return created
    except ApiError:
        return event  # the namespace is gone or going: the event is dropped
