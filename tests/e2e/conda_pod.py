"""Run one container of a generated pod manifest on this machine, for real.

The container's command, args, env and volume mounts come from the manifest; the
"image" is a few host directories (its files), an ENTRYPOINT and an environment,
as a container runtime would combine them
(https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes).
Paths are the manifest's own: the process runs as root in a private mount namespace
(``unshare -m``) where tmpfs hides /home, /opt, /usr/local/bin and /dev of the host,
the image's directories and the pod's volumes are bind-mounted at their paths, and
/dev/termination-log is a file the test reads as the termination message.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Directories hidden by an empty tmpfs in the namespace, so the pod's paths can be
# made there without touching the host.
TMPFS_ROOTS = ["/home", "/opt", "/usr/local/bin"]


def require_unshare() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("running pod scripts at their paths needs root and unshare (util-linux)")


@dataclass
class Image:
    """What a container image gives the container: files, ENTRYPOINT, CMD and environment."""

    files: dict[str, Path] = field(default_factory=dict)  # path in the image -> host dir/file
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    message: str  # the termination message


def run_container(
    container: dict,
    *,
    image: Image,
    volumes: dict[str, Path],
    scratch: Path,
    cgroup_memory_max: str | None = None,
    timeout: float = 60,
) -> Run:
    """Run ``container`` (a manifest dict) with ``volumes`` (pod volume name -> host dir)."""
    require_unshare()
    scratch.mkdir(parents=True, exist_ok=True)
    message = scratch / "termination-log"
    message.write_text("")
    lines = ["set -e", "mount --make-rprivate /"]
    # /dev: keep the device files scripts use, add the termination log
    olddev = scratch / "olddev"
    olddev.mkdir(exist_ok=True)
    lines += [
        f"mount --bind /dev {q(olddev)}",
        "mount -t tmpfs tmpfs /dev",
    ]
    for dev in ("null", "zero", "urandom", "random"):
        lines += [f"touch /dev/{dev}", f"mount --bind {q(olddev)}/{dev} /dev/{dev}"]
    lines += [
        "ln -s /proc/self/fd /dev/fd",
        "touch /dev/termination-log",
        f"mount --bind {q(message)} /dev/termination-log",
    ]
    for root in TMPFS_ROOTS:
        lines.append(f"mount -t tmpfs tmpfs {root}")
    if cgroup_memory_max is not None:
        cgroup = scratch / "cgroup"
        cgroup.mkdir(exist_ok=True)
        (cgroup / "memory.max").write_text(cgroup_memory_max + "\n")
        lines.append(f"mount --bind {q(cgroup)} /sys/fs/cgroup")
    binds: list[tuple[Path, str]] = [(src, dest) for dest, src in image.files.items()]
    for mount in container.get("volumeMounts") or []:
        src = volumes[mount["name"]]
        if mount.get("subPath"):
            src = src / mount["subPath"]
        binds.append((src, mount["mountPath"]))
    for src, dest in binds:
        _check_under_tmpfs(dest)
        if Path(src).is_dir():
            lines.append(f"mkdir -p {q(dest)}")
        else:
            lines += [f"mkdir -p {q(str(Path(dest).parent))}", f"touch {q(dest)}"]
        lines.append(f"mount --bind {q(src)} {q(dest)}")
    env = dict(image.env)
    for item in container.get("env") or []:
        env[item["name"]] = item["value"]
    if container.get("command"):
        argv = list(container["command"]) + list(container.get("args") or [])
    else:
        argv = list(image.entrypoint) + list(container.get("args") or image.cmd)
    workdir = container.get("workingDir") or env.get("HOME", "/")
    lines += [
        f"cd {q(workdir)}",
        "exec env -i "
        + " ".join(q(f"{k}={v}") for k, v in env.items())
        + " "
        + " ".join(q(a) for a in argv),
    ]
    program = "\n".join(lines) + "\n"
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", program],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(result.returncode, result.stdout, result.stderr, message.read_text())


def q(value: object) -> str:
    return shlex.quote(str(value))


def _check_under_tmpfs(dest: str) -> None:
    if not any(dest == root or dest.startswith(root + "/") for root in TMPFS_ROOTS):
        raise ValueError(f"{dest} is not under {TMPFS_ROOTS}: add its root to TMPFS_ROOTS")


def write_executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(0o755)
    return path


# A stand-in for conda: records its calls in /opt/conda/calls.log and does to the
# files what conda would, for the subcommands the startup script uses.
CONDA_STUB = r"""
#!/bin/sh
echo "$*" >>/opt/conda/calls.log
case "$1" in
  info) [ "$2" = --base ] && echo /opt/conda; exit 0 ;;
  shell.posix)
    [ "$2" = activate ] || exit 2
    printf "export PATH='%s/bin:%s'\n" "$3" "$PATH"
    printf "export CONDA_PREFIX='%s'\nexport CONDA_DEFAULT_ENV='%s'\nexport CONDA_SHLVL='2'\n" "$3" "$3"
    exit 0 ;;
  config)
    file=$3; action=$4; key=$5; value=$6
    [ "$2" = --file ] || exit 2
    case "$action" in
      --get)
        [ -f "$file" ] || exit 0
        awk -v key="$key" '
          $0 ~ "^"key":" {inside=1; next}
          inside && /^  - / {sub(/^  - /, ""); print "--add " key " '"'"'" $0 "'"'"'"; next}
          {inside=0}' "$file"
        exit 0 ;;
      --prepend)
        if [ -f "$file" ] && grep -q "^$key:" "$file"; then
          awk -v key="$key" -v value="$value" '{print} $0 ~ "^"key":" {print "  - " value}' "$file" >"$file.new"
          mv "$file.new" "$file"
        else
          printf '%s:\n  - %s\n' "$key" "$value" >>"$file"
        fi
        exit 0 ;;
    esac
    exit 2 ;;
  create)
    prefix=; offline=; clone=
    while [ $# -gt 0 ]; do
      case "$1" in
        --prefix) prefix=$2; shift ;;
        --clone) clone=$2; shift ;;
        --offline) offline=1 ;;
      esac
      shift
    done
    mkdir -p "$prefix/conda-meta" "$prefix/bin"
    : >"$prefix/conda-meta/history"
    if [ -n "$offline" ] && [ -e /opt/conda/stub-offline-fails ]; then
      echo "PackagesNotFoundError: offline" >&2; exit 1
    fi
    for f in "$clone"/bin/*; do cp "$f" "$prefix/bin/"; done
    printf '==> 2026-01-01 00:00:00 <==\n# cmd: conda create --clone\n' >"$prefix/conda-meta/history"
    exit 0 ;;
esac
echo "conda stub: unsupported: $*" >&2
exit 2
"""

# The server: prints what it was started with.
SERVER_STUB = r"""
#!/bin/sh
echo "SERVER=$0"
echo "ARGS=$*"
echo "PATH=$PATH"
echo "CONDA_PREFIX=${CONDA_PREFIX-}"
echo "PYTHONUSERBASE=${PYTHONUSERBASE-}"
echo "CALLER_VARS=${conda-unset} ${prefix-unset} ${_wsc_status-unset}"
"""

# docker-stacks' start.sh as far as hooks go: `set -e`, source run-hooks.sh for
# before-notebook.d (which sources the *.sh files in it), then exec the command
# (https://github.com/jupyter/docker-stacks/blob/main/images/docker-stacks-foundation/start.sh).
START_SH = r"""
#!/bin/bash
set -e
export conda=callers-conda
export prefix=callers-prefix
source /usr/local/bin/run-hooks.sh /usr/local/bin/before-notebook.d
exec "$@"
"""

RUN_HOOKS_SH = r"""
#!/bin/bash
for f in "${1}/"*; do
    [ -e "${f}" ] || continue
    case "${f}" in
        *.sh)
            echo "Sourcing shell script: ${f}"
            source "${f}"
            if [ $? -ne 0 ]; then echo "${f} has failed, continuing execution"; fi
            ;;
    esac
done
echo "Done running hooks in: ${1}"
"""
