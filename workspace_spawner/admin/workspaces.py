"""Find each user's workspace objects the way the spawner finds them.

Names come first from what the spawner saved in the server's state (the hub keeps
it; ``GET /users/{name}`` with ``admin:server_state`` returns it), so a template
changed since the user's last start never points the tool at another PVC; then
from the hub's config, through a spawner built exactly as the hub builds it but
never started; and PVCs and projects are also found by the labels the spawner
puts on them (:mod:`workspace_spawner.constants`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from jupyterhub.spawner import Spawner
from jupyterhub.traitlets import EntryPointType
from kubernetes_asyncio.client import Configuration, CoreV1Api
from kubernetes_asyncio.config import (
    ConfigException,
    kube_config,
    load_incluster_config,
    load_kube_config,
)
from kubespawner import KubeSpawner
from kubespawner.slugs import is_valid_label, safe_slug
from traitlets import HasTraits
from traitlets.config import Config
from traitlets.config.loader import load_pyconfig_files

from ..constants import (
    RESET_BACKUP_ANNOTATION,
    RESET_REQUEST_ANNOTATION,
    STORAGE_COMPONENT,
    USERNAME_LABEL,
    VOLUME_NAME_LABEL,
)
from ..kube import KubeError
from ..kube.admin import list_namespaces, list_pvcs, list_resource_quotas
from ..kube.projects import read_namespace
from ..kube.selectors import label_selector
from ..kube.volumes import read_pvc
from ..project.manifests import owner_labels
from ..volumes.usage import format_bytes, usage_from_pvc
from .hub import server_state, server_status

__all__ = [
    "load_hub_config",
    "spawner_class_from_config",
    "build_spawner",
    "kube_configuration",
    "default_kubeconfig",
    "Workspace",
    "find_workspace",
    "username_label",
    "age_of",
    "PROJECT_STATE_KEY",
]

# The keys under which the spawner saves names in its state: the project feature's
# project name, and the volumes feature's {volume: PVC name} (KubeSpawner's own
# are ``pvc_name`` and ``namespace``).
PROJECT_STATE_KEY = "workspace_project_name"
PVCS_STATE_KEY = "workspace_pvcs"


def load_hub_config(path: str) -> Config:
    """The hub's traitlets config, loaded as ``jupyterhub -f path`` loads it."""
    directory, filename = os.path.split(os.path.abspath(path))
    return load_pyconfig_files([filename], directory)


class _SpawnerClass(HasTraits):
    # JupyterHub's own trait, so "workspace", "kubespawner" or an import string resolve as in the hub
    spawner_class = EntryPointType(
        default_value="workspace_spawner.WorkspaceSpawner",
        klass=Spawner,
        entry_point_group="jupyterhub.spawners",
    )


def spawner_class_from_config(config: Config) -> type[KubeSpawner]:
    """``c.JupyterHub.spawner_class`` as a class; it must be KubeSpawner or a subclass."""
    holder = _SpawnerClass()
    if "spawner_class" in config.JupyterHub:
        holder.spawner_class = config.JupyterHub.spawner_class
    cls = holder.spawner_class
    if not (isinstance(cls, type) and issubclass(cls, KubeSpawner)):
        raise ValueError(
            f"c.JupyterHub.spawner_class is {cls!r}: workspace-admin works with WorkspaceSpawner "
            "or another KubeSpawner subclass."
        )
    return cls


def build_spawner(
    spawner_class: type[KubeSpawner], *, config: Config, username: str, state: dict[str, Any]
) -> KubeSpawner:
    """A spawner for ``username``'s default server with its saved state loaded; never started.

    KubeSpawner's ``__init__`` derives the names from its templates (and loads the
    kubeconfig, so a running event loop is needed); ``load_state`` then puts the
    saved names in place, as the hub does
    (https://jupyterhub.readthedocs.io/en/stable/reference/spawners.html#spawner-state).
    The hub does not tell its users' ids, so ``{userid}`` in a template expands to "None".
    """
    user = SimpleNamespace(name=username, id=None, url=f"/user/{username}/", escaped_name=username)
    hub = SimpleNamespace(
        public_host="", url="/hub/", base_url="/hub/", api_url="http://127.0.0.1:8081/hub/api"
    )
    spawner = spawner_class(config=config, user=user, hub=hub)
    if state:
        spawner.load_state(state)
    return spawner


