"""``workspace-admin``: list, stop, reset, expand and delete users' workspaces, safely.

A traitlets Application with one subcommand per action. Every subcommand talks to
the hub's REST API (server status, the names the spawner saved, stop and start)
and to Kubernetes (PVCs, projects), and reads the hub's own config file so the
names it derives are the spawner's.

Exit codes: 0 ok; 1 some rows failed (named on stderr) or the hub/cluster could
not be used; 2 usage error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApisApi, CoreV1Api, CustomObjectsApi, StorageV1Api
from kubernetes_asyncio.config import ConfigException
from tqdm import tqdm
from traitlets import Bool, Float, List, TraitError, Unicode, default
from traitlets.config import Application, ArgumentError

from .._version import __version__
from ..constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION, USERNAME_LABEL
from ..kube import KubeError
from ..kube.admin import list_storage_classes, read_storage_class
from ..kube.projects import delete_project, detect_openshift, read_namespace
from ..kube.volumes import delete_pvc, patch_pvc
from ..quantity import parse_bytes
from .hub import HubClient, HubError, server_status
from .table import format_table
from .workspaces import (
    Workspace,
    age_of,
    build_spawner,
    default_kubeconfig,
    find_workspace,
    kube_configuration,
    load_hub_config,
    spawner_class_from_config,
)

__all__ = ["WorkspaceAdmin", "main"]

USAGE_ERROR = 2
PARTIAL_FAILURE = 1


class UsageError(Exception):
    """Wrong arguments: exit 2 with the message."""


class Refused(Exception):
    """The action is refused for this row, for the reason given."""


@dataclass
class Row:
    """What a changing command did (or, with --dry-run, would do) for one user."""

    user: str
    actions: list[str] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "ok": self.error is None, "actions": self.actions, "error": self.error, **self.details}


@dataclass
class Context:
    hub: HubClient
    core: CoreV1Api
    storage: StorageV1Api
    config: Any
    spawner_class: type


_common_aliases = {
    ("f", "config"): "AdminCommand.hub_config_file",
    "hub-url": "AdminCommand.hub_url",
    "token-file": "AdminCommand.token_file",
    "kubeconfig": "AdminCommand.kubeconfig",
    ("l", "selector"): "AdminCommand.selector",
    "timeout": "AdminCommand.timeout",
    "log-level": "Application.log_level",
}
_common_flags = {
    "json": ({"AdminCommand": {"json": True}}, "Print JSON (for scripts) instead of a table or lines."),
    "debug": ({"Application": {"log_level": 10}}, "Log every request."),
}
_dry_run_flag = {
    "dry-run": (
        {"AdminCommand": {"dry_run": True}},
        "Print exactly what would be done, and change nothing (no write request is sent).",
    )
}
_yes_flag = {
    "yes": ({"AdminCommand": {"yes": True}}, "Do not ask for confirmation (needed without a terminal)."),
}
_stop_flag = {
    "stop": ({"AdminCommand": {"stop": True}}, "Stop a running server first (through the hub) instead of refusing."),
}


class AdminCommand(Application):
    """What every subcommand shares: the hub, the cluster, the hub's config, output and exit codes."""

    version = __version__

    hub_url = Unicode(
        "http://127.0.0.1:8081/hub/api",
        config=True,
        help="The hub's REST API URL (ends in /hub/api).",
    )
    token_file = Unicode(
        "",
        config=True,
        help="A file holding the API token; default: the JUPYTERHUB_API_TOKEN environment variable.",
    )
    kubeconfig = Unicode(
        "",
        config=True,
        help="A kubeconfig file; default: the pod's service account in a pod, else KUBECONFIG or ~/.kube/config.",
    )
    hub_config_file = Unicode(
        "jupyterhub_config.py",
        config=True,
        help="The hub's config file, read to derive names exactly as the spawner does.",
    )
    selector = Unicode(
        "",
        config=True,
        help="A label selector (e.g. 'team=a') that PVCs and projects must also match.",
    )
    timeout = Float(120, config=True, help="Seconds to wait for a server to stop or start.")
    json = Bool(False, config=True, help="Print JSON instead of text.")
    dry_run = Bool(False, config=True, help="Change nothing; print what would be done.")
    yes = Bool(False, config=True, help="Do not ask for confirmation.")
    stop = Bool(False, config=True, help="Stop running servers first.")

    aliases = _common_aliases
    flags = _common_flags

    @default("log_level")
    def _default_log_level(self):
        return 20  # INFO: every change is logged

    @default("log_format")
    def _default_log_format(self):
        return "[%(name)s %(asctime)s %(levelname)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self):
        return "%H:%M:%S"

    def exit(self, exit_status: int | str | None = 0) -> None:
        # traitlets' catch_config_error exits 1 on bad options; for us that is a usage error
        if isinstance(sys.exc_info()[1], (TraitError, ArgumentError)):
            exit_status = USAGE_ERROR
        super().exit(exit_status)

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        try:
            code = asyncio.run(self._main())
        except UsageError as e:
            print(f"{self.name}: {e}", file=sys.stderr)
            print(f"Run '{self.name} --help' for its options and examples.", file=sys.stderr)
            code = USAGE_ERROR
        self.exit(code)

    def _token(self) -> str:
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    return f.read().strip()
            except OSError as e:
                raise UsageError(f"Cannot read the token file: {e}") from e
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not token:
            raise UsageError("No API token: set JUPYTERHUB_API_TOKEN or pass --token-file.")
        return token

    def _hub_config(self):
        if not os.path.exists(self.hub_config_file):
            raise UsageError(
                f"The hub's config file {self.hub_config_file} does not exist: pass it with -f PATH."
            )
        try:
            config = load_hub_config(self.hub_config_file)
        except Exception as e:  # the file is the admin's Python: any error can come out of it
            raise UsageError(f"Cannot load the hub's config file {self.hub_config_file}: {e}") from e
        try:
            return config, spawner_class_from_config(config)
        except (ValueError, TraitError) as e:
            raise UsageError(str(e)) from e

    async def _main(self) -> int:
        self.check_args()
        token = self._token()
        config, spawner_class = self._hub_config()
        if self.kubeconfig and not os.path.exists(self.kubeconfig):
            raise UsageError(f"The kubeconfig {self.kubeconfig} does not exist.")
        with default_kubeconfig(self.kubeconfig):
            try:
                spawner = build_spawner(spawner_class, config=config, username="workspace-admin", state={})
                configuration = await kube_configuration(kubeconfig=self.kubeconfig, spawner=spawner)
            except (ConfigException, OSError) as e:
                hint = (
                    f"Check the kubeconfig {self.kubeconfig}."
                    if self.kubeconfig
                    else "Pass --kubeconfig, set KUBECONFIG (or ~/.kube/config), or run in a pod with a service account."
                )
                print(f"error: No Kubernetes config: {e}. {hint}", file=sys.stderr)
                return PARTIAL_FAILURE
            async with aiohttp.ClientSession() as session, ApiClient(configuration) as api:
                ctx = Context(
                    hub=HubClient(url=self.hub_url, token=token, session=session),
                    core=CoreV1Api(api),
                    storage=StorageV1Api(api),
                    config=config,
                    spawner_class=spawner_class,
                )
                try:
                    return await self.run(ctx)
                except (HubError, KubeError) as e:
                    print(f"error: {e}", file=sys.stderr)
                    return PARTIAL_FAILURE

    def check_args(self) -> None:
        """Raise UsageError for wrong positional arguments."""

    async def run(self, ctx: Context) -> int:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------

    async def workspace(self, ctx: Context, user: dict[str, Any], *, with_projects: bool = True) -> Workspace:
        return await find_workspace(
            ctx.core,
            user=user,
            spawner_class=ctx.spawner_class,
            config=ctx.config,
            selector=self.selector,
            with_projects=with_projects,
        )

    def say(self, row: Row, action: str) -> None:
        """Record an action of a row (prefixed 'would ' with --dry-run) and print it unless --json."""
        text = f"would {action}" if self.dry_run else action
        row.actions.append(text)
        if not self.json:
            print(f"{row.user}: {text}")
        if not self.dry_run:
            self.log.info("%s: %s", row.user, action)

    def note(self, row: Row, text: str) -> None:
        """Record and print what was found, not done (the same with --dry-run)."""
        row.actions.append(text)
        if not self.json:
            print(f"{row.user}: {text}")

    def finish(self, rows: list[Row], *, print_json: bool = True) -> int:
        """Print the JSON output, name the failed rows on stderr, and return the exit code."""
        if self.json and print_json:
            print(json.dumps([row.as_dict() for row in rows], indent=2))
        failed = [row for row in rows if row.error]
        for row in failed:
            print(f"error: {row.user}: {row.error}", file=sys.stderr)
        if failed:
            print(f"failed: {', '.join(row.user for row in failed)}", file=sys.stderr)
            return PARTIAL_FAILURE
        return 0

    async def each_user(self, ctx: Context, names: list[str], action) -> list[Row]:
        """Run ``action(ctx, row, user_model)`` for each user; a failure fails only that row."""
        rows = []
        for name in names:
            row = Row(user=name)
            rows.append(row)
            try:
                user = await ctx.hub.get_user(name)
                await action(ctx, row, user)
            except (HubError, KubeError, Refused, TimeoutError) as e:
                row.error = str(e)
        return rows

    async def stop_server(self, ctx: Context, row: Row, user: dict[str, Any]) -> None:
        self.say(row, "stop the server through the hub")
        if self.dry_run:
            return
        await ctx.hub.stop_server(row.user)
        await ctx.hub.wait_for_status(row.user, "stopped", timeout=self.timeout)
        self.log.info("%s: server stopped", row.user)

    def confirm(self, question: str) -> bool:
        """Ask ``question``: whether the answer is yes. UsageError without a terminal to ask on."""
        if self.yes or self.dry_run:
            return True
        if not sys.stdin.isatty():
            raise UsageError("Refusing to delete without confirmation: no terminal to ask on. Pass --yes.")
        answer = input(f"{question} [y/N] ").strip().lower()
        return answer in ("y", "yes")


