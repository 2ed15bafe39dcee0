"""``python -m workspace_spawner_testing.controlplane up|env|run``.

- ``up --dir DIR``: start the control plane in DIR and keep it until SIGTERM/SIGINT;
  writes DIR/env (the variables below) and prints it.
- ``env --dir DIR``: print DIR/env of a control plane started with ``up``.
- ``run [--helm-values DIR] -- COMMAND...``: start one in a temporary directory, set up
  the hub's namespace and ServiceAccount with the shipped RBAC, run COMMAND with the
  variables set, stop everything; COMMAND's exit status.

The variables: WORKSPACE_SPAWNER_TEST_KUBECONFIG (the hub's ServiceAccount),
WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG (system:masters), WORKSPACE_SPAWNER_TEST_HELM_VALUES,
WORKSPACE_SPAWNER_TEST_AUDIT_LOG (the hub's requests, controlplane.audit);
with ``--openshift`` also WORKSPACE_SPAWNER_TEST_OPENSHIFT, the description
(openshift.json) of the OpenShift layer started on the control plane: the
project.openshift.io API and SCC admission of workspace_spawner_testing.openshift.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .cluster import ControlPlane
from .hub import setup_hub


def _stop_on_sigterm() -> None:
    # SIGTERM ends the command like Ctrl-C: the finally blocks stop the servers
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _start(
    directory: Path, helm_values: Path, *, openshift: bool = False
) -> tuple[ControlPlane, Callable[[], None], dict[str, str]]:
    """The control plane (and the OpenShift layer), the hub set up; a function that
    stops it all, and the variables."""
    cp = ControlPlane(directory=directory / "cluster")
    cp.start()
    print(f"control plane up in {cp.started_seconds:.1f}s at {cp.url}", file=sys.stderr)
    stops = [cp.stop]
    layer = None
    if openshift:
        from ..openshift import OpenShift

        try:
            layer = OpenShift.start(cp)
        except BaseException:
            cp.stop()
            raise
        stops.insert(0, layer.stop)
        print(f"OpenShift layer up in {layer.started_seconds:.1f}s at {layer.url}", file=sys.stderr)

    def stop() -> None:
        for each in stops:
            each()

    hub = setup_hub(
        cp, helm_values=helm_values, kubeconfig=directory / "hub.kubeconfig", openshift=openshift
    )
    admin = cp.write_kubeconfig(directory / "admin.kubeconfig")
    env = {
        "WORKSPACE_SPAWNER_TEST_KUBECONFIG": str(hub),
        "WORKSPACE_SPAWNER_TEST_ADMIN_KUBECONFIG": str(admin),
        "WORKSPACE_SPAWNER_TEST_HELM_VALUES": str(helm_values.resolve()),
        "WORKSPACE_SPAWNER_TEST_AUDIT_LOG": str(cp.audit_log),
    }
    if layer is not None:
        env["WORKSPACE_SPAWNER_TEST_OPENSHIFT"] = str(
            layer.write_description(directory, users=cp.users)
        )
    (directory / "env").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    )
    return cp, stop, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workspace_spawner_testing.controlplane",
        description=__doc__.split("\n\n")[0],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "env", "run"):
        command = sub.add_parser(name)
        if name in ("up", "env"):
            command.add_argument("--dir", type=Path, required=True)
        if name in ("up", "run"):
            command.add_argument("--helm-values", type=Path, default=Path("helm-values"))
            command.add_argument(
                "--openshift",
                action="store_true",
                help="with OpenShift's project API and SCC admission",
            )
        if name == "run":
            command.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "env":
        print((args.dir / "env").read_text(), end="")
        return 0
    _stop_on_sigterm()
    if args.command == "up":
        args.dir.mkdir(parents=True, exist_ok=True)
        _, stop, _ = _start(args.dir, args.helm_values, openshift=args.openshift)
        try:
            print((args.dir / "env").read_text(), end="", flush=True)
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            stop()
        return 0
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        parser.error("run: give the command after --")
    with tempfile.TemporaryDirectory(prefix="workspace-spawner-testbed-") as tmp:
        _, stop, env = _start(Path(tmp), args.helm_values, openshift=args.openshift)
        try:
            return subprocess.call(command, env={**os.environ, **env})
        finally:
            stop()


if __name__ == "__main__":
    sys.exit(main())
