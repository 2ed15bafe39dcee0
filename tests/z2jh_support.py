"""Zero to JupyterHub's values as the chart applies them: merged like `helm -f`, then the
spawner settings its jupyterhub_config.py makes of them (the part this project meets).

The chart data (values.yaml, values.schema.yaml) is /work/shared/anchors/z2jh; the mapping
below follows the chart's jupyterhub_config.py (singleuser.* -> c.KubeSpawner.*), for the
keys that decide what our pods look like: uid, fsGid, allowPrivilegeEscalation, the
cloud-metadata iptables init container, the dynamic home volume, and hub.config.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
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
    for key, trait in (
        ("uid", "uid"),
        ("fsGid", "fs_gid"),
        ("allowPrivilegeEscalation", "allow_privilege_escalation"),
    ):
        if single.get(key) is not None:
            traits[trait] = single[key]
    if single["cloudMetadata"]["blockWithIptables"]:
        ip = single["cloudMetadata"]["ip"]
        traits["init_containers"] = [
            {
                "name": "block-cloud-metadata",
                "image": "quay.io/jupyterhub/k8s-network-tools:4.3.1",
                "command": [
                    "iptables",
                    "--append",
                    "OUTPUT",
                    "--protocol",
                    "tcp",
                    "--destination",
                    ip,
                    "--destination-port",
                    "80",
                    "--jump",
                    "DROP",
                ],
                "securityContext": {
                    "privileged": True,
                    "runAsUser": 0,
                    "capabilities": {"add": ["NET_ADMIN"]},
                },
            }
        ]
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


@contextlib.contextmanager
def user_namespace_rights(kube: Any) -> Iterator[None]:
    """On a real cluster, the hub's rights in user namespaces while the block runs.

    helm-values/user-namespaces-cluster-role.yaml, applied by the admin as the docs say
    (the emulator authorises everything unless a test installs RBAC).
    """
    if not kube.real:
        yield
        return
    from workspace_spawner_testing.controlplane import Client

    admin = Client.from_kubeconfig(kube.admin_kubeconfig)
    path = ROOT / "helm-values" / "user-namespaces-cluster-role.yaml"
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    hub_namespace = _hub_namespace(kube)
    for obj in objects:
        for subject in obj.get("subjects", []):
            subject["namespace"] = hub_namespace
        admin.apply(obj)
    try:
        yield
    finally:
        for obj in objects:
            admin.request(
                "DELETE",
                f"/apis/rbac.authorization.k8s.io/v1/"
                f"{obj['kind'].lower()}s/{obj['metadata']['name']}",
            )


def _hub_namespace(kube: Any) -> str:
    """The namespace of the hub's ServiceAccount, from its kubeconfig's user name."""
    config = yaml.safe_load(Path(kube.kubeconfig).read_text())
    user = config["contexts"][0]["context"].get("user", "")
    names = [u["name"] for u in config.get("users", [])]
    for name in [user, *names]:
        if name.startswith("system:serviceaccount:"):
            return name.split(":")[2]
    return "jupyterhub"


# A real control plane on a shared machine starts pods slower than the emulator.
REAL_START_TIMEOUT = 240


def patient(make_spawner: Any, kube: Any) -> Any:
    """``make_spawner`` with a start_timeout a real control plane's pods can meet."""

    def make(*args: Any, **traits: Any) -> Any:
        if kube.real:
            traits.setdefault("start_timeout", REAL_START_TIMEOUT)
        return make_spawner(*args, **traits)

    return make
