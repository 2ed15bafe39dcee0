"""The only code that talks to the Kubernetes API.

Small, idempotent coroutines, one module per concern (``volumes``, ``projects``,
``configmaps``, ...), all built on the helpers here: a create that answers 409 is
"already there", a delete that answers 404 is "already gone", and any other API
error becomes a :class:`KubeError` whose message a hub admin can act on.
Retrying is the caller's business, with the one policy of :mod:`.policy`
(``retrying``), so these functions stay thin and predictable. Every one takes
keyword arguments only, the first ``api=``: the caller's ``CoreV1Api``
(KubeSpawner's ``self.api``); another API group is reached through its ``api_client``.

What the spawner reads and writes at each start (claims, the conda ConfigMap, the
project's objects) comes back as the JSON the API server sent (:func:`plain`), not
deserialised into the client's models and serialised back (``to_dict``): a class of 500
starting at once spent much of the hub's CPU doing that (issue 17).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.client.rest import RESTResponse

from .policy import TRANSIENT_STATUSES

__all__ = ["KubeError", "kube_error", "plain", "to_dict", "status_of", "tolerating"]

T = TypeVar("T")

_serializer = ApiClient.__new__(ApiClient)  # sanitize_for_serialization needs no configuration


def to_dict(obj: Any) -> Any:
    """A kubernetes_asyncio model (or dict, list, scalar) as the plain JSON-like dict the API sends."""
    return ApiClient.sanitize_for_serialization(_serializer, obj)


async def plain(request: Awaitable[Any]) -> Any:
    """The JSON the API server answered to ``request``, a call of the client made with
    ``_preload_content=False`` (which answers the HTTP response itself, as
    ResourceReflector's lists do: kubespawner/reflector.py).

    An answer other than 2xx raises the :class:`ApiException` the client's deserialising
    call raises (kubernetes_asyncio/client/rest.py): the same status, reason, body and
    headers, so :func:`tolerating`, :func:`kube_error` and the retry policy see no difference.
    The keys are the API's (camelCase, as ``to_dict`` gives them); unlike ``to_dict`` of a
    model, the answer keeps the fields this client version does not know, and timestamps
    stay as the server wrote them (``2026-12-02T10:00:00Z``).
    """
    response = await request
    data = await response.read()
    if not 200 <= response.status <= 299:
        raise ApiException(http_resp=RESTResponse(response, data))
    return json.loads(data) if data else None


def status_of(exc: ApiException) -> dict[str, Any]:
    """The ``Status`` object the API server sent with an error, or a minimal one."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    body.setdefault("code", exc.status)
    body.setdefault("reason", exc.reason or "")
    body.setdefault("message", exc.reason or "")
    return body


class KubeError(Exception):
    """An API request failed; ``str()`` says what failed and what to do about it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        # what a 429 asked to wait (Retry-After), for kube.policy.retrying
        self.retry_after = retry_after


def _retry_after(exc: ApiException, status: dict[str, Any]) -> float | None:
    """The ``Retry-After`` header (seconds), else the Status' ``details.retryAfterSeconds``.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#retrying-requests
    """
    header = (exc.headers or {}).get("Retry-After")
    value = header if header else (status.get("details") or {}).get("retryAfterSeconds")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def kube_error(exc: ApiException, *, action: str) -> KubeError:
    """Turn an ApiException into a KubeError naming ``action`` ("create PVC claim-alice in jupyterhub").

    A 403 says which right is missing, since that is what the admin must grant
    (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
    """
    status = status_of(exc)
    message = status.get("message") or str(exc.reason)
    if exc.status == 403 and "exceeded quota" in message:
        hint = "The namespace's ResourceQuota is full: raise the quota or free resources."
    elif exc.status == 403:
        hint = (
            "The hub's service account lacks this right: grant it with a Role or ClusterRole "
            "(see the RBAC section of the admin docs)."
        )
    elif exc.status == 422:
        hint = "The object was rejected as invalid: check the settings it was made from."
    elif exc.status in TRANSIENT_STATUSES:
        hint = "The Kubernetes API is unavailable or overloaded: try again shortly."
    else:
        hint = ""
    text = f"Could not {action}: {message} (HTTP {exc.status})"
    if hint:
        text = f"{text}. {hint}"
    return KubeError(
        text,
        status=exc.status,
        reason=status.get("reason", ""),
        retry_after=_retry_after(exc, status),
    )


async def tolerating(status: int, request: Awaitable[T], *, action: str) -> tuple[bool, T | None]:
    """Await one API request: ``(True, result)``, or ``(False, None)`` when it answered ``status``.

    ``status`` is the answer that means the goal is reached anyway: 404 on a read
    (none there) or a delete (already gone), 409 on a create (already there).
    Any other error raises :func:`kube_error` naming ``action``.
    """
    try:
        return True, await request
    except ApiException as e:
        if e.status == status:
            return False, None
        raise kube_error(e, action=action) from e
