"""The objects a fresh test cluster is given, built one way for every test bed.

The emulator (:mod:`.emulator`) and the real control plane's harness
(:mod:`.controlplane.cluster`) both start with a default StorageClass, as a
cluster installer leaves one (https://kubernetes.io/docs/concepts/storage/storage-classes/#default-storageclass);
only the provisioner differs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_STORAGE_CLASS", "DEFAULT_CLASS_ANNOTATION", "storage_class"]

DEFAULT_STORAGE_CLASS = "standard"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def storage_class(
    *, name: str, provisioner: str, expandable: bool = True, default: bool = False
) -> dict[str, Any]:
    """A StorageClass binding at once (``Immediate``), deleting its volumes with their claims."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"} if default else {},
        },
        "provisioner": provisioner,
        "allowVolumeExpansion": expandable,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
