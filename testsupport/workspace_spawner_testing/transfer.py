"""Claims and the transfer's helper pod, set up one way for the export and import tests
(``tests/integration/test_export_import.py``, the pod-runner tests) and
``benchmarks/export_throughput.py``: what a test proves is what the benchmark measures.

The claims' files are the pod runner's directories (``ProcessEmulator.runner.claim_dir``),
which a test or benchmark fills and reads directly; the helper pod is the one
``workspace-admin export``/``import`` starts (``workspace_spawner.admin.transfer``).
"""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workspace_spawner.admin.transfer import Helper, helper_pod
from workspace_spawner.admin.transfer_pod import security_from_traits

if TYPE_CHECKING:
    from .podrunner import ProcessEmulator

__all__ = ["clear", "claim_manifest", "helper", "runner_claim"]


def claim_manifest(
    name: str,
    *,
    namespace: str | None = None,
    storage: str = "1Gi",
    labels: dict[str, str] | None = None,
    snapshot: str | None = None,
) -> dict[str, Any]:
    """A ReadWriteOnce claim of the default StorageClass; restored from the VolumeSnapshot
    ``snapshot`` when given."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage}},
    }
    if snapshot is not None:
        spec["dataSource"] = {
            "apiGroup": "snapshot.storage.k8s.io",
            "kind": "VolumeSnapshot",
            "name": snapshot,
        }
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}


def runner_claim(
    emulator: ProcessEmulator,
    name: str,
    *,
    namespace: str,
    uid: int,
    gid: int,
    storage: str = "1Gi",
    labels: dict[str, str] | None = None,
    mode: int | None = None,
) -> Path:
    """A claim on the pod runner, its directory made now and owned by ``uid``:``gid`` (as
    a volume the image's user writes to); the directory."""
    emulator.create(claim_manifest(name, namespace=namespace, storage=storage, labels=labels))
    path = emulator.runner.claim_dir(namespace, name)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    if mode is not None:
        os.chmod(path, mode)
    return path


def helper(
    core: Any,
    *,
    namespace: str,
    claim: str,
    read_only: bool,
    image: str,
    username_label: str,
    uid: int,
    gid: int,
    timeout: float,
) -> AbstractAsyncContextManager[Helper]:
    """The helper pod serving ``claim`` as the image's user (``fs_gid`` = ``gid``), as
    ``workspace-admin`` starts it; ``async with`` it."""
    return helper_pod(
        core=core,
        namespace=namespace,
        claim=claim,
        username_label=username_label,
        image=image,
        image_pull_policy=None,
        read_only=read_only,
        security=security_from_traits(uid=uid, gid=gid, fs_gid=gid, supplemental_gids=[]),
        node_name=None,
        timeout=timeout,
        log=logging.getLogger("workspace_spawner_testing.transfer"),
    )


def clear(path: Path) -> None:
    """Empty a claim's directory, keeping the directory (its owner and mode)."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
