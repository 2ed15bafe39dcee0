"""A real Kubernetes control plane for tests: ``ControlPlane``, the hub's RBAC, a command.

with ControlPlane() as cp:
    cp.write_kubeconfig("admin.kubeconfig")

python -m workspace_spawner_testing.controlplane run -- pytest tests/integration
"""

from .cluster import (
    ADMIN,
    DEFAULT_STORAGE_CLASS,
    FIXED_STORAGE_CLASS,
    NODE_NAME,
    RUNNER_NODE_NAME,
    RUNNER_TAINT,
    Client,
    ControlPlane,
    ControlPlaneError,
    find_binaries,
    node_ready,
)
from .hub import grant_hub, setup_hub, shipped_rbac

__all__ = [
    "ADMIN",
    "DEFAULT_STORAGE_CLASS",
    "FIXED_STORAGE_CLASS",
    "NODE_NAME",
    "RUNNER_NODE_NAME",
    "RUNNER_TAINT",
    "Client",
    "ControlPlane",
    "ControlPlaneError",
    "find_binaries",
    "node_ready",
    "grant_hub",
    "setup_hub",
    "shipped_rbac",
]
