"""The kube-apiserver's audit log of the hub's requests: the real tier's request log.

The emulator records every request it serves (``Emulator.requests``); a real
kube-apiserver tells the same through its audit log
(https://kubernetes.io/docs/tasks/debug/cluster-debug/audit/). The policy logs only the
``RequestReceived`` stage of the hub namespace's ServiceAccounts, at ``Metadata`` level:
that event is written (``--audit-log-mode=blocking``) before the request is served, so
a request's answer never arrives before its record, and the controllers' and nodes'
traffic stays out of the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HUB_NAMESPACE = "jupyterhub"
# the hub's own identity (controlplane.hub.setup_hub): the spawner's requests
HUB_USER = f"system:serviceaccount:{HUB_NAMESPACE}:hub"


def policy(*, hub_namespace: str = HUB_NAMESPACE) -> dict:
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["ResponseStarted", "ResponseComplete", "Panic"],
        "rules": [
            {"level": "Metadata", "userGroups": [f"system:serviceaccounts:{hub_namespace}"]},
            {"level": "None"},
        ],
    }


@dataclass(frozen=True)
class Request:
    """One audit event, with the fields of the emulator's RequestRecord tests read."""

    user: str
    verb: str
    path: str
    resource: str | None
    namespace: str | None
    name: str | None
    subresource: str | None


class AuditLog:
    """``requests`` since ``clear_requests()``, as the emulator's; those of ``user`` alone
    when given (the policy logs every ServiceAccount of the hub namespace, and a count of
    the spawner's requests is of the hub's)."""

    def __init__(self, path: str | Path, *, user: str | None = None) -> None:
        self.path = Path(path)
        self.user = user
        self._offset = 0

    def clear_requests(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    @property
    def requests(self) -> list[Request]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self._offset)
            lines = log.read().splitlines()
        requests = [_request(json.loads(line)) for line in lines if line.strip()]
        return [r for r in requests if self.user is None or r.user == self.user]


def _request(event: dict) -> Request:
    ref = event.get("objectRef") or {}
    return Request(
        user=event["user"]["username"],
        verb=event["verb"],
        # as the emulator records it: kubernetes_asyncio asks for "/apis/"
        path=event["requestURI"].split("?", 1)[0].rstrip("/") or "/",
        resource=ref.get("resource"),
        namespace=ref.get("namespace"),
        name=ref.get("name"),
        subresource=ref.get("subresource"),
    )
