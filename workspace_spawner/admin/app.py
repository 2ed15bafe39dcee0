"""``workspace-admin``: list, stop, reset, expand and delete users' workspaces, safely.

A traitlets Application with one subcommand per action, each in its own module
(:mod:`.list`, :mod:`.stop`, ...) on the shared base :class:`.command.AdminCommand`.
Every subcommand talks to the hub's REST API (server status, the names the spawner
saved, stop and start) and to Kubernetes (PVCs, projects), and reads the hub's own
config file so the names it derives are the spawner's.

A new subcommand is a module with an :class:`~.command.AdminCommand` subclass and
one line in :data:`COMMANDS`.

Exit codes: 0 ok; 1 some rows failed (named on stderr) or the hub/cluster could
not be used; 2 usage error.
"""

from __future__ import annotations

import sys

from traitlets import TraitError
from traitlets.config import Application, ArgumentError

from .._version import __version__
from .command import USAGE_ERROR, AdminCommand
from .delete_project import DeleteProjectCommand
from .delete_volume import DeleteVolumeCommand
from .expand import ExpandCommand
from .export import ExportCommand, ImportCommand
from .list import ListCommand
from .purge import PurgeCommand
from .reset import ResetCommand
from .snapshots import SnapshotsCommand
from .stop import StopCommand

__all__ = ["WorkspaceAdmin", "main", "COMMANDS"]

# The subcommands in the order --help lists them: (name on the command line, class).
COMMANDS: list[tuple[str, type[AdminCommand]]] = [
    ("list", ListCommand),
    ("stop", StopCommand),
    ("reset", ResetCommand),
    ("expand", ExpandCommand),
    ("delete-volume", DeleteVolumeCommand),
    ("delete-project", DeleteProjectCommand),
    ("purge", PurgeCommand),
    ("snapshots", SnapshotsCommand),
    ("export", ExportCommand),
    ("import", ImportCommand),
]


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
workspace-admin snapshots alice
workspace-admin export alice -o alice.tar.gz
workspace-admin import alice alice.tar.gz --into restored
workspace-admin delete-volume --help
"""
    subcommands = {name: (cls, cls.description.splitlines()[0]) for name, cls in COMMANDS}

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
        print(
            f"Subcommands: {', '.join(self.subcommands)}. Run '{self.name} --help' for more.",
            file=sys.stderr,
        )
        self.exit(USAGE_ERROR)


def main(argv: list[str] | None = None) -> None:
    """The ``workspace-admin`` console script; exits with its exit code."""
    # traitlets Applications are singletons: a fresh set for every call of main()
    for cls in [WorkspaceAdmin, *(sub for sub, _ in WorkspaceAdmin.subcommands.values())]:
        cls.clear_instance()
    app = WorkspaceAdmin.instance()
    app.initialize(argv)
    app.start()
