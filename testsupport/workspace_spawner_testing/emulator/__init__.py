"""A Kubernetes API emulator served over real HTTP, for tests and the local demo.

`kubernetes_asyncio` and KubeSpawner run unmodified against it through a kubeconfig::

    emulator = Emulator().start_in_thread()
    emulator.write_kubeconfig("kubeconfig")
"""

from .emulator import ADMIN_USER, Emulator, allow_all
from .errors import ApiError
from .faults import Fault, RequestRecord

__all__ = ["ADMIN_USER", "ApiError", "Emulator", "Fault", "RequestRecord", "allow_all"]
