"""The per-namespace SCC ranges OpenShift's namespace-security-allocation controller sets.

Every namespace gets a block of 10000 uids (``openshift.io/sa.scc.uid-range``, the
same block as ``sa.scc.supplemental-groups``) and an SELinux MCS label
(``sa.scc.mcs``), unique per namespace, from 1000000000 up
(https://docs.openshift.com/container-platform/latest/authentication/managing-security-context-constraints.html#security-context-constraints-pre-allocated-values_configuring-internal-oauth).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

UID_RANGE = "openshift.io/sa.scc.uid-range"
SUPPLEMENTAL_GROUPS = "openshift.io/sa.scc.supplemental-groups"
MCS = "openshift.io/sa.scc.mcs"
FIRST_UID = 1_000_000_000
BLOCK_SIZE = 10_000
BLOCKS = 100_000  # 1000000000-1999999999, OpenShift's default range


def block_of(annotations: dict[str, str]) -> int | None:
    """The block index a namespace holds, from its uid-range annotation (``start/size``)."""
    value = annotations.get(UID_RANGE, "")
    start, _, size = value.partition("/")
    if not (start.isdigit() and size.isdigit()):
        return None
    offset = int(start) - FIRST_UID
    return offset // BLOCK_SIZE if offset >= 0 and offset % BLOCK_SIZE == 0 else None


def mcs_label(block: int) -> str:
    """The ``block``-th MCS label: category pairs c1,c0; c2,c0; c2,c1; c3,c0; ..."""
    pairs = ((high, low) for high in itertools.count(1) for low in range(high))
    high, low = next(itertools.islice(pairs, block, None))
    return f"s0:c{high},c{low}"


def annotations_for(block: int) -> dict[str, str]:
    if not 0 <= block < BLOCKS:
        raise ValueError(f"no uid block {block}: the range has {BLOCKS}")
    uid_range = f"{FIRST_UID + block * BLOCK_SIZE}/{BLOCK_SIZE}"
    return {UID_RANGE: uid_range, SUPPLEMENTAL_GROUPS: uid_range, MCS: mcs_label(block)}


def free_block(namespaces: list[dict[str, Any]], *, reserved: set[int]) -> int:
    """The lowest block no namespace holds and none is being given."""
    used = set(reserved)
    for namespace in namespaces:
        block = block_of((namespace.get("metadata") or {}).get("annotations") or {})
        if block is not None:
            used.add(block)
    for block in range(BLOCKS):
        if block not in used:
            return block
    raise ValueError("every uid block of the range is allocated")


class Allocator:
    """Hands out blocks one at a time, for every path that makes namespaces (the
    project API and the namespace webhook), so two namespaces never share one."""

    def __init__(self, *, list_namespaces: Any) -> None:
        self._list = list_namespaces
        self._lock = asyncio.Lock()
        # given but maybe not stored yet; a refused namespace's block stays taken
        # (a block is cheap, a duplicate is not)
        self._given: set[int] = set()

    async def annotations(self) -> dict[str, str]:
        async with self._lock:
            block = free_block(await self._list(), reserved=self._given)
            self._given.add(block)
        return annotations_for(block)