class _UsersCommand(AdminCommand):
    """A subcommand taking USER... arguments."""

    def check_args(self) -> None:
        if not self.extra_args:
            raise UsageError("Name at least one user.")


# -- list ----------------------------------------------------------------------------


class ListCommand(AdminCommand):
    name = "workspace-admin list"
    description = """List the users' servers, volumes and projects: one row per user.

Usage: workspace-admin list [USER...] [options]

Each row shows the server (running, pending, stopped), the user's PVCs (name,
requested and actual capacity, phase, storage class, age), a pending reset request,
and the workspace project (name, phase, quota use). Names come from the server's
saved state, else the hub's config; PVCs are also found by their labels.
"""
    examples = """
workspace-admin list -f /etc/jupyterhub/jupyterhub_config.py
workspace-admin list --user alice --user bob --json
workspace-admin list -l team=physics
"""
    users = List(Unicode(), config=True, help="Only these users (repeat --user for more).")
    deleted = Bool(False, config=True, help="The claims of deleted users kept by volume_retention, instead.")
    aliases = {**_common_aliases, "user": "ListCommand.users"}
    flags = {
        **_common_flags,
        "deleted": (
            {"ListCommand": {"deleted": True}},
            "Show the claims of deleted users that volume_retention keeps, and when they may be purged.",
        ),
    }

    async def run(self, ctx: Context) -> int:
        if self.deleted:
            return await print_retained(self, ctx)
        names = list(self.users) + list(self.extra_args)
        rows: list[Row] = []
        if names:
            users = []
            for name in names:
                try:
                    users.append(await ctx.hub.get_user(name))
                except HubError as e:
                    rows.append(Row(user=name, error=str(e)))
        else:
            users = await ctx.hub.list_users()
        workspaces = []
        for user in users:
            try:
                workspaces.append(await self.workspace(ctx, user))
            except KubeError as e:
                rows.append(Row(user=user["name"], error=str(e)))
        now = datetime.now(timezone.utc)
        if self.json:
            print(json.dumps([ws.as_dict(now=now) for ws in workspaces], indent=2))
        else:
            print(format_table([ws.as_dict(now=now) for ws in workspaces]))
        return self.finish(rows, print_json=False)  # the rows are printed: only the failures remain


