"""The storage lifecycle's pure functions: usage lines and warnings, durations, retention marks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from workspace_spawner.constants import (
    DELETED_AT_ANNOTATION,
    DELETED_LABEL,
    DELETED_USERNAME_LABEL,
    PURGE_AFTER_ANNOTATION,
    USAGE_ANNOTATION,
    USERNAME_LABEL,
)
from workspace_spawner.volumes import retention as r
from workspace_spawner.volumes.usage import (
    VolumeUsage,
    format_bytes,
    split_usage,
    usage_annotation,
    usage_from_pvc,
    usage_warning,
)

GI = 1024**3
NOW = datetime(2026, 12, 1, 20, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("message", "text", "usage"),
    [
        (
            "done\nworkspace-spawner-usage: size=100 used=40 available=60\n",
            "done",
            VolumeUsage(100, 40, 60, "t"),
        ),
        ("done", "done", None),
        ("a\nb\nworkspace-spawner-usage: size=1 used=x available=1", "a\nb", None),
        ("workspace-spawner-usage: size=1 used=1\n", "", None),
        ("", "", None),
    ],
)
def test_split_usage(message, text, usage):
    assert split_usage(message, measured="t") == (text, usage)


@pytest.mark.parametrize(
    ("used", "available", "percent"),
    [(0, 100, 0), (1, 99, 1), (90, 10, 90), (901, 99, 91), (100, 0, 100), (0, 0, 0)],
)
def test_percent_is_df_s(used, available, percent):
    assert VolumeUsage(size=used + available, used=used, available=available).percent == percent


def test_the_annotation_round_trips_and_bad_ones_read_as_none():
    usage = VolumeUsage(10 * GI, GI, 9 * GI, "2026-12-01T20:00:00Z")
    pvc = {"metadata": {"annotations": usage_annotation(usage)}}
    assert usage_from_pvc(pvc) == usage
    assert json.loads(pvc["metadata"]["annotations"][USAGE_ANNOTATION])["used"] == GI
    for raw in ("", "{", '{"size": 1}', '{"size": "a", "used": 1, "available": 1}', "[]"):
        assert usage_from_pvc({"metadata": {"annotations": {USAGE_ANNOTATION: raw}}}) is None
    assert usage_from_pvc({"metadata": {}}) is None


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1.0Ki"),
        (1536 * 1024, "1.5Mi"),
        (20 * GI, "20Gi"),
        (5 * 1024 * GI, "5.0Ti"),
    ],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


def test_the_warning_says_how_full_and_what_to_do():
    usage = VolumeUsage(10 * GI, 9 * GI + GI // 2, GI // 2)
    text = usage_warning(usage, warn_percent=90, pvc_name="claim-alice")
    assert text.startswith("Your workspace volume is 95% full (9.5Gi of 10Gi used, 512Mi free)")
    assert "workspace-admin expand" in text and "claim-alice" in text
    assert usage_warning(usage, warn_percent=96, pvc_name="x") is None
    assert usage_warning(usage, warn_percent=0, pvc_name="x") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        (0, 0),
        ("7d", 7 * 86400),
        ("12h", 43200),
        ("1w2d", 9 * 86400),
        ("90m", 5400),
        ("30s", 30),
        ("3600", 3600),
        (" 2D ", 2 * 86400),
        ("1d 12h", 129600),
    ],
)
def test_parse_duration(text, seconds):
    assert r.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "7 days", "-1d", "d", "1.5h", "7d junk", "x7d", "7y"])
def test_a_bad_duration_says_what_to_write(bad):
    with pytest.raises(ValueError, match="such as 7d"):
        r.parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0"), (86400 * 7, "1w"), (129600, "1d12h"), (90, "1m30s")]
)
def test_format_duration(seconds, text):
    assert r.format_duration(seconds) == text
    assert r.parse_duration(text) == seconds


def _pvc(labels=None, annotations=None) -> dict:
    return {
        "metadata": {
            "name": "claim-alice",
            "labels": labels or {},
            "annotations": annotations or {},
        }
    }


def test_retain_then_reclaim():
    pvc = _pvc({USERNAME_LABEL: "alice", "component": "singleuser-storage"})
    patch = r.retain_patch(pvc, now=NOW, retention=7 * 86400)
    assert patch == {
        "metadata": {
            "labels": {
                DELETED_LABEL: "true",
                USERNAME_LABEL: None,
                DELETED_USERNAME_LABEL: "alice",
            },
            "annotations": {
                DELETED_AT_ANNOTATION: "2026-12-01T20:00:00Z",
                PURGE_AFTER_ANNOTATION: "2026-12-08T20:00:00Z",
            },
        }
    }
    retained = _pvc(
        {DELETED_LABEL: "true", DELETED_USERNAME_LABEL: "alice"},
        {PURGE_AFTER_ANNOTATION: "2026-12-08T20:00:00Z"},
    )
    assert r.is_retained(retained)
    assert r.purge_after(retained) == NOW + timedelta(days=7)
    assert not r.is_expired(retained, now=NOW)
    assert r.is_expired(retained, now=NOW + timedelta(days=7))
    back = r.reclaim_patch(retained, username_label="alice")
    assert back["metadata"]["labels"] == {
        DELETED_LABEL: None,
        DELETED_USERNAME_LABEL: None,
        USERNAME_LABEL: "alice",
    }
    assert back["metadata"]["annotations"] == {
        DELETED_AT_ANNOTATION: None,
        PURGE_AFTER_ANNOTATION: None,
    }


@pytest.mark.parametrize(
    "pvc",
    [
        _pvc(),  # not retained
        _pvc({DELETED_LABEL: "true"}),  # no time
        _pvc({DELETED_LABEL: "true"}, {PURGE_AFTER_ANNOTATION: "next week"}),  # unreadable
        _pvc(
            {DELETED_LABEL: "yes"}, {PURGE_AFTER_ANNOTATION: "2000-01-01T00:00:00Z"}
        ),  # not our mark
    ],
)
def test_only_a_well_marked_claim_ever_expires(pvc):
    assert not r.is_expired(pvc, now=NOW + timedelta(days=10_000))