async def kube_configuration(*, kubeconfig: str, spawner: KubeSpawner) -> Configuration:
    """The Kubernetes client configuration: ``kubeconfig`` if given, else as the hub's spawners load it.

    Without ``kubeconfig``: the pod's service account, else the default kubeconfig
    (``KUBECONFIG``, else ``~/.kube/config``), the order of kubespawner.clients.load_config;
    then the spawner's ``k8s_api_host``, ``k8s_api_ssl_ca_cert`` and ``k8s_api_verify_ssl``
    as that function applies them. A configuration of its own, never the process-wide
    default: what kubespawner loaded there is cached for the life of the process.
    Raises ConfigException when there is none.
    """
    configuration = Configuration()
    if kubeconfig:
        await load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            load_incluster_config(client_configuration=configuration)
        except ConfigException:
            await load_kube_config(client_configuration=configuration)
    if spawner.k8s_api_ssl_ca_cert:
        configuration.ssl_ca_cert = spawner.k8s_api_ssl_ca_cert
    if spawner.k8s_api_host:
        configuration.host = spawner.k8s_api_host
    if spawner.k8s_api_verify_ssl is not None:
        configuration.verify_ssl = spawner.k8s_api_verify_ssl
    return configuration


@contextmanager
def default_kubeconfig(kubeconfig: str) -> Iterator[None]:
    """Make ``kubeconfig`` (if given) kubernetes_asyncio's default kubeconfig inside the block.

    Every KubeSpawner loads the default kubeconfig in ``__init__``
    (kubespawner.clients.load_config) and fails without one; kubernetes_asyncio reads
    its location from ``KUBECONFIG`` once, at import. So that the spawners built here
    only to derive names need no kubeconfig but ``--kubeconfig``, it stands in for the
    default as ``KUBECONFIG`` would, and the old default is put back after the block.
    """
    if not kubeconfig:
        yield
        return
    previous = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kubeconfig
    try:
        yield
    finally:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = previous


def username_label(username: str) -> str:
    """The value of KubeSpawner's ``hub.jupyter.org/username`` label for ``username``."""
    return safe_slug(username, is_valid=is_valid_label)


