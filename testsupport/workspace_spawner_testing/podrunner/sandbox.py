"""The inside of one container: runs as PID 1 of a fresh PID and mount namespace.

The pod runner starts it as::

    unshare --mount --pid --fork --kill-child --mount-proc --propagation private \
        python -m workspace_spawner_testing.podrunner.sandbox SPEC.json

It builds the container's root file system from the host's (a tmpfs root with the
host's top-level directories bind-mounted into it), lays the image's overlay over
it with overlayfs (the way image layers are stacked), bind-mounts the volumes at
their mount paths, then forks the container's process: chroot, working dir,
uid/gid/groups with ``setpriv``, and ``execve`` of the command with its environment.
As PID 1 it forwards SIGTERM/SIGINT to that process and exits with its status;
when it exits, the kernel kills every process left in the PID namespace, so a pod
never leaves a process behind (terminals and kernels included).

Nothing here writes to the host's file system outside the pod's scratch directory:
a mount point that does not exist is created in a tmpfs that copies the directory
it is in (its entries bind-mounted from the host), never in the host directory.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def mount_bind(
    source: str, target: str, *, recursive: bool = False, read_only: bool = False
) -> None:
    run(["mount", "--rbind" if recursive else "--bind", source, target])
    if read_only:
        run(["mount", "-o", "remount,bind,ro", target])


class RootFS:
    """The container's root: ``root`` in the host view, paths given in the container's view."""

    def __init__(self, root: str, scratch: str) -> None:
        self.root = root.rstrip("/")
        self.scratch = scratch
        # Where a new directory or file goes to our own tmpfs, an overlay's upper
        # directory or a volume, never to a host directory: directly in the
        # directories of `ours_flat` (the tmpfs root and expanded copies, whose
        # entries are the host's), anywhere below those of `ours`.
        self.ours_flat: set[str] = {"/"}
        self.ours: set[str] = set()
        self._tmpfs = 0

    def host(self, path: str) -> str:
        return self.root + path

    def is_ours(self, path: str) -> bool:
        """May a new entry be made in directory ``path`` without touching the host?"""
        return path in self.ours_flat or any(
            path == p or path.startswith(p + "/") for p in self.ours
        )

    def resolve(self, path: str) -> str:
        """The path with symbolic links resolved inside the container's root."""
        parts = [p for p in path.split("/") if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join(resolved + [part])
            host = self.host(candidate)
            if os.path.islink(host):
                hops += 1
                if hops > 40:
                    raise OSError(f"too many levels of symbolic links in {path}")
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            resolved.append(part)
        return "/" + "/".join(resolved)

    def build(self) -> None:
        """A tmpfs root holding the host's top-level entries, and a container's /dev."""
        os.makedirs(self.root, exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", "mode=755", "rootfs", self.root])
        self._copy_entries("/", self.root, skip={"/dev"})
        self._make_dev()

    def _make_dev(self) -> None:
        """The /dev a container runtime makes: a few devices, its own devpts and shm.

        A private devpts instance gives the container's user a working /dev/ptmx
        (terminals), whatever the host's ptmxmode; see the OCI runtime spec's default
        devices: https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#default-devices
        """
        dev = self.host("/dev")
        os.mkdir(dev)
        run(["mount", "-t", "tmpfs", "-o", "mode=755,nosuid", "dev", dev])
        for name in ("null", "zero", "full", "random", "urandom", "tty"):
            if os.path.exists(f"/dev/{name}"):
                Path(dev, name).touch()
                mount_bind(f"/dev/{name}", os.path.join(dev, name))
        for name, target in (
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ):
            os.symlink(target, os.path.join(dev, name))
        os.mkdir(os.path.join(dev, "pts"))
        run(
            [
                "mount",
                "-t",
                "devpts",
                "-o",
                "newinstance,ptmxmode=0666,mode=620,gid=5",
                "devpts",
                os.path.join(dev, "pts"),
            ]
        )
        os.mkdir(os.path.join(dev, "shm"))
        run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                "mode=1777,nosuid,nodev",
                "shm",
                os.path.join(dev, "shm"),
            ]
        )
        self.ours_flat.add("/dev")

    def _copy_entries(
        self, host_dir: str, target_dir: str, *, skip: set[str] | frozenset[str] = frozenset()
    ) -> None:
        for entry in os.scandir(host_dir):
            source = os.path.join(host_dir, entry.name)
            target = os.path.join(target_dir, entry.name)
            if source == self.root or source.startswith(self.root + "/") or source in skip:
                continue
            if entry.is_symlink():
                os.symlink(os.readlink(source), target)
            elif entry.is_dir(follow_symlinks=False):
                os.mkdir(target)
                mount_bind(source, target, recursive=True)
            else:
                Path(target).touch()
                mount_bind(source, target)

    def expand(self, path: str, *, extra_mode: int = 0) -> None:
        """Make the host directory at ``path`` a tmpfs copy of it, so entries can be added."""
        host_source = path  # the host's own view, not chrooted
        target = self.host(path)
        mode = stat.S_IMODE(os.stat(host_source).st_mode) | extra_mode
        run(["mount", "-t", "tmpfs", "-o", f"mode={mode:o}", "expanded", target])
        self._copy_entries(host_source, target)
        self.ours_flat.add(path)

    def ensure_dir(self, path: str) -> str:
        path = self.resolve(path)
        if os.path.isdir(self.host(path)):
            return path
        parent = self.ensure_dir(os.path.dirname(path))
        if not self.is_ours(parent):
            self.expand(parent)
        os.mkdir(self.host(path), 0o755)
        self.ours.add(path)
        return path

    def ensure_file(self, path: str) -> str:
        path = self.resolve(path)
        parent = self.ensure_dir(os.path.dirname(path))
        path = parent.rstrip("/") + "/" + os.path.basename(path)
        if not os.path.exists(self.host(path)):
            if not self.is_ours(parent):
                self.expand(parent)
            Path(self.host(path)).touch()
        return path

    def make_traversable(self, path: str) -> None:
        """Let every user search the directories down to ``path`` (not list or write them).

        The image's software (here: this machine's Python) must be reachable by the
        image's user, as it is in a real image, even where the host keeps it in a
        private directory such as /root.
        """
        current = "/"
        for part in [p for p in path.split("/") if p]:
            current = current.rstrip("/") + "/" + part
            host_mode = os.stat(current).st_mode
            if not stat.S_ISDIR(host_mode):
                return
            if host_mode & 0o001 == 0 and current not in self.ours_flat:
                self.expand(current, extra_mode=0o011)

    def overlay(self, path: str, layer: str, index: int) -> None:
        """overlayfs at ``path``: the image layer over the host's directory, writable."""
        upper = os.path.join(self.scratch, "layers", str(index), "upper")
        work = os.path.join(self.scratch, "layers", str(index), "work")
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        lower = [layer]
        if os.path.isdir(path):
            lower.append(path)
        else:
            # overlayfs needs two layers when there is an upper one: an empty one
            empty = os.path.join(self.scratch, "layers", str(index), "empty")
            os.makedirs(empty, exist_ok=True)
            lower.append(empty)
        target = self.ensure_dir(path) if os.path.isdir(self.host(path)) else None
        if target is None:
            parent = self.ensure_dir(os.path.dirname(path))
            if not self.is_ours(parent):
                self.expand(parent)
            target = parent.rstrip("/") + "/" + os.path.basename(path)
            os.mkdir(self.host(target))
        run(
            [
                "mount",
                "-t",
                "overlay",
                "image",
                "-o",
                f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}",
                self.host(target),
            ]
        )
        self.ours.add(target)


