"""``workspace-admin export`` and ``import``: a user's volume to a .tar.gz and back, over the API alone.

A short-lived helper pod (:mod:`.transfer_pod`) mounts the claim and serves it
through the API server's pod proxy (:mod:`workspace_spawner.kube.transfer`): no
kubectl, no exec. The archive is a gzip'd POSIX tar, byte-exact (modes,
nanosecond mtimes, symlinks as links, any name). An import never replaces a file
without ``--overwrite``, refuses members that would leave the target, and changes
nothing unless the whole archive arrived and was checked. See
docs/admin/storage-lifecycle.md.
"""

from __future__ import annotations

import os
import sys
import tarfile
from typing import Any

from traitlets import Bool, Int, Unicode

from .command import (
    COMMON_ALIASES,
    COMMON_FLAGS,
    DRY_RUN_FLAG,
    AdminCommand,
    Context,
    Refused,
    Row,
    UsageError,
    pick_pvc,
)
from .hub import server_state
from .transfer import check, download, helper_pod, identity, listing, upload
from .transfer_archive import Refused as ArchiveRefused
from .transfer_archive import check_member, normalized
from .workspaces import build_spawner, username_label

__all__ = ["ExportCommand", "ImportCommand", "read_archive"]


def read_archive(path: str) -> list[bytes]:
    """``KIND PATH`` entries of the archive (``d`` directory, ``f`` other); Refused if any
    member would leave the target, naming them all."""
    entries, refused, seen = [], [], set()
    try:
        with tarfile.open(path, "r:*", encoding="utf-8", errors="surrogateescape") as tar:
            for member in tar:
                try:
                    name = check_member(member, seen)
                except ArchiveRefused as e:
                    refused.append(str(e))
                    continue
                if member.isreg():
                    seen.add(name)
                entries.append((b"d" if member.isdir() else b"f") + os.fsencode(name))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise Refused(f"{path} is not a readable tar archive: {e}") from e
    if refused:
        raise Refused(
            f"{path} has {len(refused)} member(s) that would leave the target, "
            f"nothing was imported: {listing(refused)}"
        )
    return entries


class TransferCommand(AdminCommand):
    """What export and import share: the claim, the helper pod, the identity it runs as."""

    pvc = Unicode("", config=True, help="The PVC (default: the user's main PVC).")
    image = Unicode(
        "", config=True, help="The helper pod's image (default: the notebook's; it needs python3)."
    )

    async def transfer(self, ctx: Context, row: Row, user: dict[str, Any], *, read_only: bool):
        """The helper pod for ``user``'s claim, as an async context manager, and the claim."""
        ws = await self.workspace(ctx, user, with_projects=False)
        claim = pick_pvc(ws, self.pvc)
        if ws.server == "pending":
            raise Refused("the server is starting or stopping: try again once it is up or down")
        spawner = build_spawner(
            ctx.spawner_class, config=ctx.config, username=row.user, state=server_state(user)
        )
        running = ws.server == "running"
        security, node = await identity(
            ctx.core,
            namespace=ws.namespace,
            server_pod=spawner.pod_name if running else None,
            spawner=spawner,
        )
        row.details.update(pvc=claim, namespace=ws.namespace, server=ws.server)
        helper = helper_pod(
            core=ctx.core,
            namespace=ws.namespace,
            claim=claim,
            username_label=username_label(row.user),
            image=self.image or spawner.image,
            image_pull_policy=spawner.image_pull_policy,
            read_only=read_only,
            security=security,
            node_name=node,
            timeout=self.timeout,
            log=self.log,
        )
        return helper, claim, running

    def start(self) -> None:
        try:
            super().start()
        except KeyboardInterrupt:
            print(f"{self.name}: interrupted (the helper pod was deleted)", file=sys.stderr)
            self.exit(130)


