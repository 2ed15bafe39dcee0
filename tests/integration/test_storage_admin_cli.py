"""workspace-admin's storage lifecycle commands against a real JupyterHub and the emulator.

``list`` shows the usage the spawner stored; ``list --deleted`` and ``purge`` handle
the claims that ``volume_retention`` keeps (made here as the spawner labels them).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from kubernetes_asyncio import client, config

# hub: test_admin_cli's fixture, a hub for this module
from test_admin_cli import NAMESPACE, Hub, _make_pvc, _stderr, hub  # noqa: F401

from workspace_spawner.constants import (
    DELETED_AT_ANNOTATION,
    DELETED_LABEL,
    DELETED_USERNAME_LABEL,
    PURGE_AFTER_ANNOTATION,
    RAW_USERNAME_ANNOTATION,
    USAGE_ANNOTATION,
    USERNAME_LABEL,
)
from workspace_spawner.kube.retained import delete_pvc_unchanged
from workspace_spawner.volumes.retention import iso

pytestmark = [pytest.mark.emulator_only, pytest.mark.slow]

NOW = datetime.now(timezone.utc)


def kept_pvc(
    at: Hub, name: str, user: str, *, purge_after: datetime | None, deleted: datetime
) -> None:
    """A claim as the spawner leaves it when its user is deleted with volume_retention."""
    _make_pvc(at, name, user)
    annotations = {RAW_USERNAME_ANNOTATION: user, DELETED_AT_ANNOTATION: iso(deleted)}
    if purge_after is not None:
        annotations[PURGE_AFTER_ANNOTATION] = iso(purge_after)
    labels = {USERNAME_LABEL: None, DELETED_LABEL: "true", DELETED_USERNAME_LABEL: user}
    at.emulator.patch(
        "persistentvolumeclaims",
        name,
        {"metadata": {"labels": labels, "annotations": annotations}},
        NAMESPACE,
    )


@pytest.fixture
def kept(hub: Hub):  # noqa: F811
    """Three deleted users' claims: one expired, one not yet, one with no time (never expires)."""
    names = {
        "claim-gone-old": ("gone-old", NOW - timedelta(hours=1)),
        "claim-gone-new": ("gone-new", NOW + timedelta(days=6)),
        "claim-gone-odd": ("gone-odd", None),
    }
    for name, (user, until) in names.items():
        kept_pvc(hub, name, user, purge_after=until, deleted=NOW - timedelta(days=7))
    hub.emulator.clear_requests()
    yield names
    for name in names:
        if hub.pvc(name) is not None:
            hub.emulator.delete("persistentvolumeclaims", name, NAMESPACE)


def test_list_shows_used_and_use_percent_with_the_time_measured(hub: Hub):  # noqa: F811
    hub.add_users("usage-u")
    hub.start("usage-u")
    usage = {
        "size": 1024**3,
        "used": 960 * 1024**2,
        "available": 64 * 1024**2,
        "measured": iso(NOW - timedelta(hours=2)),
    }
    hub.emulator.patch(
        "persistentvolumeclaims",
        "claim-usage-u",
        {"metadata": {"annotations": {USAGE_ANNOTATION: json.dumps(usage)}}},
        NAMESPACE,
    )
    result = hub.run("list", "usage-u")
    assert result.returncode == 0, _stderr(result)
    header, row = result.stdout.splitlines()[:2]
    assert "USED" in header.split() and "USE%" in header.split()
    assert "960Mi 2h ago" in row and "94%" in row
    result = hub.run("list", "usage-u", "--json")
    (pvc,) = result.json[0]["pvcs"]
    assert (pvc["used_bytes"], pvc["size_bytes"], pvc["use_percent"]) == (
        960 * 1024**2,
        1024**3,
        94,
    )
    assert pvc["usage_measured"] == usage["measured"]
    hub.stop("usage-u")


def test_list_deleted_shows_what_waits_and_until_when(hub: Hub, kept):  # noqa: F811
    result = hub.run("list", "--deleted")
    assert result.returncode == 0, _stderr(result)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["USER", "PVC", "NAMESPACE"]
    by_pvc = {line.split()[1]: line for line in lines[1:]}
    assert set(by_pvc) == set(kept)
    assert by_pvc["claim-gone-old"].rstrip().endswith("expired")
    assert iso(NOW + timedelta(days=6)) in by_pvc["claim-gone-new"]
    assert "never" in by_pvc["claim-gone-odd"]
    rows = {row["name"]: row for row in hub.run("list", "--deleted", "--json").json}
    assert (
        rows["claim-gone-old"]["expired"] is True and rows["claim-gone-old"]["user"] == "gone-old"
    )
    assert rows["claim-gone-new"]["expired"] is False
    assert hub.cli_writes() == []


def test_purge_dry_run_deletes_nothing(hub: Hub, kept):  # noqa: F811
    result = hub.run("purge", "--dry-run")
    assert result.returncode == 0, _stderr(result)
    assert "gone-old: would delete PVC claim-gone-old in jupyterhub (1Gi" in result.stdout
    assert "claim-gone-new" not in result.stdout and "claim-gone-odd" not in result.stdout
    assert hub.cli_writes() == []
    assert all(hub.pvc(name) is not None for name in kept)


