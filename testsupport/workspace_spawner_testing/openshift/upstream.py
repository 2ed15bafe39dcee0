"""The kube-apiserver as the OpenShift stand-ins call it: JSON over HTTPS, one identity.

openshift-apiserver talks to the kube-apiserver with a privileged identity of its own
and asks SubjectAccessReviews for its callers
(https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access);
this is that client, on aiohttp, with the cluster's CA and a bearer token.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


class UpstreamError(Exception):
    """A non-2xx answer of the kube-apiserver; ``status`` and the Status ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('message', body)}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Caller:
    """Who asks, as the aggregator tells it (X-Remote-User, -Group, -Extra-*)."""

    user: str
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Upstream:
    url: str
    ca_file: Path
    token: str
    _session: aiohttp.ClientSession | None = None

    async def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> dict[str, Any]:
        if self._session is None:
            context = ssl.create_default_context(cafile=str(self.ca_file))
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )
        data = None if body is None else json.dumps(body)
        async with self._session.request(
            method, self.url + path, data=data, headers={"Content-Type": content_type}
        ) as answer:
            decoded = await answer.json(content_type=None) if answer.content_length != 0 else {}
            if answer.status >= 300:
                raise UpstreamError(answer.status, decoded or {})
            return decoded or {}

    async def allowed(
        self,
        caller: Caller,
        *,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str = "",
        name: str = "",
    ) -> bool:
        """A SubjectAccessReview for ``caller``: may it ``verb`` that resource?"""
        review = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": caller.user,
                    "groups": list(caller.groups),
                    "extra": caller.extra,
                    "resourceAttributes": {
                        "verb": verb,
                        "group": group,
                        "resource": resource,
                        "namespace": namespace,
                        "name": name,
                    },
                },
            },
        )
        return bool(review.get("status", {}).get("allowed"))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
