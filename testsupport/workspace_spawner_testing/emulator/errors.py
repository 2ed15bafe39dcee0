"""API errors as the API server reports them: a `Status` object.

https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/
"""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    504: "Timeout",
}


class ApiError(Exception):
    """An error the API answers with; `status()` is its Status object."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
        causes: list[dict] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details: dict[str, Any] = {}
        if name is not None:
            self.details["name"] = name
        if group:
            self.details["group"] = group
        if kind is not None:
            self.details["kind"] = kind
        if causes:
            self.details["causes"] = causes
        self.retry_after = retry_after
        if retry_after is not None:
            self.details["retryAfterSeconds"] = retry_after

    def status(self) -> dict[str, Any]:
        return status_object(
            code=self.code, reason=self.reason, message=self.message, details=self.details
        )


def status_object(*, code: int, reason: str, message: str, details: dict | None = None) -> dict:
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return status


def not_found(plural: str, name: str, *, group: str = "") -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(404, f'{resource} "{name}" not found', kind=plural, name=name, group=group)


def already_exists(plural: str, name: str, *, group: str = "") -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(409, f'{resource} "{name}" already exists', kind=plural, name=name, group=group)


def conflict(plural: str, name: str, *, group: str = "") -> ApiError:
    # https://kubernetes.io/docs/reference/using-api/api-concepts/#conflicts
    resource = f"{plural}.{group}" if group else plural
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        reason="Conflict",
        kind=plural,
        name=name,
        group=group,
    )


def forbidden(plural: str, name: str, why: str, *, group: str = "") -> ApiError:
    resource = f"{plural}.{group}" if group else plural
    return ApiError(
        403, f'{resource} "{name}" is forbidden: {why}', kind=plural, name=name, group=group
    )


def invalid(kind: str, name: str, causes: list[tuple[str, str]], *, group: str = "") -> ApiError:
    """422 with the message shape `Kind "name" is invalid: field: detail`."""
    text = ", ".join(f"{f}: {d}" if f else d for f, d in causes)
    if len(causes) > 1:
        text = "[" + text + "]"
    return ApiError(
        422,
        f'{kind} "{name}" is invalid: {text}',
        kind=kind,
        name=name,
        group=group,
        causes=[{"reason": "FieldValueInvalid", "message": d, "field": f} for f, d in causes],
    )
