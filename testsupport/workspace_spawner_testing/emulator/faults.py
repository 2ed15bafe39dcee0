"""Fault injection and the request log, for tests and benchmarks."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class RequestRecord:
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    method: str
    path: str
    query: dict[str, str]
    resource: str | None
    namespace: str | None
    name: str | None
    subresource: str | None
    status: int = 0
    duration: float = 0.0
    time: float = field(default_factory=time.time)
    user: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass
class Fault:
    verb: str | None
    resource: str | None
    status: int = 500
    count: int = 1
    namespace: str | None = None
    name: str | None = None
    hang: bool = False
    message: str | None = None
    # pods/proxy: instead of an error, the answer breaks off after this many bytes
    after_bytes: int | None = None
    subresource: str | None = None
    path: str | None = None  # a part of the request's path (e.g. "/proxy/export")

    def matches(self, record: RequestRecord) -> bool:
        return (
            self.count > 0
            and self.verb in (None, record.verb)
            and self.resource in (None, record.resource)
            and self.namespace in (None, record.namespace)
            and self.name in (None, record.name)
            and self.subresource in (None, record.subresource)
            and (self.path is None or self.path in record.path)
        )
