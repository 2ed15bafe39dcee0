"""The pod runner: the pods' containers run as real local processes (the node agent's
process runtime), on the real tier's runner node or as the emulator's node.

Used by ``make demo`` and the end-to-end tests::

    emulator = ProcessEmulator(data_dir=".demo-data", openshift=True)
    await emulator.start()
"""

from .emulator import ProcessEmulator
from .layout import Image
from .runner import SandboxUnavailable, check_sandbox, demo_images, notebook_image

__all__ = [
    "Image",
    "ProcessEmulator",
    "SandboxUnavailable",
    "check_sandbox",
    "demo_images",
    "notebook_image",
]