# -- stop ----------------------------------------------------------------------------


class StopCommand(_UsersCommand):
    name = "workspace-admin stop"
    description = """Stop users' servers through the hub, and wait until they are stopped.

Usage: workspace-admin stop USER... [options]

The volumes and projects stay. A server that does not stop within --timeout
seconds fails its row (exit 1).
"""
    examples = """
workspace-admin stop alice bob
workspace-admin stop alice --timeout 300
workspace-admin stop alice --dry-run
"""
    flags = {**_common_flags, **_dry_run_flag}

    async def run(self, ctx: Context) -> int:
        async def stop(ctx: Context, row: Row, user: dict[str, Any]) -> None:
            if server_status(user) == "stopped":
                self.note(row, "nothing to do: the server is stopped")
                return
            await self.stop_server(ctx, row, user)

        return self.finish(await self.each_user(ctx, list(self.extra_args), stop))


# -- reset ---------------------------------------------------------------------------


class ResetCommand(_UsersCommand):
    name = "workspace-admin reset"
    description = """Ask for a reset of users' volumes to the image's files at their next start.

Usage: workspace-admin reset USER... [options]

Sets the annotation workspace-spawner.jupyter.org/reset-requested (a timestamp) on
the user's main PVC; the spawner resets the volume when the server next starts,
and removes the annotation. --backup keeps the old content in a backup folder on
the volume. --now also stops a running server and starts it again, so the reset
happens at once.
"""
    examples = """
workspace-admin reset alice
workspace-admin reset alice bob --backup
workspace-admin reset alice --now --backup
workspace-admin reset alice --pvc claim-alice-data --dry-run
"""
    backup = Bool(False, config=True, help="Keep the old content in a backup.")
    now = Bool(False, config=True, help="Restart a running server so the reset happens at once.")
    pvc = Unicode("", config=True, help="The PVC to reset (default: the user's main PVC).")
    aliases = {**_common_aliases, "pvc": "ResetCommand.pvc"}
    flags = {
        **_common_flags,
        **_dry_run_flag,
        "backup": ({"ResetCommand": {"backup": True}}, "Keep the old content in a backup on the volume."),
        "now": ({"ResetCommand": {"now": True}}, "Stop and start a running server, so the reset happens at once."),
    }

    async def run(self, ctx: Context) -> int:
        requested = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        async def reset(ctx: Context, row: Row, user: dict[str, Any]) -> None:
            ws = await self.workspace(ctx, user, with_projects=False)
            pvc = _pick_pvc(ws, self.pvc)
            annotations: dict[str, str | None] = {
                RESET_REQUEST_ANNOTATION: requested,
                RESET_BACKUP_ANNOTATION: "true" if self.backup else None,
            }
            keep = " (keeping a backup of the old content)" if self.backup else ""
            self.say(row, f"annotate PVC {pvc} in {ws.namespace}: reset to the image's files at the next start{keep}")
            row.details["pvc"] = pvc
            if not self.dry_run:
                await patch_pvc(ctx.core, namespace=ws.namespace, name=pvc, patch={"metadata": {"annotations": annotations}})
            if not self.now:
                return
            if server_status(user) == "stopped":
                self.say(row, "nothing to restart: the server is stopped, the reset happens at its next start")
                return
            await self.stop_server(ctx, row, user)
            self.say(row, "start the server through the hub (the reset happens now)")
            if not self.dry_run:
                await ctx.hub.start_server(row.user)
                await ctx.hub.wait_for_status(row.user, "running", timeout=self.timeout)
                self.log.info("%s: server running again", row.user)

        return self.finish(await self.each_user(ctx, list(self.extra_args), reset))


