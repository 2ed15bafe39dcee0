"""Fault injection and the request log, for tests and benchmarks."""

from __future__ import annotations

import random
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
    """Answer matching requests with ``status`` (or hang), ``count`` times (None: always).

    With ``rate``, each matching request fails with that probability, drawn from a
    generator seeded with ``seed``: the same requests in the same order fail again in
    the next run (a load test's random 429s and 500s, repeatable).
    """

    verb: str | None
    resource: str | None
    status: int = 500
    count: int | None = 1
    namespace: str | None = None
    name: str | None = None
    hang: bool = False
    message: str | None = None
    # pods/proxy: instead of an error, the answer breaks off after this many bytes
    after_bytes: int | None = None
    subresource: str | None = None
    path: str | None = None  # a part of the request's path (e.g. "/proxy/export")
    rate: float | None = None
    seed: int = 0
    _random: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rate is not None and not 0 <= self.rate <= 1:
            raise ValueError(f"a fault's rate is a probability from 0 to 1, not {self.rate}")
        self._random = random.Random(self.seed)

    def matches(self, record: RequestRecord) -> bool:
        return (
            (self.count is None or self.count > 0)
            and self.verb in (None, record.verb)
            and self.resource in (None, record.resource)
            and self.namespace in (None, record.namespace)
            and self.name in (None, record.name)
            and self.subresource in (None, record.subresource)
            and (self.path is None or self.path in record.path)
            # last: only a request every filter matches draws from the generator
            and (self.rate is None or self._random.random() < self.rate)
        )

    def take(self) -> None:
        if self.count is not None:
            self.count -= 1
