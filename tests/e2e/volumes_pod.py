"""Run the setup-volume init container of a generated pod manifest for real, on this machine.

The container's file system is rebuilt in a private mount namespace (``unshare -m``,
we run as root): a tmpfs root with the host's /usr and /etc read-only, the "image"
tree bound read-only at the populate source, the "volume" tree bound at each of the
init container's volumeMounts, /dev/termination-log, and /outside: a directory
writable by the notebook user outside the volume, which no symlink trick in the
volume may reach. Inside, ``chroot`` + ``setpriv`` run the container's exact
command with its exact environment as its runAsUser/runAsGroup, with the pod's
fsGroup as supplementary group, no new privileges and no capabilities.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workspace_spawner.kube import to_dict
from workspace_spawner.volumes.manifests import SETUP_CONTAINER_NAME
from workspace_spawner.volumes.usage import VolumeUsage, split_usage

# Builds the container's root and execs the command ("$@": env assignments, then argv).
_RUNNER = r"""
set -eu
R=$1 IMAGE=$2 SOURCE=$3 VOLUME=$4 MOUNTS=$5 OUTSIDE=$6 TERMLOG=$7 USERSPEC=$8
shift 8
mount -t tmpfs -o mode=0755 tmpfs "$R"
for d in usr etc; do
    mkdir "$R/$d"; mount --rbind "/$d" "$R/$d"; mount -o remount,bind,ro "$R/$d"
done
for d in bin lib lib64 sbin; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$R/$d"
    elif [ -d "/$d" ]; then mkdir "$R/$d"; mount --rbind "/$d" "$R/$d"; fi
done
mkdir -p "$R/dev" "$R/tmp" "$R/outside" "$R/proc"
# as in a container: coreutils use /proc/self/fd for chmod without following links
mount -t proc proc "$R/proc"
chmod 1777 "$R/tmp"
touch "$R/dev/null" "$R/dev/termination-log"
mount --bind /dev/null "$R/dev/null"
mount --bind "$TERMLOG" "$R/dev/termination-log"
mount --bind "$OUTSIDE" "$R/outside"
if [ -n "$SOURCE" ]; then
    mkdir -p "$R$SOURCE"; mount --bind "$IMAGE" "$R$SOURCE"; mount -o remount,bind,ro "$R$SOURCE"
fi
# MOUNTS: "mountPath:subPath" lines of the init container's volumeMounts of the volume
printf '%s\n' "$MOUNTS" | while IFS=: read -r path sub; do
    [ -n "$path" ] || continue
    src=$VOLUME; [ -z "$sub" ] || src=$VOLUME/$sub
    mkdir -p "$src" "$R$path"; mount --bind "$src" "$R$path"