def _pick_pvc(ws: Workspace, name: str) -> str:
    wanted = name or ws.home_pvc
    names = [pvc["metadata"]["name"] for pvc in ws.pvcs]
    if wanted not in names:
        found = f" (found: {', '.join(names)})" if names else ""
        raise Refused(f"no PVC {wanted} in {ws.namespace}{found}")
    return wanted


# -- expand --------------------------------------------------------------------------


class ExpandCommand(AdminCommand):
    name = "workspace-admin expand"
    description = """Raise the capacity of one user's PVC: workspace-admin expand USER SIZE.

Usage: workspace-admin expand USER SIZE [options]

The PVC's storage request is raised to SIZE (a Kubernetes quantity, e.g. 20Gi); the
storage driver grows the volume, for most drivers while it is in use. Refuses a
shrink (Kubernetes cannot shrink a volume) and a StorageClass without
allowVolumeExpansion. The hub's config is not changed: raise storage_capacity
there too, or the spawner logs a warning at every start of this user.
"""
    examples = """
workspace-admin expand alice 20Gi
workspace-admin expand alice 50Gi --pvc claim-alice-data
workspace-admin expand alice 20Gi --dry-run --json
"""
    pvc = Unicode("", config=True, help="The PVC to expand (default: the user's main PVC).")
    aliases = {**_common_aliases, "pvc": "ExpandCommand.pvc"}
    flags = {**_common_flags, **_dry_run_flag}

    def check_args(self) -> None:
        if len(self.extra_args) != 2:
            raise UsageError("Give a user and a size: workspace-admin expand USER SIZE (e.g. expand alice 20Gi).")
        try:
            parse_bytes(self.extra_args[1])
        except ValueError as e:
            raise UsageError(str(e)) from e

    async def run(self, ctx: Context) -> int:
        name, size = self.extra_args

        async def expand(ctx: Context, row: Row, user: dict[str, Any]) -> None:
            ws = await self.workspace(ctx, user, with_projects=False)
            pvc_name = _pick_pvc(ws, self.pvc)
            pvc = next(p for p in ws.pvcs if p["metadata"]["name"] == pvc_name)
            current = ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "0")
            row.details.update(pvc=pvc_name, requested=current, size=size)
            if parse_bytes(size) < parse_bytes(current):
                raise Refused(f"PVC {pvc_name} requests {current}: Kubernetes cannot shrink a volume to {size}")
            if parse_bytes(size) == parse_bytes(current):
                self.note(row, f"nothing to do: PVC {pvc_name} already requests {current}")
                return
            await self._check_storage_class(ctx, pvc)
            self.say(row, f"raise the request of PVC {pvc_name} in {ws.namespace} from {current} to {size}")
            if not self.dry_run:
                # https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
                patch = {"spec": {"resources": {"requests": {"storage": size}}}}
                await patch_pvc(ctx.core, namespace=ws.namespace, name=pvc_name, patch=patch)
            spawner = build_spawner(ctx.spawner_class, config=ctx.config, username=row.user, state={})
            configured = spawner.storage_capacity
            note = (
                f"The hub's config is unchanged (storage_capacity: {configured}): raise "
                f"c.KubeSpawner.storage_capacity (or the profile's) to {size} too. The spawner never "
                "shrinks a PVC, but logs a warning at each start while the config asks for less."
            )
            row.details["note"] = note
            if not self.json:
                print(note)

        return self.finish(await self.each_user(ctx, [name], expand))

    async def _check_storage_class(self, ctx: Context, pvc: dict[str, Any]) -> None:
        """Refuse unless the PVC's StorageClass allows expansion
        (https://kubernetes.io/docs/concepts/storage/storage-classes/#allow-volume-expansion)."""
        name = (pvc.get("spec") or {}).get("storageClassName")
        if not name:
            raise Refused(
                f"PVC {pvc['metadata']['name']} has no storage class (a statically bound volume): it cannot be expanded"
            )
        sc = await read_storage_class(ctx.storage, name=name)
        if sc is None:
            names = ", ".join(s["metadata"]["name"] for s in await list_storage_classes(ctx.storage))
            raise Refused(f"StorageClass {name} does not exist (there are: {names or 'none'})")
        if not sc.get("allowVolumeExpansion"):
            raise Refused(
                f"StorageClass {name} does not allow volume expansion (allowVolumeExpansion is not true); "
                "a cluster admin can set it if the storage driver supports expansion"
            )


