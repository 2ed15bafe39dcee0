"""The pure half of workspace-admin restore: names, sizes, marks (workspace_spawner.volumes.restore)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from workspace_spawner.volumes import restore as rs

NOW = datetime(2026, 12, 1, 23, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("current", "restored"),
    [
        ("claim-alice", "claim-alice--restored--20261201t230000z"),
        # a restore of a restored claim replaces the time instead of growing the name
        ("claim-alice--restored--20261130t100000z", "claim-alice--restored--20261201t230000z"),
        ("claim-alice--data", "claim-alice--data--restored--20261201t230000z"),
        (
            "claim-alice--restored--20261130t100000z--data",
            "claim-alice--restored--20261130t100000z--data--restored--20261201t230000z",
        ),
    ],
)
def test_restored_claim_names(current, restored):
    assert rs.restored_claim_name(current, now=NOW) == restored


def test_a_restored_name_fits_a_claims_limit():
    name = rs.restored_claim_name("c" * 250, now=NOW)
    assert len(name) <= 253 and name != rs.restored_claim_name("c" * 249, now=NOW)


@pytest.mark.parametrize(
    ("requested", "snapshot_size", "size"),
    [("1Gi", "1Gi", "1Gi"), ("1Gi", "2Gi", "2Gi"), ("10Gi", "1Gi", "10Gi"), ("1Gi", "", "1Gi")],
)
def test_the_new_claim_asks_for_at_least_the_restore_size(requested, snapshot_size, size):
    assert rs.restore_size(requested=requested, snapshot_size=snapshot_size) == size


def test_the_marks_can_be_put_back_as_they_were():
    patch = rs.replaced_patch(by="new", now=NOW, reason="why", retention=3600)
    meta = patch["metadata"]
    assert meta["annotations"]["workspace-spawner.jupyter.org/purge-after"] == (
        "2026-12-02T00:00:00Z"
    )
    marked = {"metadata": {"name": "old", **meta}}
    assert rs.replacement(marked) == "new"
    assert rs.replaced_expired(marked, now=datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert not rs.replaced_expired(marked, now=NOW)
    undo = rs.marks_as_in({"metadata": {"name": "old", "labels": {}, "annotations": {}}})
    assert set(undo["metadata"]["labels"].values()) == {None}
    assert set(undo["metadata"]["annotations"].values()) == {None}
