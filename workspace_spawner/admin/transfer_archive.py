"""The helper pod's program, part 1 of 3: names, safe paths, and the export's tar stream.

The program is three modules joined into one source (:func:`.transfer_pod.server_script`):
this one, :mod:`.transfer_unpack` and :mod:`.transfer_server`; standard library only. Names:
members that would leave the target (absolute, ``..``, links pointing out, device files) are
refused; paths are followed with ``O_NOFOLLOW`` component by component.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import tarfile

STAGING_PREFIX = ".workspace-import."
CHUNK = 256 * 1024


class Refused(Exception):
    """The archive (or a request) is refused; ``paths`` names the members."""

    def __init__(self, message: str, paths: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.paths = paths or []
        self.status = status


def shown(path: str) -> str:
    """A name as text anyone can read: control characters and undecodable bytes escaped."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def normalized(name: str) -> str:
    """A member name relative to the target ("" for the target itself); Refused if it leaves it."""
    if name.startswith("/"):
        raise Refused(f"absolute member name {shown(name)}", [name])
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(f"member name with '..': {shown(name)}", [name])
    return "/".join(parts)


def link_problem(name: str, target: str) -> str | None:
    """Why a symlink ``name -> target`` points out of the target directory, or None."""
    if target.startswith("/"):
        return f"symlink {shown(name)} points to an absolute path {shown(target)}"
    depth = len(name.split("/")) - 1
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"symlink {shown(name)} points out of the target: {shown(target)}"
        elif part not in ("", "."):
            depth += 1
    return None


def check_member(member: tarfile.TarInfo, seen: set[str]) -> str:
    """The normalized name of an acceptable member; Refused names what is wrong with it."""
    name = normalized(member.name)
    if member.ischr() or member.isblk():
        raise Refused(f"device file {shown(member.name)}: not imported", [member.name])
    if not (
        member.isreg() or member.isdir() or member.issym() or member.islnk() or member.isfifo()
    ):
        raise Refused(f"member {shown(member.name)} of an unknown type", [member.name])
    if name == "" and not member.isdir():
        raise Refused(f"member {shown(member.name)} names the target itself", [member.name])
    if member.issym():
        problem = link_problem(name, member.linkname)
        if problem:
            raise Refused(problem, [member.name])
    if member.islnk():
        linked = normalized(member.linkname)
        if linked not in seen:
            raise Refused(
                f"hard link {shown(member.name)} to {shown(member.linkname)}, "
                "which is not an earlier file of the archive",
                [member.name],
            )
    return name


def mtime_ns(member: tarfile.TarInfo) -> int:
    """The member's mtime in nanoseconds: the pax header's decimal exactly, else the seconds."""
    value = member.pax_headers.get("mtime")
    if value is None:
        return int(member.mtime) * 10**9
    sign = -1 if value.startswith("-") else 1
    whole, _, fraction = value.lstrip("+-").partition(".")
    return sign * (int(whole or "0") * 10**9 + int((fraction + "0" * 9)[:9] or "0"))


# -- paths, followed without symlinks ----------------------------------------------------


def open_dir(base_fd: int, parts: list[str], *, create: bool, mode: int = 0o700) -> int:
    """The directory ``parts`` below ``base_fd``, never through a symlink (a new fd).

    ``create``: make the missing ones with ``mode`` (0o700 in the staging directory,
    where each gets the archive's mode once it is in place).
    """
    fd = os.dup(base_fd)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Refused(f"{shown('/'.join(parts))} passes through a symlink or file")
                raise
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def lstat_at(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


# -- export -------------------------------------------------------------------------------


class Chunked:
    """A write-only file object sending HTTP/1.1 chunks, counting and hashing what it sends."""

    def __init__(self, wfile) -> None:
        self.wfile, self.sent, self.sha = wfile, 0, hashlib.sha256()
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buffer:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(self.buffer), bytes(self.buffer)))
            self.sha.update(self.buffer)
            self.sent += len(self.buffer)
            self.buffer.clear()

    def end(self) -> None:
        self.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Exact:
    """Exactly ``size`` bytes of a file that may shrink or grow while it is read."""

    def __init__(self, fd: int, size: int, name: str, warnings: list[str]) -> None:
        self.fd, self.left, self.name, self.warnings = fd, size, name, warnings

    def read(self, n: int = CHUNK) -> bytes:
        n = min(n, self.left)
        data = os.read(self.fd, n) if n else b""
        if n and not data:
            self.warnings.append(f"{shown(self.name)}: shrank while it was read (zero-filled)")
            data = b"\0" * n
        self.left -= len(data)
        return data


def export(root: str, out, warnings: list[str], *, level: int) -> int:
    """Write the tree under ``root`` to ``out`` as a gzip'd pax tar; returns the members written."""
    count = 0
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as gz:
        with tarfile.open(
            fileobj=gz,
            mode="w|",
            format=tarfile.PAX_FORMAT,
            encoding="utf-8",
            errors="surrogateescape",
        ) as tar:
            stack = [""]
            while stack:
                rel = stack.pop()
                try:
                    entries = sorted(os.scandir(os.path.join(root, rel)), key=lambda e: e.name)
                except OSError as e:
                    warnings.append(f"{shown(rel or '.')}: cannot list it ({e.strerror})")
                    continue
                dirs = []
                for entry in entries:
                    name = f"{rel}/{entry.name}" if rel else entry.name
                    if not rel and entry.name.startswith(STAGING_PREFIX):
                        continue  # an import in progress
                    if add(tar, os.path.join(root, name), name, warnings):
                        count += 1
                        if entry.is_dir(follow_symlinks=False):
                            dirs.append(name)
                stack.extend(reversed(dirs))
    return count


def add(tar: tarfile.TarFile, path: str, name: str, warnings: list[str]) -> bool:
    try:
        info = tar.gettarinfo(path, name)
    except OSError as e:
        warnings.append(f"{shown(name)}: {e.strerror}")
        return False
    if info is None:
        warnings.append(f"{shown(name)}: a socket, not exported")
        return False
    st = os.lstat(path)
    info.mtime = st.st_mtime_ns // 10**9
    if st.st_mtime_ns % 10**9 or st.st_mtime_ns < 0:
        ns = abs(st.st_mtime_ns)
        sign = "-" if st.st_mtime_ns < 0 else ""
        info.pax_headers["mtime"] = f"{sign}{ns // 10**9}.{ns % 10**9:09d}"
        info.mtime = max(info.mtime, 0)
    if not info.isreg():
        tar.addfile(info)
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        warnings.append(f"{shown(name)}: {e.strerror}, not exported")
        return False
    try:
        tar.addfile(info, Exact(fd, info.size, name, warnings))
    finally:
        os.close(fd)
    return True
