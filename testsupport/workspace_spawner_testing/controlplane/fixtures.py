"""The control plane as a pytest fixture: ``pytest_plugins = [
"workspace_spawner_testing.controlplane.fixtures"]``, then ask for ``control_plane``.

One per test session (a start takes tens of seconds), in pytest's temporary directory;
stopped at the session's end, and killed with the session however it ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import ControlPlane


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(directory=tmp_path_factory.mktemp("controlplane")) as cp:
        yield cp