class ExportCommand(TransferCommand):
    name = "workspace-admin export"
    description = """Copy a user's volume to a .tar.gz on this machine: workspace-admin export USER -o FILE.

Usage: workspace-admin export USER -o FILE.tar.gz [options]

A helper pod mounts the user's PVC (read-only while the server is stopped; beside
the running server, on its node, otherwise) and streams its files through the
Kubernetes API (pods/proxy): no kubectl. The archive keeps modes, nanosecond
mtimes, symlinks and any file name; `tar xzf` reads it too. FILE appears only when
the whole stream arrived and matched the pod's checksum. Files the notebook's user
cannot read are named, and the exit code is 1.
"""
    examples = """
workspace-admin export alice -o alice.tar.gz
workspace-admin export alice -o alice-data.tar.gz --pvc claim-alice--data
"""
    output = Unicode("", config=True, help="The archive to write (.tar.gz).")
    level = Int(6, config=True, help="gzip level, 1 (fast) to 9 (small).")
    aliases = {
        **COMMON_ALIASES,
        ("o", "output"): "ExportCommand.output",
        "pvc": "TransferCommand.pvc",
        "image": "TransferCommand.image",
        "level": "ExportCommand.level",
    }
    flags = {**COMMON_FLAGS}

    def check_args(self) -> None:
        if len(self.extra_args) != 1 or not self.output:
            raise UsageError("Give a user and a file: workspace-admin export USER -o FILE.tar.gz.")
        if os.path.exists(self.output):
            raise UsageError(f"{self.output} exists: remove it or name another file.")
        if not os.path.isdir(os.path.dirname(os.path.abspath(self.output))):
            raise UsageError(f"The directory of {self.output} does not exist.")
        if not 1 <= self.level <= 9:
            raise UsageError("--level is 1 to 9.")

    async def run(self, ctx: Context) -> int:
        return self.finish(await self.each_user(ctx, list(self.extra_args), self.export))

    async def export(self, ctx: Context, row: Row, user: dict[str, Any]) -> None:
        # read-only in both cases: an export never writes
        helper_cm, claim, running = await self.transfer(ctx, row, user, read_only=True)
        where = "beside the running server" if running else "read-only"
        self.say(row, f"export PVC {claim} ({where}) to {self.output}")
        async with helper_cm as helper:
            report = await download(helper, path=self.output, level=self.level, what=row.user)
        received = report["bytes"]
        row.details.update(file=self.output, bytes=received, members=report.get("members"))
        self.note(row, f"wrote {self.output}: {report.get('members')} entries, {received} bytes")
        warnings = report.get("warnings") or []
        if warnings:
            raise Refused(f"{len(warnings)} entries could not be read: {listing(warnings)}")


class ImportCommand(TransferCommand):
    name = "workspace-admin import"
    description = """Unpack a .tar.gz into a user's volume: workspace-admin import USER FILE.

Usage: workspace-admin import USER FILE.tar.gz [--into SUBDIR] [--overwrite] [options]

The archive is checked here first: members that would leave the target (absolute
names, '..', links pointing out, device files) stop the import before anything is
sent. A helper pod mounting the user's PVC then says which files exist already;
without --overwrite, those are named and nothing changes. The archive is unpacked
into a staging directory of the volume and moved into place only once it arrived
whole. Files belong to the notebook's user.
"""
    examples = """
workspace-admin import alice alice.tar.gz
workspace-admin import alice course.tar.gz --into course/week1
workspace-admin import alice alice.tar.gz --overwrite
workspace-admin import alice alice.tar.gz --dry-run
"""
    into = Unicode("", config=True, help="The directory of the volume to unpack into.")
    overwrite = Bool(False, config=True, help="Replace files that exist (they are logged).")
    aliases = {
        **COMMON_ALIASES,
        "into": "ImportCommand.into",
        "pvc": "TransferCommand.pvc",
        "image": "TransferCommand.image",
    }
    flags = {
        **COMMON_FLAGS,
        **DRY_RUN_FLAG,
        "overwrite": (
            {"ImportCommand": {"overwrite": True}},
            "Replace files of the volume that the archive has too (each is logged).",
        ),
    }

    def check_args(self) -> None:
        if len(self.extra_args) != 2:
            raise UsageError("Give a user and an archive: workspace-admin import USER FILE.tar.gz.")
        if not os.path.isfile(self.extra_args[1]):
            raise UsageError(f"{self.extra_args[1]} is not a file.")
        try:
            normalized(self.into)
        except ArchiveRefused as e:
            raise UsageError(f"--into must be a directory inside the volume: {e}") from e

    async def run(self, ctx: Context) -> int:
        return self.finish(await self.each_user(ctx, [self.extra_args[0]], self.do_import))

    async def do_import(self, ctx: Context, row: Row, user: dict[str, Any]) -> None:
        path = self.extra_args[1]
        entries = read_archive(path)
        helper_cm, claim, _ = await self.transfer(ctx, row, user, read_only=False)
        target = f"{claim}/{self.into}" if self.into else claim
        if self.dry_run:
            self.say(row, f"import {len(entries)} entries of {path} into {target}")
            return
        async with helper_cm as helper:
            conflicts = await check(helper, entries=entries, into=self.into)
            if conflicts and not self.overwrite:
                raise Refused(
                    f"{len(conflicts)} file(s) of the archive exist in {target}; nothing was "
                    f"imported (pass --overwrite to replace them): {listing(conflicts)}"
                )
            self.say(row, f"import {len(entries)} entries of {path} into {target}")
            result = await upload(
                helper, path=path, into=self.into, overwrite=self.overwrite, what=row.user
            )
        for replaced in result.get("replaced") or []:
            self.log.warning("%s: replaced %s/%s", row.user, target, replaced)
        row.details.update(into=self.into, **result)
        self.note(row, f"imported {result.get('members')} entries, {result.get('bytes')} bytes")
