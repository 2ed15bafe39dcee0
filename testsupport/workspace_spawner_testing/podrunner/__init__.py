"""A pod runner for the emulator: the pods' containers run as real local processes.

Used by ``make demo`` and the end-to-end tests::

    emulator = ProcessEmulator(data_dir=".demo-data", openshift=True)
    await emulator.start()
"""

from .emulator import ProcessEmulator
from .layout import Image
from .runner import PodRunner, SandboxUnavailable, check_sandbox, demo_images, notebook_image

__all__ = [
    "Image",
    "PodRunner",
    "ProcessEmulator",
    "SandboxUnavailable",
    "check_sandbox",
    "demo_images",
    "notebook_image",
]
