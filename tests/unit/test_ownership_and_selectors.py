"""One ownership check and one label selector builder, shared by the spawner and the admin CLI."""

from __future__ import annotations

import pytest

from workspace_spawner.constants import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RAW_USERNAME_ANNOTATION,
    USERNAME_LABEL,
)
from workspace_spawner.kube.selectors import label_selector
from workspace_spawner.project.manifests import is_owned_by, make_namespace


@pytest.mark.parametrize(
    ("labels", "extra", "expected"),
    [
        ({"component": "singleuser-storage"}, "", "component=singleuser-storage"),
        ({"a": "1", "b": "2"}, "", "a=1,b=2"),
        ({"a": "1"}, "team=x,tier!=y", "a=1,team=x,tier!=y"),
        ({}, "team=x", "team=x"),
        ({}, "", ""),
    ],
)
def test_label_selector(labels, extra, expected):
    assert label_selector(labels, extra=extra) == expected


def _namespace(labels, annotations=None):
    return {"metadata": {"name": "ns", "labels": labels, "annotations": annotations or {}}}


OWNED = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, USERNAME_LABEL: "alice"}


@pytest.mark.parametrize(
    ("namespace", "username", "owned"),
    [
        # what the spawner makes is the user's, by labels and annotation
        (make_namespace(name="alice-workspace", slug="alice", username="alice"), "alice", True),
        (make_namespace(name="alice-workspace", slug="alice", username="alice"), None, True),
        # the raw name must match when it is asked for
        (_namespace(OWNED, {RAW_USERNAME_ANNOTATION: "Alice"}), "alice", False),
        (_namespace(OWNED), "alice", False),
        # by the labels alone (what workspace-admin delete-project documents)
        (_namespace(OWNED), None, True),
        (_namespace({USERNAME_LABEL: "alice"}), None, False),
        (_namespace({**OWNED, USERNAME_LABEL: "bob"}), None, False),
        (_namespace({MANAGED_BY_LABEL: "someone-else", USERNAME_LABEL: "alice"}), None, False),
    ],
)
def test_is_owned_by(namespace, username, owned):
    assert is_owned_by(namespace, slug="alice", username=username) is owned