def age_of(timestamp: str | None, *, now: datetime) -> str:
    if not timestamp:
        return ""
    created = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((now - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


@dataclass
class Workspace:
    """One user's server and workspace objects, as `list` shows them."""

    user: str
    server: str  # running, pending, stopped (see hub.server_status)
    namespace: str
    home_pvc: str  # the name the spawner uses for the main PVC (from state, else config)
    project_slug: str = ""  # the user's value of the username label on their project
    pvcs: list[dict[str, Any]] = field(default_factory=list)
    project: str | None = None  # the name from state, else the one found by labels
    project_namespace: dict[str, Any] | None = None
    quotas: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def pvc_rows(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or datetime.now(timezone.utc)
        rows = []
        for pvc in self.pvcs:
            meta, spec, status = pvc["metadata"], pvc.get("spec") or {}, pvc.get("status") or {}
            annotations = meta.get("annotations") or {}
            usage = usage_from_pvc(pvc)
            rows.append(
                {
                    "name": meta["name"],
                    "volume": (meta.get("labels") or {}).get(VOLUME_NAME_LABEL, ""),
                    "requested": ((spec.get("resources") or {}).get("requests") or {}).get(
                        "storage", ""
                    ),
                    "capacity": (status.get("capacity") or {}).get("storage", ""),
                    "phase": status.get("phase", ""),
                    "storage_class": spec.get("storageClassName") or "",
                    "created": meta.get("creationTimestamp", ""),
                    "age": age_of(meta.get("creationTimestamp"), now=now),
                    "reset_requested": annotations.get(RESET_REQUEST_ANNOTATION),
                    "reset_backup": annotations.get(RESET_BACKUP_ANNOTATION) == "true",
                    # as the volume's last start measured it (volume_usage_warn_percent)
                    "used": format_bytes(usage.used) if usage else "",
                    "used_bytes": usage.used if usage else None,
                    "size_bytes": usage.size if usage else None,
                    "use_percent": usage.percent if usage else None,
                    "usage_measured": usage.measured if usage else "",
                    "usage_age": (
                        age_of(usage.measured, now=now) if usage and usage.measured else ""
                    ),
                }
            )
        return rows

    def project_row(self, *, now: datetime | None = None) -> dict[str, Any] | None:
        if not self.project:
            return None
        now = now or datetime.now(timezone.utc)
        ns = self.project_namespace
        quota: dict[str, dict[str, str]] = {}
        for rq in self.quotas:
            status = rq.get("status") or {}
            for resource, hard in (status.get("hard") or {}).items():
                quota[resource] = {
                    "used": (status.get("used") or {}).get(resource, "0"),
                    "hard": hard,
                }
        return {
            "name": self.project,
            "phase": ((ns or {}).get("status") or {}).get("phase", "Missing" if ns is None else ""),
            "age": age_of((ns or {}).get("metadata", {}).get("creationTimestamp"), now=now),
            "quota": quota,
        }

    def as_dict(self, *, now: datetime | None = None) -> dict[str, Any]:
        return {
            "user": self.user,
            "server": self.server,
            "namespace": self.namespace,
            "pvcs": self.pvc_rows(now=now),
            "project": self.project_row(now=now),
            "notes": self.notes,
        }


async def find_workspace(
    core: CoreV1Api,
    *,
    user: dict[str, Any],
    spawner_class: type[KubeSpawner],
    config: Config,
    selector: str = "",
    with_projects: bool = True,
) -> Workspace:
    """Read the server status, PVCs and project of the hub user ``user`` (a user model)."""
    state = server_state(user)
    spawner = build_spawner(spawner_class, config=config, username=user["name"], state=state)
    namespace = state.get("namespace") or spawner.namespace
    home_pvc = state.get("pvc_name") or spawner.pvc_name
    ws = Workspace(
        user=user["name"],
        server=server_status(user),
        namespace=namespace,
        home_pvc=home_pvc,
        # the project feature's slug (ProjectMixin labels the namespace with it)
        project_slug=spawner._expand_user_properties("{safe_username}", slug_scheme="safe"),
    )

    slug = username_label(user["name"])
    labels = label_selector({"component": STORAGE_COMPONENT, USERNAME_LABEL: slug}, extra=selector)
    pvcs = await list_pvcs(api=core, namespace=namespace, label_selector=labels)
    found = {pvc["metadata"]["name"]: pvc for pvc in pvcs}
    saved = state.get(PVCS_STATE_KEY)
    named = [home_pvc, *(saved.values() if isinstance(saved, dict) else [])]
    for name in dict.fromkeys(named):
        if not selector and name not in found:
            # a PVC made before the labels were there (or relabelled by hand) is still the user's
            pvc = await read_pvc(api=core, namespace=namespace, name=name)
            if pvc is not None:
                found[name] = pvc
    # the main volume first, then the others by name
    ws.pvcs = sorted(
        found.values(), key=lambda p: (p["metadata"]["name"] != home_pvc, p["metadata"]["name"])
    )

    if with_projects:
        # from state, else from the config when the project feature is on, else by labels
        name = state.get(PROJECT_STATE_KEY)
        if not name and getattr(spawner, "workspace_project_enabled", False):
            name = spawner.workspace_project_name
        await _find_project(core, ws=ws, name=name, selector=selector)
    return ws


async def _find_project(core: CoreV1Api, *, ws: Workspace, name: str | None, selector: str) -> None:
    slug = ws.project_slug
    if name:
        ws.project = name
        ws.project_namespace = await read_namespace(api=core, name=name)
    else:
        labels = label_selector(owner_labels(slug=slug), extra=selector)
        try:
            namespaces = await list_namespaces(api=core, label_selector=labels)
        except KubeError as e:
            if e.status != 403:
                raise
            ws.notes.append(f"projects not looked up: {e}")
            return
        if not namespaces:
            return
        ws.project_namespace = namespaces[0]
        ws.project = namespaces[0]["metadata"]["name"]
        if len(namespaces) > 1:
            others = ", ".join(ns["metadata"]["name"] for ns in namespaces[1:])
            ws.notes.append(f"more projects labelled for this user: {others}")
    if ws.project_namespace is not None:
        ws.quotas = await list_resource_quotas(api=core, namespace=ws.project)
