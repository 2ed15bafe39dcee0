"""The pod runner for integration tests: an emulator whose pods run for real (root only)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from workspace_spawner_testing.podrunner import Image, ProcessEmulator


def running_pods(data_dir: Path, image: Image) -> Iterator[ProcessEmulator]:
    """Yield a started ProcessEmulator running every image as ``image``; stop it after."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the pod runner needs root")
        pytest.skip("the pod runner needs root")
    emulator = ProcessEmulator(
        data_dir=data_dir,
        images={"*": image},
        ip_prefix=f"127.{random.randint(100, 250)}.{random.randint(1, 250)}",
    )
    emulator.start_in_thread()
    yield emulator
    emulator.stop_thread()
