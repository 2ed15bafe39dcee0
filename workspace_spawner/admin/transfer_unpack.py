"""The helper pod's program, part 2 of 3: unpacking an archive into the volume, all or nothing.

The archive is unpacked into a staging directory of the volume (same file system),
checked, then moved into place; a cut-off, refused or conflicting archive leaves the
volume as it was (see :mod:`.transfer_archive` for the joined program).
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tarfile

# joined: transfer_pod.server_script() leaves out the lines from here to "end joined" when
# it joins the program's files into one (the pod runs it as ``python3 -c``)
from .transfer_archive import (
    CHUNK,
    STAGING_PREFIX,
    Refused,
    check_member,
    lstat_at,
    mtime_ns,
    normalized,
    open_dir,
    shown,
)

# end joined


class Body:
    """A request body as a readable file: Content-Length or chunked transfer encoding."""

    def __init__(self, rfile, headers) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.left = 0 if self.chunked else int(headers.get("Content-Length") or 0)
        self.done = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = CHUNK
        if self.chunked and self.left == 0 and not self.done:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                self.done = True
            self.left = size
        if self.left == 0:
            return b""
        data = self.rfile.read(min(n, self.left))
        if not data:
            raise Refused("the upload was cut off", status=400)
        self.left -= len(data)
        if self.chunked and self.left == 0:
            self.rfile.readline()
        return data


class Importer:
    """Unpack one archive into a staging directory of the volume, then move it into place."""

    def __init__(self, root: str, into: str, *, overwrite: bool) -> None:
        self.root, self.overwrite = root, overwrite
        self.into = normalized(into) if into else ""
        self.staging = STAGING_PREFIX + secrets.token_hex(6)
        self.dirs: dict[str, tuple[int, int]] = {}  # name -> (mode, mtime_ns), set at the end
        self.members = self.files = self.bytes = 0

    def run(self, stream) -> dict:
        root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.mkdir(self.staging, 0o700, dir_fd=root_fd)
            try:
                stage_fd = open_dir(root_fd, [self.staging], create=False)
                try:
                    self.unpack(stream, stage_fd)
                    target_fd = open_dir(
                        root_fd, self.into.split("/") if self.into else [], create=True, mode=0o777
                    )
                    try:
                        return self.place(stage_fd, target_fd)
                    finally:
                        os.close(target_fd)
                finally:
                    os.close(stage_fd)
            finally:
                shutil.rmtree(os.path.join(self.root, self.staging), ignore_errors=True)
        finally:
            os.close(root_fd)

    def unpack(self, stream, stage_fd: int) -> None:
        seen: set[str] = set()
        # the current member's parent stays open (a tar lists a directory's entries
        # together); a member replacing it has another parent, so it is never stale
        parent_name, parent_fd = None, -1
        try:
            with tarfile.open(
                fileobj=stream, mode="r|*", encoding="utf-8", errors="surrogateescape"
            ) as tar:
                for member in tar:
                    name = check_member(member, seen)
                    if name == "":
                        continue  # the target itself: it stays as it is
                    parent, _, base = name.rpartition("/")
                    if parent != parent_name:
                        if parent_fd >= 0:
                            os.close(parent_fd)
                            parent_fd = -1
                        parts = parent.split("/") if parent else []
                        parent_fd = open_dir(stage_fd, parts, create=True)
                        parent_name = parent
                    self.write(tar, member, parent_fd, base, stage_fd)
                    self.members += 1
                    if member.isreg():
                        seen.add(name)
                    if member.isdir():
                        self.dirs[name] = (member.mode & 0o7777, mtime_ns(member))
        finally:
            if parent_fd >= 0:
                os.close(parent_fd)

    def write(self, tar: tarfile.TarFile, member, fd: int, base: str, stage_fd: int) -> None:
        old = lstat_at(fd, base)
        if old is not None and not (member.isdir() and stat.S_ISDIR(old.st_mode)):
            if stat.S_ISDIR(old.st_mode):
                shutil.rmtree(base, dir_fd=fd)
            else:
                os.unlink(base, dir_fd=fd)  # a later member of the same name wins, as in tar
        mode, ns = member.mode & 0o7777, mtime_ns(member)
        if member.isdir():
            if old is None or not stat.S_ISDIR(old.st_mode):
                os.mkdir(base, 0o700, dir_fd=fd)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=fd)
            os.utime(base, ns=(ns, ns), dir_fd=fd, follow_symlinks=False)
        elif member.islnk():
            linked = normalized(member.linkname)
            os.link(linked, base, src_dir_fd=stage_fd, dst_dir_fd=fd, follow_symlinks=False)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=fd)
            os.chmod(base, mode, dir_fd=fd)
            os.utime(base, ns=(ns, ns), dir_fd=fd)
        else:
            out = os.open(
                base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd
            )
            try:
                source = tar.extractfile(member)
                while True:
                    data = source.read(CHUNK)
                    if not data:
                        break
                    os.write(out, data)
                    self.bytes += len(data)
                os.fchmod(out, mode)
                os.utime(out, ns=(ns, ns))
            finally:
                os.close(out)
            self.files += 1

    def place(self, stage_fd: int, target_fd: int) -> dict:
        conflicts, created, hard = [], set(), []
        scan(stage_fd, target_fd, "", conflicts, created, hard)
        if hard:
            raise Refused("these would replace a directory, or a file by a directory", hard, 409)
        if conflicts and not self.overwrite:
            raise Refused("these exist already (pass --overwrite to replace them)", conflicts, 409)
        move(stage_fd, target_fd, "")
        for name in sorted(self.dirs, key=lambda n: -n.count("/")):
            if name in created:  # a directory that was there keeps its mode and time
                mode, ns = self.dirs[name]
                os.chmod(name, mode, dir_fd=target_fd, follow_symlinks=False)
                os.utime(name, ns=(ns, ns), dir_fd=target_fd, follow_symlinks=False)
        return {
            "members": self.members,
            "files": self.files,
            "bytes": self.bytes,
            "replaced": [shown(c) for c in conflicts],
        }


def scan(src_fd: int, dst_fd: int, rel: str, conflicts: list, created: set, hard: list) -> None:
    """Find what moving ``src_fd``'s entries into ``dst_fd`` would replace; nothing changes."""
    for name in sorted(os.listdir(src_fd)):
        path = f"{rel}/{name}" if rel else name
        src, dst = lstat_at(src_fd, name), lstat_at(dst_fd, name)
        src_dir = stat.S_ISDIR(src.st_mode)
        if dst is None:
            if src_dir:
                created.update(all_dirs(src_fd, name, path))
            continue
        if src_dir and stat.S_ISDIR(dst.st_mode):
            child_src = open_dir(src_fd, [name], create=False)
            child_dst = open_dir(dst_fd, [name], create=False)
            try:
                scan(child_src, child_dst, path, conflicts, created, hard)
            finally:
                os.close(child_src)
                os.close(child_dst)
        elif src_dir or stat.S_ISDIR(dst.st_mode):
            hard.append(path)
        else:
            conflicts.append(path)


