"""The emulator's direct object API (create/get/list/patch/delete) over a real API server.

So the emulator's own behaviour tests run against kube-apiserver too: a test sets up
and inspects state with the same calls, here made as the admin through REST (with
discovery to find a kind's path), there straight in the emulator's store.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
from dataclasses import dataclass, field

from ..objectapi import ObjectApi, Patch
from .cluster import Client


@dataclass(frozen=True)
class _Resource:
    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    namespaced: bool


@dataclass
class ClusterObjects(ObjectApi):
    """The test beds' object API (:class:`~workspace_spawner_testing.objectapi.ObjectApi`)
    over REST, as the admin."""

    client: Client
    real: bool = True
    _resources: dict[str, _Resource] = field(default_factory=dict)

    def _discover(self) -> None:
        groups = [("/api/v1", self.client.request("GET", "/api/v1"))]
        for group in self.client.request("GET", "/apis")["groups"]:
            prefix = f"/apis/{group['preferredVersion']['groupVersion']}"
            groups.append((prefix, self.client.request("GET", prefix)))
        for prefix, listing in groups:
            for r in listing["resources"]:
                if "/" in r["name"]:
                    continue
                resource = _Resource(prefix, r["name"], r["namespaced"])
                for key in (r["name"], r.get("singularName") or "", r["kind"].lower()):
                    if key:
                        self._resources.setdefault(key, resource)

    @property
    def openshift(self) -> bool:
        """Whether the server serves OpenShift's project API, as the emulator's
        ``openshift`` says of its mode (discovery, as the spawner's ``auto`` reads it)."""
        groups = self.client.request("GET", "/apis")["groups"]
        return any(g["name"] == "project.openshift.io" for g in groups)

    def _resource(self, kind: str) -> _Resource:
        if not self._resources:
            self._discover()
        return self._resources[kind.lower()]

    def _path(self, kind: str, namespace: str | None, name: str | None = None) -> str:
        r = self._resource(kind)
        path = r.prefix + (f"/namespaces/{namespace}" if r.namespaced and namespace else "")
        path += f"/{r.plural}"
        return path + (f"/{name}" if name else "")

    def _create(self, obj: dict, namespace: str | None) -> dict:
        namespace = namespace or obj["metadata"].get("namespace")
        return self.client.request("POST", self._path(obj["kind"], namespace), obj)

    def _get(self, kind: str, name: str, namespace: str | None) -> dict | None:
        try:
            return self.client.request("GET", self._path(kind, namespace, name))
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def _list(self, kind: str, namespace: str | None, labels: str, fields: str) -> list[dict]:
        selectors = (("labelSelector", labels), ("fieldSelector", fields))
        query = urllib.parse.urlencode({k: v for k, v in selectors if v})
        path = self._path(kind, namespace) + (f"?{query}" if query else "")
        return self.client.request("GET", path)["items"]

    def _patch(self, kind: str, name: str, namespace: str | None, patch: Patch) -> dict:
        sub = f"/{patch.subresource}" if patch.subresource else ""
        path = self._path(kind, namespace, name) + sub
        return self.client.request("PATCH", path, patch.body, content_type=patch.content_type)

    def _delete(self, kind: str, name: str, namespace: str | None, grace: int | None) -> dict:
        body = (
            None
            if grace is None
            else {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": grace}
        )
        return self.client.request("DELETE", self._path(kind, namespace, name), body)
