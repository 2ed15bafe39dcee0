"""Zero to JupyterHub's values as the chart applies them: merged like `helm -f`, then the
spawner settings its jupyterhub_config.py makes of them (the part this project meets).

The chart data (values.yaml, values.schema.yaml) is /work/shared/anchors/z2jh; the mapping
below follows the chart's jupyterhub_config.py (singleuser.* -> c.KubeSpawner.*), for the
keys that decide what our pods look like: uid, fsGid, allowPrivilegeEscalation, the
cloud-metadata iptables init container, the dynamic home volume, and hub.config.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _find_chart_data() -> Path:
    """shared/anchors/z2jh beside the checkout (CI's clone) or beside a parent (a git worktree)."""
    for parent in ROOT.parents:
        candidate = parent / "shared" / "anchors" / "z2jh"
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "anchors" / "z2jh"


Z2JH = _find_chart_data()


def helm_merge(base: Any, override: Any) -> Any:
    """`helm install -f`: maps merged recursively, lists and scalars replaced, null deletes."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def chart_values(*files: str) -> dict[str, Any]:
    """The chart's values.yaml with helm-values/<file> merged over it, in order."""
    values = yaml.safe_load((Z2JH / "values.yaml").read_text())
    for name in files:
        values = helm_merge(values, yaml.safe_load((ROOT / "helm-values" / name).read_text()))
    return values


def spawner_traits(values: dict[str, Any]) -> dict[str, Any]:
    """The WorkspaceSpawner settings the chart's jupyterhub_config.py makes of ``values``."""
    single = values["singleuser"]
    traits: dict[str, Any] = {}
    # set_config_if_not_none: a null (deleted) value leaves KubeSpawner's default (None)
    for key, trait in (("uid", "uid"), ("fsGid", "fs_gid"),
                       ("allowPrivilegeEscalation", "allow_privilege_escalation")):
        if single.get(key) is not None:
            traits[trait] = single[key]
    if single["cloudMetadata"]["blockWithIptables"]:
        ip = single["cloudMetadata"]["ip"]
        traits["init_containers"] = [{
            "name": "block-cloud-metadata",
            "image": "quay.io/jupyterhub/k8s-network-tools:4.3.1",
            "command": ["iptables", "--append", "OUTPUT", "--protocol", "tcp",
                        "--destination", ip, "--destination-port", "80", "--jump", "DROP"],
            "securityContext": {"privileged": True, "runAsUser": 0,
                                "capabilities": {"add": ["NET_ADMIN"]}},
        }]
    storage = single["storage"]
    if storage["type"] == "dynamic":
        traits["storage_pvc_ensure"] = True
        if storage["dynamic"].get("pvcNameTemplate"):
            traits["pvc_name_template"] = storage["dynamic"]["pvcNameTemplate"]
        name = storage["dynamic"]["volumeNameTemplate"]
        traits["volumes"] = [{"name": name, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
        traits["volume_mounts"] = [{"name": name, "mountPath": storage["homeMountPath"]}]
    elif storage["type"] == "none":
        traits.setdefault("storage_pvc_ensure", False)
    traits.update(((values.get("hub") or {}).get("config") or {}).get("WorkspaceSpawner") or {})
    return traits
