"""What every ``workspace-admin`` subcommand shares: the hub, the cluster, the output.

:class:`AdminCommand` is a traitlets Application that each subcommand (one module
each: :mod:`.list`, :mod:`.stop`, ...) subclasses with its ``description``,
``examples``, flags and :meth:`AdminCommand.run`. It reads the hub's config file so
the names it derives are the spawner's, talks to the hub's REST API and to
Kubernetes, and turns rows of results into output and an exit code.

Exit codes: 0 ok; 1 some rows failed (named on stderr) or the hub/cluster could
not be used; 2 usage error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.config import ConfigException
from traitlets import Bool, Float, TraitError, Unicode, default
from traitlets.config import Application, ArgumentError

from .._version import __version__
from ..kube import KubeError
from .hub import HubClient, HubError
from .workspaces import (
    Workspace,
    build_spawner,
    default_kubeconfig,
    find_workspace,
    kube_configuration,
    load_hub_config,
    spawner_class_from_config,
)

__all__ = [
    "AdminCommand",
    "UsersCommand",
    "Context",
    "Row",
    "UsageError",
    "Refused",
    "pick_pvc",
    "COMMON_ALIASES",
    "COMMON_FLAGS",
    "DRY_RUN_FLAG",
    "YES_FLAG",
    "STOP_FLAG",
    "USAGE_ERROR",
    "PARTIAL_FAILURE",
]

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
        return {
            "user": self.user,
            "ok": self.error is None,
            "actions": self.actions,
            "error": self.error,
            **self.details,
        }


@dataclass
class Context:
    hub: HubClient
    core: CoreV1Api
    config: Any
    spawner_class: type


COMMON_ALIASES = {
    ("f", "config"): "AdminCommand.hub_config_file",
    "hub-url": "AdminCommand.hub_url",
    "token-file": "AdminCommand.token_file",
    "kubeconfig": "AdminCommand.kubeconfig",
    ("l", "selector"): "AdminCommand.selector",
    "timeout": "AdminCommand.timeout",
    "log-level": "Application.log_level",
}
COMMON_FLAGS = {
    "json": (
        {"AdminCommand": {"json": True}},
        "Print JSON (for scripts) instead of a table or lines.",
    ),
    "debug": ({"Application": {"log_level": 10}}, "Log every request."),
}
DRY_RUN_FLAG = {
    "dry-run": (
        {"AdminCommand": {"dry_run": True}},
        "Print exactly what would be done, and change nothing (no write request is sent).",
    )
}
YES_FLAG = {
    "yes": (
        {"AdminCommand": {"yes": True}},
        "Do not ask for confirmation (needed without a terminal).",
    ),
}
STOP_FLAG = {
    "stop": (
        {"AdminCommand": {"stop": True}},
        "Stop a running server first (through the hub) instead of refusing.",
    ),
}


class AdminCommand(Application):
    """What every subcommand shares: the hub, the cluster, the hub's config, output, exit codes."""

    version = __version__

    hub_url = Unicode(
        "http://127.0.0.1:8081/hub/api",
        config=True,
        help="The hub's REST API URL (ends in /hub/api).",
    )
    token_file = Unicode(
        "",
        config=True,
        help=(
            "A file holding the API token; default: the JUPYTERHUB_API_TOKEN environment variable."
        ),
    )
    kubeconfig = Unicode(
        "",
        config=True,
        help=(
            "A kubeconfig file; default: the pod's service account in a pod, "
            "else KUBECONFIG or ~/.kube/config."
        ),
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

    aliases = COMMON_ALIASES
    flags = COMMON_FLAGS

    @default("log_level")
    def _default_log_level(self):
        """INFO: every change the tool makes is logged."""
        return 20  # INFO: every change is logged

    @default("log_format")
    def _default_log_format(self):
        """The logger's name, the time and the level before each message."""
        return "[%(name)s %(asctime)s %(levelname)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self):
        """The time of day only: the tool runs for minutes, not days."""
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
                f"The hub's config file {self.hub_config_file} does not exist: "
                "pass it with -f PATH."
            )
        try:
            config = load_hub_config(self.hub_config_file)
        except Exception as e:  # the file is the admin's Python: any error can come out of it
            raise UsageError(
                f"Cannot load the hub's config file {self.hub_config_file}: {e}"
            ) from e
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
                spawner = build_spawner(
                    spawner_class, config=config, username="workspace-admin", state={}
                )
                configuration = await kube_configuration(
                    kubeconfig=self.kubeconfig, spawner=spawner
                )
            except (ConfigException, OSError) as e:
                hint = (
                    f"Check the kubeconfig {self.kubeconfig}."
                    if self.kubeconfig
                    else "Pass --kubeconfig, set KUBECONFIG (or ~/.kube/config), "
                    "or run in a pod with a service account."
                )
                print(f"error: No Kubernetes config: {e}. {hint}", file=sys.stderr)
                return PARTIAL_FAILURE
            async with aiohttp.ClientSession() as session, ApiClient(configuration) as api:
                ctx = Context(
                    hub=HubClient(url=self.hub_url, token=token, session=session),
                    core=CoreV1Api(api),
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

    async def workspace(
        self, ctx: Context, user: dict[str, Any], *, with_projects: bool = True
    ) -> Workspace:
        return await find_workspace(
            ctx.core,
            user=user,
            spawner_class=ctx.spawner_class,
            config=ctx.config,
            selector=self.selector,
            with_projects=with_projects,
        )

    def say(self, row: Row, action: str) -> None:
        """Record an action of a row ('would ...' with --dry-run) and print it unless --json."""
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
            raise UsageError(
                "Refusing to delete without confirmation: no terminal to ask on. Pass --yes."
            )
        answer = input(f"{question} [y/N] ").strip().lower()
        return answer in ("y", "yes")


class UsersCommand(AdminCommand):
    """A subcommand taking USER... arguments."""

    def check_args(self) -> None:
        if not self.extra_args:
            raise UsageError("Name at least one user.")


def pick_pvc(ws: Workspace, name: str) -> str:
    """``name``, else the user's main PVC; Refused unless the user has a PVC of that name."""
    wanted = name or ws.home_pvc
    names = [pvc["metadata"]["name"] for pvc in ws.pvcs]
    if wanted not in names:
        found = f" (found: {', '.join(names)})" if names else ""
        raise Refused(f"no PVC {wanted} in {ws.namespace}{found}")
    return wanted