# -- delete-volume -------------------------------------------------------------------


class DeleteVolumeCommand(AdminCommand):
    name = "workspace-admin delete-volume"
    description = """Delete users' PVCs, and with them all their files, for good.

Usage: workspace-admin delete-volume (USER... | --all-stopped) [options]

Refuses while the user's server runs, unless --stop (stop it first through the
hub). Shows what will be lost (PVC names, sizes, ages) and asks for confirmation,
unless --yes; without a terminal, --yes is required. --all-stopped deletes the
volumes of every user whose server is stopped. The next start of the user makes
a fresh volume from the image's files. Every deletion is logged.
"""
    examples = """
workspace-admin delete-volume alice
workspace-admin delete-volume alice --stop --yes
workspace-admin delete-volume --all-stopped --dry-run
workspace-admin delete-volume --all-stopped --yes --json
"""
    all_stopped = Bool(False, config=True, help="Every user whose server is stopped.")
    flags = {
        **_common_flags,
        **_dry_run_flag,
        **_yes_flag,
        **_stop_flag,
        "all-stopped": ({"DeleteVolumeCommand": {"all_stopped": True}}, "Every user whose server is stopped."),
    }
    what = "PVC"

    def check_args(self) -> None:
        if bool(self.extra_args) == bool(self.all_stopped):
            raise UsageError("Name the users, or pass --all-stopped (not both).")

    async def targets(self, ctx: Context, ws: Workspace) -> list[tuple[str, str]]:
        """(name, description) of the objects to delete."""
        now = datetime.now(timezone.utc)
        return [
            (
                row["name"],
                f"PVC {row['name']} in {ws.namespace}: {row['capacity'] or row['requested']}, "
                f"{row['phase'] or 'no phase'}, {row['age']} old",
            )
            for row in ws.pvc_rows(now=now)
        ]

    async def delete(self, ctx: Context, ws: Workspace, name: str) -> bool:
        return await delete_pvc(ctx.core, namespace=ws.namespace, name=name)

    async def run(self, ctx: Context) -> int:
        if self.all_stopped:
            users = [u for u in await ctx.hub.list_users() if server_status(u) == "stopped"]
        else:
            users = []
        rows: list[Row] = []
        plans: list[tuple[Row, dict[str, Any], Workspace, list[tuple[str, str]]]] = []
        names = [u["name"] for u in users] if users else list(self.extra_args)
        by_name = {u["name"]: u for u in users}
        # 1. what would be lost, and the refusals, before anything is changed
        for name in names:
            row = Row(user=name)
            rows.append(row)
            try:
                user = by_name.get(name) or await ctx.hub.get_user(name)
                ws = await self.workspace(ctx, user)
                targets = await self.targets(ctx, ws)
                if not targets:
                    if not self.all_stopped:
                        self.note(row, f"nothing to delete: no {self.what} found")
                    continue
                status = server_status(user)
                if status != "stopped" and not self.stop:
                    raise Refused(
                        f"the server is {status}: deleting its {self.what} now would break it. "
                        "Stop it first (workspace-admin stop), or pass --stop"
                    )
                plans.append((row, user, ws, targets))
            except (HubError, KubeError, Refused) as e:
                row.error = str(e)
        if self.all_stopped:
            rows = [row for row in rows if row.error or any(p[0] is row for p in plans)]
        if plans and not self.json:
            print(f"{'Would delete' if self.dry_run else 'Will delete'} (the data is lost for good):")
            for row, user, ws, targets in plans:
                for _, description in targets:
                    print(f"  {row.user}: {description}")
        if plans:
            count = sum(len(t) for *_, t in plans)
            if not self.confirm(f"Delete these {count} {self.what}s of {len(plans)} users?"):
                print("Nothing deleted: not confirmed.", file=sys.stderr)
                return PARTIAL_FAILURE
        # 2. the deletions
        for row, user, ws, targets in tqdm(
            plans, desc=f"deleting {self.what}s", unit="user", disable=None if len(plans) > 1 else True, file=sys.stderr
        ):
            try:
                if server_status(user) != "stopped":
                    await self.stop_server(ctx, row, user)
                for name, description in targets:
                    self.say(row, f"delete {description}")
                    if not self.dry_run and not await self.delete(ctx, ws, name):
                        self.log.info("%s: %s %s was already gone", row.user, self.what, name)
                row.details["deleted" if not self.dry_run else "would_delete"] = [name for name, _ in targets]
            except (HubError, KubeError, TimeoutError) as e:
                row.error = str(e)
        return self.finish(rows)


