"""The SCC ranges the OpenShift stand-ins give namespaces, and the webhook's JSON patch."""

from __future__ import annotations

import asyncio

import pytest

from workspace_spawner_testing.emulator.patch import json_patch
from workspace_spawner_testing.openshift import admission, ranges


def _namespace(annotations: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": "n", "annotations": annotations or {}}}


@pytest.mark.parametrize(
    ("annotations", "block"),
    [
        ({}, None),
        ({ranges.UID_RANGE: "1000000000/10000"}, 0),
        ({ranges.UID_RANGE: "1000070000/10000"}, 7),
        ({ranges.UID_RANGE: "1000070001/10000"}, None),  # not on a block boundary
        ({ranges.UID_RANGE: "500/10000"}, None),  # below the range
        ({ranges.UID_RANGE: "garbage"}, None),
    ],
)
def test_block_of_reads_the_uid_range(annotations, block):
    assert ranges.block_of(annotations) == block


def test_blocks_are_unique_and_reuse_the_lowest_free_one():
    taken = [_namespace(ranges.annotations_for(b)) for b in (0, 1, 3)]
    assert ranges.free_block(taken, reserved=set()) == 2
    assert ranges.free_block(taken, reserved={2}) == 4


def test_the_allocator_never_hands_out_a_block_twice():
    async def run() -> list[dict[str, str]]:
        async def none_stored() -> list[dict]:
            return []  # as if no namespace were stored yet: only the allocator knows

        allocator = ranges.Allocator(list_namespaces=none_stored)
        return list(await asyncio.gather(*(allocator.annotations() for _ in range(50))))

    given = asyncio.run(run())
    for key in (ranges.UID_RANGE, ranges.MCS):
        assert len({a[key] for a in given}) == 50, key


def test_mcs_labels_are_distinct_category_pairs():
    labels = [ranges.mcs_label(b) for b in range(200)]
    assert labels[:3] == ["s0:c1,c0", "s0:c2,c0", "s0:c2,c1"]
    assert len(set(labels)) == 200


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"a": 1, "b": {"c": [1]}}),
        ({"a": 1, "b": 2}, {"a": 1}),
    ],
)
def test_the_webhook_patch_turns_the_object_into_the_admitted_one(old, new):
    # the real kube-apiserver applies it in the OpenShift pass of make test-cluster
    assert json_patch(old, admission.replace_patch(old, new)) == new
