"""Fixtures of the e2e tier's setup-volume.sh tests (volumes_pod.py lays the pod's files out)."""

from __future__ import annotations

import pytest
from volumes_pod import new_pod_files, remove_pod_files


@pytest.fixture
def pod_files():
    """A fresh image, volume and termination log for one pod run; removed afterwards."""
    files = new_pod_files()
    yield files
    remove_pod_files(files)
