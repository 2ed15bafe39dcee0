"""workspace-admin's pure parts: the server status, the rows and the table."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from workspace_spawner.admin.hub import server_state, server_status
from workspace_spawner.admin.table import format_table
from workspace_spawner.admin.workspaces import Workspace, age_of, username_label
from workspace_spawner.constants import (
    RESET_BACKUP_ANNOTATION,
    RESET_REQUEST_ANNOTATION,
    USAGE_ANNOTATION,
    VOLUME_NAME_LABEL,
)

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "user, status",
    [
        ({"servers": {}}, "stopped"),
        ({"servers": {}, "pending": "spawn"}, "pending"),
        ({"servers": {"": {"ready": True, "pending": None, "stopped": False}}}, "running"),
        ({"servers": {"": {"ready": False, "pending": "spawn", "stopped": False}}}, "pending"),
        ({"servers": {"": {"ready": True, "pending": "stop", "stopped": False}}}, "pending"),
        ({"servers": {"": {"ready": False, "pending": None, "stopped": True}}}, "stopped"),
        ({"servers": {"gpu": {"ready": True}}}, "stopped"),  # a named server is not the default one
    ],
)
def test_server_status(user: dict, status: str) -> None:
    assert server_status(user) == status


def test_server_state() -> None:
    assert server_state({"servers": {"": {"state": {"pvc_name": "claim-a"}}}}) == {
        "pvc_name": "claim-a"
    }
    assert server_state({"servers": {"": {}}}) == {}  # a token without admin:server_state
    assert server_state({"servers": {}}) == {}


@pytest.mark.parametrize(
    "created, age",
    [
        (None, ""),
        ("2026-11-21T11:59:30Z", "30s"),
        ("2026-11-21T11:15:00Z", "45m"),
        ("2026-11-21T02:00:00Z", "10h"),
        ("2026-11-18T12:00:00Z", "3d"),
    ],
)
def test_age_of(created: str | None, age: str) -> None:
    assert age_of(created, now=NOW) == age


@pytest.mark.parametrize("name, label", [("alice", "alice"), ("Alice.B@x.org", "alice-b-x-org---")])
def test_username_label_is_kubespawners(name: str, label: str) -> None:
    assert username_label(name).startswith(label)


def _workspace() -> Workspace:
    return Workspace(
        user="alice",
        server="stopped",
        namespace="jh",
        home_pvc="claim-alice",
        pvcs=[
            {
                "metadata": {
                    "name": "claim-alice",
                    "creationTimestamp": "2026-11-19T12:00:00Z",
                    "labels": {VOLUME_NAME_LABEL: "home"},
                    "annotations": {
                        RESET_REQUEST_ANNOTATION: "2026-11-21T10:00:00Z",
                        RESET_BACKUP_ANNOTATION: "true",
                        USAGE_ANNOTATION: '{"available":8589934592,"measured":"2026-11-21T09:00:00Z",'
                        '"size":10737418240,"used":2147483648}',
                    },
                },
                "spec": {
                    "resources": {"requests": {"storage": "10Gi"}},
                    "storageClassName": "fast",
                },
                "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}},
            },
            {
                "metadata": {"name": "claim-alice-data"},
                "spec": {"resources": {"requests": {"storage": "1Gi"}}},
            },
        ],
        project="alice-workspace",
        project_namespace={
            "metadata": {"creationTimestamp": "2026-11-21T11:00:00Z"},
            "status": {"phase": "Active"},
        },
        quotas=[{"status": {"hard": {"pods": "4", "requests.cpu": "2"}, "used": {"pods": "1"}}}],
    )


def test_workspace_as_dict() -> None:
    assert _workspace().as_dict(now=NOW) == {
        "user": "alice",
        "server": "stopped",
        "namespace": "jh",
        "pvcs": [
            {
                "name": "claim-alice",
                "volume": "home",
                "requested": "10Gi",
                "capacity": "10Gi",
                "phase": "Bound",
                "storage_class": "fast",
                "created": "2026-11-19T12:00:00Z",
                "age": "2d",
                "reset_requested": "2026-11-21T10:00:00Z",
                "replaced_by": None,
                "reset_backup": True,
                "used": "2.0Gi",
                "used_bytes": 2147483648,
                "size_bytes": 10737418240,
                "use_percent": 20,
                "usage_measured": "2026-11-21T09:00:00Z",
                "usage_age": "3h",
            },
            {
                "name": "claim-alice-data",
                "volume": "",
                "requested": "1Gi",
                "capacity": "",
                "phase": "",
                "storage_class": "",
                "created": "",
                "age": "",
                "reset_requested": None,
                "replaced_by": None,
                "reset_backup": False,
                "used": "",
                "used_bytes": None,
                "size_bytes": None,
                "use_percent": None,
                "usage_measured": "",
                "usage_age": "",
            },
        ],
        "project": {
            "name": "alice-workspace",
            "phase": "Active",
            "age": "1h",
            "quota": {
                "pods": {"used": "1", "hard": "4"},
                "requests.cpu": {"used": "0", "hard": "2"},
            },
        },
        "notes": [],
    }


def test_a_project_in_state_that_is_gone_shows_missing() -> None:
    ws = Workspace(
        user="bob", server="running", namespace="jh", home_pvc="claim-bob", project="bob-workspace"
    )
    assert ws.project_row(now=NOW) == {
        "name": "bob-workspace",
        "phase": "Missing",
        "age": "",
        "quota": {},
    }


def test_format_table() -> None:
    bob = {"user": "bob", "server": "running", "pvcs": [], "project": None}
    assert format_table([_workspace().as_dict(now=NOW), bob]).splitlines() == [
        "USER   SERVER   PVC               REQUESTED  CAPACITY  USED          USE%  PHASE  CLASS  AGE  "
        "RESET                         PROJECT          PROJECT PHASE  QUOTA USED/HARD",
        "alice  stopped  claim-alice       10Gi       10Gi      2.0Gi 3h ago  20%   Bound  fast   2d   "
        "2026-11-21T10:00:00Z +backup  alice-workspace  Active         pods 1/4, requests.cpu 0/2",
        "                claim-alice-data  1Gi",
        "bob    running  -" + " " * 107 + "-",
    ]
    assert format_table([]) == "No users."
