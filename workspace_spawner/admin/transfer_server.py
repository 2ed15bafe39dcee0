"""The helper pod's program, part 3 of 3: serve a volume as a tar stream, or unpack one into it.

Run in the pod as ``python3 -c SOURCE ROOT PORT``, SOURCE being this module joined after
:mod:`.transfer_archive` and :mod:`.transfer_unpack` (standard library only, so any
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

import gzip
import hmac
import http.server
import json
import os
import sys
import tarfile
import urllib.parse

# joined: transfer_pod.server_script() leaves out the lines from here to "end joined" when
# it joins the program's files into one (the pod runs it as ``python3 -c``)
from .transfer_archive import CHUNK, Chunked, Refused, export, shown
from .transfer_unpack import Body, Importer, check

# end joined

TOKEN_HEADER = "X-Workspace-Transfer-Token"
# how long the server waits for its next request before it exits (seconds)
IDLE_SECONDS = float(os.environ.get("WORKSPACE_TRANSFER_IDLE_SECONDS", "600"))


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