def prepare(spec: dict) -> str:
    """Mount everything; returns the root to chroot into."""
    rootfs = RootFS(spec["root"], spec["scratch"])
    rootfs.build()
    for path in spec.get("traversable", []):
        rootfs.make_traversable(path)
    for index, layer in enumerate(spec.get("layers", [])):
        rootfs.overlay(layer["path"], layer["source"], index)
    # parents before children, as the kubelet mounts them
    for mount in sorted(spec.get("mounts", []), key=lambda m: m["path"].count("/")):
        source = mount["source"]
        if os.path.isdir(source):
            target = rootfs.ensure_dir(mount["path"])
        else:
            target = rootfs.ensure_file(mount["path"])
        mount_bind(source, rootfs.host(target), read_only=mount.get("readOnly", False))
        rootfs.ours.add(target)
    return rootfs.root


def exec_argv(spec: dict) -> list[str]:
    """setpriv with the container's user, then its command."""
    user = spec.get("user")
    argv: list[str] = []
    if user is not None:
        argv = ["setpriv", f"--reuid={user['uid']}", f"--regid={user['gid']}"]
        groups = user.get("groups") or []
        argv.append(f"--groups={','.join(str(g) for g in groups)}" if groups else "--clear-groups")
        if user.get("no_new_privs"):
            argv.append("--no-new-privs")
        argv.append("--")
    return argv + spec["argv"]


def child(spec: dict, root: str) -> None:
    os.chroot(root)
    try:
        os.chdir(spec.get("workingDir") or "/")
    except OSError as e:
        print(f"sandbox: cannot enter working dir {spec.get('workingDir')}: {e}", file=sys.stderr)
        os._exit(128)
    argv = exec_argv(spec)
    env = spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        # the kubelet's StartError: the command could not be run
        print(f"sandbox: exec {argv[0]}: {e}", file=sys.stderr)
        os._exit(128 if not isinstance(e, FileNotFoundError) else 127)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    root = prepare(spec)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(spec, root)
    # PID 1: forward termination requests; reap everything; end with the process's status
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(pid, s))
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if done == pid:
            break
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
