"""The one I/O policy of every feature: which failures are transient, how to retry, deadlines.

Every API request of a workspace step goes through :func:`retrying`; the thin
functions of :mod:`workspace_spawner.kube` never retry themselves (one policy, in
one place). What counts as "try again" is :data:`TRANSIENT_STATUSES` plus a lost
connection or a request that got no answer in time; anything else (403, 404, 409,
422, ...) is an answer, raised at once. Tolerating an expected 404 or 409 stays
:func:`workspace_spawner.kube.tolerating`'s job.

The waits match JupyterHub's ``exponential_backoff`` (used by KubeSpawner for its own
requests): 0.2 s doubling up to 5 s, with "full jitter"
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/) so that
a class of users starting at once does not retry in lock-step. A 429 carries the
server's ``Retry-After`` (API Priority and Fairness,
https://kubernetes.io/docs/concepts/cluster-administration/flow-control/), which is
waited at least.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import aiohttp

__all__ = [
    "TRANSIENT_STATUSES",
    "Deadline",
    "RetryingRequests",
    "SingleFlight",
    "all_of",
    "is_transient",
    "retry_after_of",
    "retrying",
    "within",
]

T = TypeVar("T")

# The API server is busy (429: flow control), failed inside (500), or a proxy or load
# balancer in front of it found no healthy server (502, 503, 504).
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

# JupyterHub's exponential_backoff defaults (start_wait, scale_factor, max_wait)
FIRST_WAIT = 0.2
WAIT_FACTOR = 2.0
MAX_WAIT = 5.0


class Deadline:
    """A point in time (monotonic clock) that a wait or a series of attempts must not pass."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._at = None if seconds is None else time.monotonic() + seconds

    @property
    def remaining(self) -> float:
        """Seconds left (never negative); ``inf`` without a limit."""
        if self._at is None:
            return float("inf")
        return max(0.0, self._at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining <= 0

    @property
    def elapsed(self) -> float:
        """Seconds since the deadline was set (0 without a limit)."""
        if self._at is None or self.seconds is None:
            return 0.0
        return self.seconds - (self._at - time.monotonic())


async def within(seconds: float | None, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` for at most ``seconds`` (``None`` or ``inf``: no limit), else ``TimeoutError``.

    A cancellation always wins: ``asyncio.wait_for`` before Python 3.12 returned an answer
    that arrived with the cancellation and dropped the cancellation
    (https://github.com/python/cpython/issues/86296), so a start the hub cancelled went on.
    ``asyncio.timeout`` (3.11) has no such race, and awaits in the caller's task instead
    of a new task per request.
    """
    if seconds is None or seconds == float("inf"):
        return await awaitable
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)  # 3.10 has no asyncio.timeout


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` says "try again": a transient HTTP status, a lost connection, a timeout.

    ``KubeError`` and kubernetes_asyncio's ``ApiException`` both carry the HTTP status.
    """
    status = getattr(error, "status", None)
    if status is not None:
        return status in TRANSIENT_STATUSES
    return isinstance(error, (aiohttp.ClientConnectionError, ConnectionError, TimeoutError))


def retry_after_of(error: BaseException) -> float | None:
    """The seconds the server asked to wait (``Retry-After`` of a 429), if it said."""
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _next_wait(attempt: int, error: BaseException) -> float:
    ceiling = min(MAX_WAIT, FIRST_WAIT * WAIT_FACTOR**attempt)
    wait = random.uniform(0, ceiling)
    asked = retry_after_of(error)
    return max(wait, asked) if asked is not None else wait


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float = 30.0,
    attempt_timeout: float | None = None,
    attempts: int | None = None,
    log: logging.Logger | logging.LoggerAdapter | None = None,
) -> T:
    """Await ``call()`` until it answers, retrying transient failures for ``timeout`` seconds.

    ``what`` names the request for the log ("read PVC claim-alice"); ``attempt_timeout``
    bounds each attempt (KubeSpawner's ``k8s_api_request_timeout``), ``timeout`` them all
    (its ``k8s_api_request_retry_timeout``); ``attempts`` caps their number, for a request
    the start can do without (a claim's expansion). A failure that is not transient is raised at
    once; when the time is up the last transient failure is raised, so the spawn page
    shows the API's own words rather than a bare timeout.
    """
    deadline = Deadline(timeout)
    attempt = 0
    while True:
        try:
            return await within(attempt_timeout, call())
        except Exception as e:
            if not is_transient(e):
                raise
            wait = _next_wait(attempt, e)
            attempt += 1
            if wait >= deadline.remaining or (attempts is not None and attempt >= attempts):
                if isinstance(e, TimeoutError) and not str(e):
                    raise TimeoutError(f"{what}: no answer within {attempt_timeout} s") from e
                raise
            if log is not None:
                log.warning("%s: %s; retrying in %.1f s", what, e or type(e).__name__, wait)
            await asyncio.sleep(wait)


class RetryingRequests:
    """For a KubeSpawner subclass: its API requests under this policy, with its own timeouts.

    ``k8s_api_request_timeout`` bounds each attempt and ``k8s_api_request_retry_timeout``
    all of them, as for KubeSpawner's own requests.
    """

    async def kube_request(
        self, call: Callable[[], Awaitable[T]], *, what: str, attempts: int | None = None
    ) -> T:
        """``retrying(call)`` with this spawner's timeouts and log."""
        return await retrying(
            call,
            what=what,
            timeout=self.k8s_api_request_retry_timeout,
            attempt_timeout=self.k8s_api_request_timeout,
            attempts=attempts,
            log=self.log,
        )


class SingleFlight:
    """Concurrent callers of one key share one request: its result, or its error.

    For what the hub does once for every spawner (a namespace's conda ConfigMap): a
    class starting at once sends it once, not once per user who got there before the
    first answer.
    """

    def __init__(self) -> None:
        self._calls: dict[Any, asyncio.Future] = {}

    async def run(self, key: Any, call: Callable[[], Awaitable[T]]) -> T:
        future = self._calls.get(key)
        if future is None:
            future = asyncio.ensure_future(call())
            self._calls[key] = future
            future.add_done_callback(partial(self._done, key))
        # one caller given up (cancelled) does not cancel the others' request
        return await asyncio.shield(future)

    def _done(self, key: Any, future: asyncio.Future) -> None:
        if self._calls.get(key) is future:
            del self._calls[key]
        if not future.cancelled():
            future.exception()  # retrieved: each caller gets it from its own await


async def all_of(*steps: Awaitable[Any]) -> list[Any]:
    """Await independent steps at once; their results, or the first failure.

    Each step runs to its end even when another failed (a write half sent is not left
    cancelled in mid-flight, and no failure goes unretrieved); then the first failure,
    in the order given, is raised.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