done
uid=${USERSPEC%%:*} rest=${USERSPEC#*:}; gid=${rest%%:*} groups=${rest#*:}
exec chroot "$R" setpriv --reuid "$uid" --regid "$gid" --groups "$groups" \
    --no-new-privs --inh-caps=-all --bounding-set=-all \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp "$@"
"""


@dataclass
class SetupContainer:
    """What the runner takes from the pod manifest."""

    command: list[str]
    env: dict[str, str]
    mounts: list[dict[str, Any]]
    uid: int | None
    gid: int | None
    fs_group: int | None
    security_context: dict[str, Any]

    @classmethod
    def from_pod(cls, pod: dict[str, Any]) -> SetupContainer:
        spec = pod["spec"]
        container = next(c for c in spec["initContainers"] if c["name"] == SETUP_CONTAINER_NAME)
        context = container.get("securityContext") or {}
        pod_context = spec.get("securityContext") or {}
        return cls(
            command=list(container["command"]) + list(container.get("args") or []),
            env={e["name"]: e.get("value", "") for e in container.get("env") or []},
            mounts=list(container["volumeMounts"]),
            uid=context.get("runAsUser", pod_context.get("runAsUser")),
            gid=context.get("runAsGroup", pod_context.get("runAsGroup")),
            fs_group=pod_context.get("fsGroup"),
            security_context=context,
        )


@dataclass
class Run:
    returncode: int
    output: str
    # what the spawn page shows: the termination message without its usage line
    termination_message: str
    usage: VolumeUsage | None = None


class PodFiles:
    """The image, the volume and the outside world of one test, as host directories."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.image = base / "image"
        self.volume = base / "volume"
        self.outside = base / "outside"
        self.root = base / "root"
        self.termlog = base / "termination-log"
        for d in (self.image, self.volume, self.outside, self.root):
            d.mkdir(parents=True, exist_ok=True)
        self.termlog.touch()
        # the kubelet makes the file writable for the container's user
        self.termlog.chmod(0o666)

    def prepare_volume(self, *, uid: int, fs_group: int | None) -> None:
        """A fresh volume as the kubelet hands it over: root owned by fsGroup, setgid, g+rwx."""
        if fs_group is not None:
            os.chown(self.volume, 0, fs_group)
            os.chmod(self.volume, 0o2770)
        else:
            os.chown(self.volume, uid, 0)
            os.chmod(self.volume, 0o770)
        os.chown(self.outside, uid, fs_group if fs_group is not None else 0)
        os.chmod(self.outside, 0o777)

    def command(
        self, container: SetupContainer, *, uid: int | None = None, gid: int | None = None
    ) -> list[str]:
        uid = container.uid if container.uid is not None else uid
        gid = container.gid if container.gid is not None else gid
        assert uid is not None and gid is not None, "the manifest sets no user: pass one"
        groups = ",".join(str(g) for g in {gid, container.fs_group} if g is not None)
        source = container.env.get("WORKSPACE_SOURCE", "")
        mounts = "\n".join(f"{m['mountPath']}:{m.get('subPath', '')}" for m in container.mounts)
        env = [f"{k}={v}" for k, v in container.env.items()]
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _RUNNER, "runner",
            str(self.root), str(self.image), source, str(self.volume), mounts,
            str(self.outside), str(self.termlog), f"{uid}:{gid}:{groups}",
            *env, *container.command,
        ]  # fmt: skip

    def run(self, container: SetupContainer, *, timeout: float = 120, **user: int) -> Run:
        self.termlog.write_text("")
        proc = subprocess.run(
            self.command(container, **user),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )  # fmt: skip
        message, usage = split_usage(self.termlog.read_text(), measured="")
        return Run(proc.returncode, proc.stdout, message, usage)

    def start(self, container: SetupContainer, **user: int) -> subprocess.Popen:
        self.termlog.write_text("")
        return subprocess.Popen(
            self.command(container, **user),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def new_pod_files() -> PodFiles:
    return PodFiles(Path(tempfile.mkdtemp(prefix="setup-volume-")))


def remove_pod_files(files: PodFiles) -> None:
    shutil.rmtree(files.base, ignore_errors=True)


def snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every path under ``root``: (kind, content or link target, mode, mtime of files)."""
    result: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir != "." and rel_dir.split(os.sep)[0] in skip:
            continue
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel.split(os.sep)[0] in skip:
                continue
            st = path.lstat()
            if path.is_symlink():
                result[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                result[rel] = ("dir", st.st_mode & 0o7777)
            else:
                result[rel] = ("file", path.read_bytes(), st.st_mode & 0o7777, int(st.st_mtime))
    return result


# -- what the tests of setup-volume.sh share ------------------------------------------

needs_private_mounts = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="needs root, unshare and setpriv (util-linux) for private mount namespaces",
)

STATE = (".setup-volume",)


async def manifest_container(
    make_spawner, emulator=None, *, annotations=None, **traits
) -> SetupContainer:
    """The setup-volume container of the pod a spawner makes (docker-stacks user by default)."""
    settings_ = {"uid": 1000, "gid": 100, "fs_gid": 100, **traits}
    spawner = make_spawner(**settings_)
    if annotations is not None:
        emulator.create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": spawner.pvc_name,
                    "namespace": spawner.namespace,
                    "annotations": annotations,
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "10Gi"}},
                },
            }
        )
        await spawner.ensure_workspace_volumes()
    pod = to_dict(await spawner.get_pod_manifest())
    return SetupContainer.from_pod(pod)


def write(path: Path, text: str = "", *, mode: int | None = None, mtime: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def make_image(image: Path) -> None:
    """A small notebook image's home: files, modes, old timestamps, links, empty and read-only dirs."""
    write(image / "README.md", "# welcome\n", mtime=1_000_000_000)
    write(image / "bin/run.sh", "#!/bin/sh\necho hi\n", mode=0o755, mtime=1_100_000_000)
    write(image / "notebooks/intro.ipynb", "{}", mtime=1_200_000_000)
    write(image / ".config/app/settings.json", '{"a": 1}')
    write(image / "odd name\nwith newline", "x")
    (image / "empty").mkdir()
    (image / "intro").symlink_to("notebooks/intro.ipynb")
    (image / "dangling").symlink_to("/nonexistent/target")
    write(image / "readonly/data.txt", "fixed", mode=0o444)
    (image / "readonly").chmod(0o555)


def user_view(files: PodFiles, sub: str = "") -> dict:
    snap = snapshot(files.volume / sub if sub else files.volume, skip=STATE + ("lost+found",))
    return normalise(snap)


def normalise(snap: dict) -> dict:
    # directories on the volume inherit the setgid bit of the fsGroup'ed root
    return {k: (v[0], v[1] & 0o777) if v[0] == "dir" else v for k, v in snap.items()}


def image_view(files: PodFiles) -> dict:
    return normalise(snapshot(files.image))


def hand_to_user(files: PodFiles) -> None:
    """What a user writes in their volume is theirs (the test writes as root)."""
    for path in files.volume.rglob("*"):
        os.lchown(path, 1000, 100)


def first_copy(files: PodFiles, container: SetupContainer, **user) -> None:
    make_image(files.image)
    files.prepare_volume(uid=container.uid or user.get("uid"), fs_group=container.fs_group)
    run = files.run(container, **user)
    assert run.returncode == 0, run.output