def test_purge_deletes_only_the_expired_claims(hub: Hub, kept):  # noqa: F811
    result = hub.run("purge", "--json")
    assert result.returncode == 0, _stderr(result)
    (row,) = result.json
    assert row["user"] == "gone-old" and row["deleted"] is True
    assert hub.pvc("claim-gone-old") is None
    assert hub.pvc("claim-gone-new") is not None and hub.pvc("claim-gone-odd") is not None
    writes = hub.cli_writes()
    assert [(w.verb, w.name) for w in writes] == [("delete", "claim-gone-old")]
    assert hub.run("purge").stdout.strip() == "Nothing to purge."


def test_purge_keeps_the_claim_of_a_user_who_exists_again(hub: Hub, kept):  # noqa: F811
    hub.add_users("gone-old")
    result = hub.run("purge")
    assert result.returncode == 0, _stderr(result)
    assert "gone-old: kept PVC claim-gone-old: the user exists again" in result.stdout
    assert hub.pvc("claim-gone-old") is not None
    assert hub.cli_writes() == []
    # the user's first start takes it back
    hub.start("gone-old")
    labels = hub.pvc("claim-gone-old")["metadata"]["labels"]
    assert DELETED_LABEL not in labels and labels[USERNAME_LABEL] == "gone-old"
    hub.stop("gone-old")


def test_a_claim_taken_back_between_listing_and_purge_is_not_deleted(hub: Hub, kept):  # noqa: F811
    # purge's deletion carries the uid and resourceVersion it listed: a claim changed
    # since (a user taking it back) is refused by the server, not deleted
    before = hub.pvc("claim-gone-old")
    hub.emulator.patch(
        "persistentvolumeclaims", "claim-gone-old", {"metadata": {"labels": {"x": "y"}}}, NAMESPACE
    )
    assert _delete_as_purge_does(hub, before) is False
    assert hub.pvc("claim-gone-old") is not None


def _delete_as_purge_does(at: Hub, pvc: dict[str, Any]) -> bool:
    async def run() -> bool:
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(at.kubeconfig), client_configuration=configuration
        )
        async with client.ApiClient(configuration) as api:
            return await delete_pvc_unchanged(
                api=client.CoreV1Api(api),
                namespace=NAMESPACE,
                name=pvc["metadata"]["name"],
                uid=pvc["metadata"]["uid"],
                resource_version=pvc["metadata"]["resourceVersion"],
            )

    return asyncio.run(run())


def _snapshot(at: Hub, name: str, user: str, *, snapshot_class: str = "standard-snapshots") -> None:
    at.emulator.create(
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {
                    "app.kubernetes.io/managed-by": "workspace-spawner",
                    USERNAME_LABEL: user,
                },
                "annotations": {
                    "workspace-spawner.jupyter.org/snapshot-of": f"claim-{user}",
                    "workspace-spawner.jupyter.org/snapshot-reason": ".delete-volume was found",
                },
            },
            "spec": {
                "volumeSnapshotClassName": snapshot_class,
                "source": {"persistentVolumeClaimName": f"claim-{user}"},
            },
        }
    )


def test_snapshots_lists_the_users_snapshots_with_their_state(hub: Hub):  # noqa: F811
    hub.add_users("snap-u", "snap-other")
    hub.start("snap-u")
    hub.stop("snap-u")
    _snapshot(hub, "claim-snap-u-reset-20261201t100000z", "snap-u")
    _snapshot(hub, "claim-snap-u-reset-20261201t110000z", "snap-u", snapshot_class="gone")
    _snapshot(hub, "claim-snap-other-reset-20261201t100000z", "snap-other")
    deadline = time.monotonic() + 10
    while not all((s.get("status") or {}) for s in hub.emulator.list("volumesnapshots", NAMESPACE)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    hub.emulator.clear_requests()
    result = hub.run("snapshots", "snap-u")
    assert result.returncode == 0, _stderr(result)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["SNAPSHOT", "PVC", "STATE"]
    assert sorted(line.split()[0] for line in lines[1:]) == [
        "claim-snap-u-reset-20261201t100000z",
        "claim-snap-u-reset-20261201t110000z",
    ]
    rows = {r["name"]: r for r in hub.run("snapshots", "snap-u", "--json").json}
    assert set(rows) == {
        "claim-snap-u-reset-20261201t100000z",
        "claim-snap-u-reset-20261201t110000z",
    }
    assert rows["claim-snap-u-reset-20261201t100000z"]["state"] == "ready"
    assert rows["claim-snap-u-reset-20261201t100000z"]["size"] == "1Gi"
    assert rows["claim-snap-u-reset-20261201t110000z"]["state"] == "failed"
    assert '"gone" not found' in rows["claim-snap-u-reset-20261201t110000z"]["error"]
    assert rows["claim-snap-u-reset-20261201t100000z"]["reason"] == ".delete-volume was found"
    assert hub.cli_writes() == []
