"""The helper pod's program: serve a volume as a tar stream, or unpack one into it.

Run in the pod as ``python3 -c SOURCE ROOT PORT`` (standard library only, so any
notebook image runs it) with the one-time token in ``WORKSPACE_TRANSFER_TOKEN``;
workspace-admin reaches it through the API server's pod proxy
(https://kubernetes.io/docs/tasks/extend-kubernetes/http-proxy-access-api/), so no
Service, no exec and no kubectl. Every request but ``/healthz`` needs the token in
``X-Workspace-Transfer-Token`` (the API server strips ``Authorization`` after
authenticating the admin).

- ``GET /export``: the volume as a gzip'd POSIX (pax) tar: modes, nanosecond
  mtimes, symlinks as links, hard links, names of any bytes. ``GET /report`` then
  tells what was sent (bytes, SHA-256) and what could not be read.
- ``POST /check?into=DIR``: NUL-separated ``KIND PATH`` entries (``d`` directory,
  ``f`` anything else); the answer lists those that would replace something.
- ``POST /import?into=DIR&overwrite=0|1``: a tar (gzip'd or not) unpacked into a
  staging directory of the volume, checked, then moved into place; an archive
  that is cut off, refused or conflicting leaves the volume as it was.

Members that would leave the target (absolute names, ``..``, links pointing out,
device files) are refused before anything is written: a user's archive reaches
only that user's directory. Paths are followed with ``O_NOFOLLOW`` component by
component, so a symlink already in the volume is never written through.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import hmac
import http.server
import json
import os
import secrets
import shutil
import stat
import sys
import tarfile
import urllib.parse

TOKEN_HEADER = "X-Workspace-Transfer-Token"
STAGING_PREFIX = ".workspace-import."
CHUNK = 256 * 1024
# how long the server waits for its next request before it exits (seconds)
IDLE_SECONDS = float(os.environ.get("WORKSPACE_TRANSFER_IDLE_SECONDS", "600"))


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


# -- import -------------------------------------------------------------------------------


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
        with tarfile.open(
            fileobj=stream, mode="r|*", encoding="utf-8", errors="surrogateescape"
        ) as tar:
            for member in tar:
                name = check_member(member, seen)
                if name == "":
                    continue  # the target itself: it stays as it is
                parent, _, base = name.rpartition("/")
                fd = open_dir(stage_fd, parent.split("/") if parent else [], create=True)
                try:
                    self.write(tar, member, fd, base, stage_fd)
                finally:
                    os.close(fd)
                self.members += 1
                if member.isreg():
                    seen.add(name)
                if member.isdir():
                    self.dirs[name] = (member.mode & 0o7777, mtime_ns(member))

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


# -- HTTP ---------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "/workspace"
    token = ""
    report: dict = {}

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        sys.stderr.write("transfer: " + format % args + "\n")

    def send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def allowed(self) -> bool:
        given = self.headers.get(TOKEN_HEADER) or ""
        if self.token and hmac.compare_digest(given.encode(), self.token.encode()):
            return True
        self.send_json(403, {"error": f"missing or wrong {TOKEN_HEADER}"})
        return False

    def query(self) -> tuple[str, dict[str, str]]:
        url = urllib.parse.urlsplit(self.path)
        return url.path.rstrip("/"), dict(
            urllib.parse.parse_qsl(url.query, errors="surrogateescape")
        )

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path, query = self.query()
        if path == "/healthz":
            return self.send_json(200, {"ok": True})
        if not self.allowed():
            return None
        if path == "/report":
            return self.send_json(200, Handler.report)
        if path != "/export":
            return self.send_json(404, {"error": f"no {path}"})
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        out, warnings = Chunked(self.wfile), []
        Handler.report = {"state": "running"}
        count = export(self.root, out, warnings, level=int(query.get("level", "6")))
        out.end()
        Handler.report = {
            "state": "done",
            "members": count,
            "bytes": out.sent,
            "sha256": out.sha.hexdigest(),
            "warnings": warnings,
        }
        return None

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        path, query = self.query()
        if not self.allowed():
            return None
        body = Body(self.rfile, self.headers)
        try:
            if path == "/check":
                data = b"".join(iter(lambda: body.read(CHUNK), b""))
                entries = [e for e in data.split(b"\0") if e]
                found = check(self.root, query.get("into", ""), entries)
                return self.send_json(200, {"conflicts": [shown(c) for c in found]})
            if path == "/import":
                importer = Importer(
                    self.root, query.get("into", ""), overwrite=query.get("overwrite") == "1"
                )
                return self.send_json(200, importer.run(body))
            if path == "/quit":
                self.send_json(200, {"ok": True})
                raise SystemExit(0)
        except Refused as e:
            self.close_connection = True  # the rest of the body is not read
            return self.send_json(e.status, {"error": str(e), "paths": [shown(p) for p in e.paths]})
        except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as e:
            self.close_connection = True
            return self.send_json(400, {"error": f"the archive cannot be unpacked: {e}"})
        return self.send_json(404, {"error": f"no {path}"})


def main(argv: list[str]) -> int:
    root, port = argv[0], int(argv[1])
    host = os.environ.get("WORKSPACE_TRANSFER_LISTEN", "0.0.0.0")
    Handler.root, Handler.token = root, os.environ.get("WORKSPACE_TRANSFER_TOKEN", "")
    if not Handler.token:
        sys.stderr.write("transfer: WORKSPACE_TRANSFER_TOKEN is not set\n")
        return 2
    server = http.server.HTTPServer((host, port), Handler)
    # no request for IDLE_SECONDS: the admin's client is gone; exit (the pod then ends)
    server.timeout = IDLE_SECONDS
    idle: list[bool] = []
    server.handle_timeout = lambda: idle.append(True)  # type: ignore[method-assign]
    sys.stderr.write(f"transfer: serving {root} on {host}:{port}\n")
    while not idle:
        server.handle_request()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
