"""Checks of the volumes feature's settings: each raises ValueError saying what to fix.

Run by the trait validators (:mod:`.traits`), so a bad config fails when the spawner
is configured, naming the setting.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ..quantity import parse_bytes
from .manifests import HOME_VOLUME, SETUP_MOUNT_PATH, VOLUME_SEPARATOR

# A volume's key becomes part of a PVC name (a DNS-1123 label) and of a pod volume name.
_VOLUME_KEY = re.compile(r"^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$")

# -- checks (raise ValueError with the fix in the message) ------------------------------


def check_absolute_path(path: str, *, setting: str) -> str:
    """An absolute path without ``..``, normalised ("/home/jovyan/" -> "/home/jovyan")."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"{setting} must be an absolute path such as /home/jovyan, not {path!r}")
    if ".." in path.split("/"):
        raise ValueError(f"{setting} must not contain '..': write the path it leads to ({path!r})")
    normal = posixpath.normpath(path)
    return "/" if normal in ("/", "//") else normal


def check_sub_path(path: str, *, setting: str) -> str:
    """A relative path inside a claim, without ``..`` ("" = the whole claim)."""
    if not path:
        return ""
    if path.startswith("/"):
        raise ValueError(f"{setting} is a path inside the volume and must be relative: {path!r}")
    if ".." in path.split("/"):
        raise ValueError(f"{setting} must not contain '..': {path!r}")
    return posixpath.normpath(path)


def check_file_name(name: str | None, *, setting: str) -> str:
    """A marker's file name in the top directory of the volume ("" or None: disabled)."""
    if not name:
        return ""
    if "/" in name or name in (".", ".."):
        raise ValueError(
            f"{setting} must be a file name without '/', such as .delete-volume: {name!r}"
        )
    return name


def check_volume_key(key: str, *, setting: str) -> None:
    if (
        not isinstance(key, str)
        or not _VOLUME_KEY.match(key)
        or VOLUME_SEPARATOR in key
        or key == HOME_VOLUME
    ):
        raise ValueError(
            f"{setting}: {key!r} cannot name a volume: use 1-30 lowercase letters, digits or "
            f"single '-' (it becomes part of the PVC's name), and not {HOME_VOLUME!r}"
        )


def _check_entry(
    setting_name: str, key: str, spec: Any, *, known: set[str], required: tuple[str, ...]
) -> str:
    """The checks all volume entries share; returns the entry's name for messages."""
    setting = f"{setting_name}[{key!r}]"
    check_volume_key(key, setting=setting_name)
    if not isinstance(spec, dict):
        raise ValueError(f"{setting} must be a dict with {' and '.join(required)}")
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"{setting} has unknown keys {sorted(unknown)}: use {sorted(known)}")
    for name in required:
        if not spec.get(name):
            raise ValueError(f"{setting} needs {name!r}")
    return setting


def check_workspace_volumes(volumes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Normalise ``workspace_volumes``: name -> {mount_path, capacity, storage_class, access_modes, sub_path}."""
    known = {"mount_path", "capacity", "storage_class", "access_modes", "sub_path"}
    result = {}
    for key, spec in volumes.items():
        setting = _check_entry(
            "workspace_volumes", key, spec, known=known, required=("mount_path", "capacity")
        )
        parse_bytes(spec["capacity"])
        modes = spec.get("access_modes") or ["ReadWriteOnce"]
        if not isinstance(modes, list):
            raise ValueError(f"{setting}['access_modes'] must be a list such as ['ReadWriteOnce']")
        result[key] = {
            "mount_path": check_absolute_path(
                spec["mount_path"], setting=f"{setting}['mount_path']"
            ),
            "capacity": str(spec["capacity"]),
            "storage_class": spec.get("storage_class"),
            "access_modes": list(modes),
            "sub_path": check_sub_path(spec.get("sub_path", ""), setting=f"{setting}['sub_path']"),
        }
    return result


def check_shared_volumes(volumes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Normalise ``shared_volumes``: name -> {claim, mount_path, read_only (default True), sub_path}."""
    known = {"claim", "mount_path", "read_only", "sub_path"}
    result = {}
    for key, spec in volumes.items():
        setting = _check_entry(
            "shared_volumes", key, spec, known=known, required=("claim", "mount_path")
        )
        result[key] = {
            "claim": str(spec["claim"]),
            "mount_path": check_absolute_path(
                spec["mount_path"], setting=f"{setting}['mount_path']"
            ),
            "read_only": bool(spec.get("read_only", True)),
            "sub_path": check_sub_path(spec.get("sub_path", ""), setting=f"{setting}['sub_path']"),
        }
    return result


def check_mount_paths(
    *, workspace_mount_path: str, workspace_volumes: dict, shared_volumes: dict
) -> None:
    """Refuse two volumes on one mount path (the API server would reject the pod)."""
    seen = {workspace_mount_path: "workspace_mount_path"}
    for setting, volumes in (
        ("workspace_volumes", workspace_volumes),
        ("shared_volumes", shared_volumes),
    ):
        for key, spec in volumes.items():
            path = spec["mount_path"]
            where = f"{setting}[{key!r}]"
            if path in seen:
                raise ValueError(
                    f"{where} and {seen[path]} are both mounted at {path}: give each volume its own mount path"
                )
            seen[path] = where


def check_populate_source(path: str | None) -> str | None:
    """None (no copy), "" (the image's files at the mount path) or an absolute path."""
    if path is None or path == "":
        return path
    path = check_absolute_path(path, setting="volume_populate_source")
    if path == SETUP_MOUNT_PATH or path.startswith(SETUP_MOUNT_PATH + "/"):
        raise ValueError(
            f"volume_populate_source must not be under {SETUP_MOUNT_PATH}, where the init "
            "container mounts the volume"
        )
    return path