def all_dirs(fd: int, name: str, path: str) -> list[str]:
    found = [path]
    child = open_dir(fd, [name], create=False)
    try:
        for entry in os.scandir(child):
            if entry.is_dir(follow_symlinks=False):
                found += all_dirs(child, entry.name, f"{path}/{entry.name}")
    finally:
        os.close(child)
    return found


def move(src_fd: int, dst_fd: int, rel: str) -> None:
    for name in sorted(os.listdir(src_fd)):
        dst = lstat_at(dst_fd, name)
        if dst is not None and stat.S_ISDIR(dst.st_mode):
            child_src = open_dir(src_fd, [name], create=False)
            child_dst = open_dir(dst_fd, [name], create=False)
            try:
                move(child_src, child_dst, f"{rel}/{name}")
            finally:
                os.close(child_src)
                os.close(child_dst)
        else:
            os.replace(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def check(root: str, into: str, entries: list[bytes]) -> list[str]:
    """Which ``KIND PATH`` entries (from the client's reading of the archive) would conflict."""
    into = normalized(into) if into else ""
    base = os.path.join(root, into) if into else root
    conflicts = []
    for entry in entries:
        kind, path = entry[:1], os.fsdecode(entry[1:])
        name = normalized(path)
        if not name:
            continue
        try:
            fd = open_dir(os.open(base, os.O_RDONLY | os.O_DIRECTORY), [], create=False)
        except FileNotFoundError:
            return []  # nothing there yet
        try:
            parent, _, leaf = name.rpartition("/")
            try:
                pfd = open_dir(fd, parent.split("/") if parent else [], create=False)
            except (FileNotFoundError, Refused):
                continue
            try:
                st = lstat_at(pfd, leaf)
            finally:
                os.close(pfd)
        finally:
            os.close(fd)
        if st is not None and not (kind == b"d" and stat.S_ISDIR(st.st_mode)):
            conflicts.append(name)
    return conflicts