# -- delete-project ------------------------------------------------------------------


class DeleteProjectCommand(DeleteVolumeCommand):
    name = "workspace-admin delete-project"
    description = """Delete users' workspace projects (namespaces), and everything deployed in them.

Usage: workspace-admin delete-project USER... [options]

Only a namespace labelled app.kubernetes.io/managed-by=workspace-spawner and
hub.jupyter.org/username=<the user's slug> is deleted: any other is refused.
Refuses while the user's server runs, unless --stop; asks for confirmation
unless --yes (required without a terminal). The next start of the user makes
a fresh project if the hub is configured to.
"""
    examples = """
workspace-admin delete-project alice
workspace-admin delete-project alice --stop --yes
workspace-admin delete-project alice --project alice-workspace-old --dry-run
"""
    project = Unicode("", config=True, help="The project to delete (default: the user's, from state or labels).")
    aliases = {**_common_aliases, "project": "DeleteProjectCommand.project"}
    flags = {**_common_flags, **_dry_run_flag, **_yes_flag, **_stop_flag}
    what = "project"
    all_stopped = Bool(False, help="Not offered for projects: name the users.")

    def check_args(self) -> None:
        if not self.extra_args:
            raise UsageError("Name at least one user.")
        if self.project and len(self.extra_args) != 1:
            raise UsageError("--project names one user's project: give exactly one user.")

    async def targets(self, ctx: Context, ws: Workspace) -> list[tuple[str, str]]:
        name = self.project or ws.project
        if not name:
            return []
        ns = ws.project_namespace if name == ws.project else await read_namespace(core=ctx.core, name=name)
        if ns is None:
            return []
        labels = ns["metadata"].get("labels") or {}
        slug = ws.project_slug
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or labels.get(USERNAME_LABEL) != slug:
            raise Refused(
                f"namespace {name} is not labelled as made for {ws.user} "
                f"({MANAGED_BY_LABEL}={MANAGED_BY_VALUE}, {USERNAME_LABEL}={slug}): refusing to delete it"
            )
        phase = (ns.get("status") or {}).get("phase", "")
        age = age_of(ns["metadata"].get("creationTimestamp"), now=datetime.now(timezone.utc))
        return [(name, f"project {name} ({phase}, {age} old) and everything in it")]

    async def delete(self, ctx: Context, ws: Workspace, name: str) -> bool:
        # on OpenShift through the Project, as the project feature deletes it
        if self._openshift is None:
            self._openshift = await detect_openshift(apis=ApisApi(ctx.core.api_client))
        return await delete_project(
            core=ctx.core, custom=CustomObjectsApi(ctx.core.api_client), name=name, openshift=self._openshift
        )

    _openshift: bool | None = None


# -- commands of their own modules ---------------------------------------------------

from .purge import PurgeCommand, print_retained  # noqa: E402  (they build on the classes above)

# -- the command ---------------------------------------------------------------------


class WorkspaceAdmin(Application):
    name = "workspace-admin"
    version = __version__
    description = """Look after the users' workspaces of a JupyterHub running WorkspaceSpawner.

Usage: workspace-admin SUBCOMMAND [ARGS] [options]

It talks to the hub's REST API (token from JUPYTERHUB_API_TOKEN or --token-file,
with the scopes list:users, read:users, read:servers, servers, admin:server_state)
and to Kubernetes (--kubeconfig; else in a pod its service account, else KUBECONFIG
or ~/.kube/config), and reads the hub's config file (-f) so it finds exactly the
objects the spawner made.

Exit codes: 0 ok; 1 some users failed (named on stderr); 2 usage error.
Every subcommand that changes something takes --dry-run.
"""
    examples = """
workspace-admin list -f jupyterhub_config.py
workspace-admin stop alice
workspace-admin reset alice --now --backup
workspace-admin expand alice 20Gi
workspace-admin delete-volume alice --stop --yes
workspace-admin delete-project alice --dry-run
workspace-admin list --deleted
workspace-admin purge --dry-run
workspace-admin delete-volume --help
"""
    subcommands = {
        name: (cls, cls.description.splitlines()[0])
        for name, cls in [
            ("list", ListCommand),
            ("stop", StopCommand),
            ("reset", ResetCommand),
            ("expand", ExpandCommand),
            ("delete-volume", DeleteVolumeCommand),
            ("delete-project", DeleteProjectCommand),
            ("purge", PurgeCommand),
        ]
    }

    def exit(self, exit_status: int | str | None = 0) -> None:
        if isinstance(sys.exc_info()[1], (TraitError, ArgumentError)):
            exit_status = USAGE_ERROR
        super().exit(exit_status)

    def start(self) -> None:
        if self.subapp is not None:
            return self.subapp.start()
        if self.extra_args:
            print(f"{self.name}: unknown subcommand {self.extra_args[0]!r}", file=sys.stderr)
        else:
            print(f"{self.name}: name a subcommand", file=sys.stderr)
        print(f"Subcommands: {', '.join(self.subcommands)}. Run '{self.name} --help' for more.", file=sys.stderr)
        self.exit(USAGE_ERROR)


def main(argv: list[str] | None = None) -> None:
    """The ``workspace-admin`` console script; exits with its exit code."""
    # traitlets Applications are singletons: a fresh set for every call of main()
    for cls in [WorkspaceAdmin, *(sub for sub, _ in WorkspaceAdmin.subcommands.values())]:
        cls.clear_instance()
    app = WorkspaceAdmin.instance()
    app.initialize(argv)
    app.start()
