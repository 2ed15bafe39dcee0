"""The pod runner's sandbox check and the demo's notebook image.

Each container is a local process tree in its own PID and mount namespace (see
``sandbox.py``, run by ``containers.py`` for the node agent's process runtime,
``agent.py``): the host's file system with the image's overlay stacked on it,
the pod's volumes bind-mounted at their mount paths, the pod's command, args,
env, working dir and user. Init containers run in order, to completion; a failed
one blocks the pod. Each pod gets its own loopback address, where a server that
listens on all addresses (0.0.0.0) of its pod listens instead.

What a real node does that this does not: network namespaces (pods share the
host's network; a wildcard listen address in the env or args is turned into the
pod's IP), resource limits, probes, image pulls (an image is the host plus its
overlay directory, see ``images``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .layout import Image

DEMO_IMAGE_DIR = Path(__file__).resolve().parent.parent / "demo_image"


class SandboxUnavailable(RuntimeError):
    """This machine cannot run pods in private mount namespaces."""


def check_sandbox() -> None:
    """Fail at once, saying what is missing, where pods cannot run in their namespaces.

    The pod runner never falls back to running pods without mount namespaces: paths
    and mounts would differ from a real pod's and the demo would prove nothing.
    """
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            f"the pod runner needs {', '.join(missing)} (Debian package util-linux / mount): "
            "apt-get install util-linux mount"
        )
    probe = subprocess.run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "sh",
            "-c",
            "d=$(mktemp -d) && mkdir $d/l $d/u $d/w $d/m && "
            "mount -t tmpfs t $d/m && umount $d/m && "
            "mount -t overlay o -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w $d/m; "
            "r=$?; umount $d/m 2>/dev/null; rm -rf $d; exit $r",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(
            "the pod runner needs private mount and PID namespaces with tmpfs and overlayfs "
            "mounts (run as root, or where unprivileged user namespaces are allowed); "
            f"`unshare --mount --pid --fork` failed: {probe.stderr.strip() or probe.returncode}"
        )


def demo_images() -> dict[str, Image]:
    """The "notebook image" every image name maps to in the demo: a jovyan home overlay.

    Like the Jupyter docker-stacks images: user 1000, group 100, HOME /home/jovyan,
    and this Python environment's scripts (jupyterhub-singleuser, jupyter) on PATH.
    """
    return {"*": notebook_image(str(DEMO_IMAGE_DIR))}


def notebook_image(overlay: str) -> Image:
    bindir = os.path.dirname(sys.executable)
    # docker-stacks: ENTRYPOINT ["tini", "-g", "--"], CMD ["start-notebook.py"]; the
    # single-user server needs no init process here (the sandbox is PID 1 and reaps)
    # this Python environment is the image's software: its user must reach it
    software = tuple(
        sorted(
            {
                os.path.realpath(p)
                for p in (
                    sys.prefix,
                    sys.base_prefix,
                    os.path.dirname(os.path.realpath(sys.executable)),
                    str(Path(__file__).resolve().parents[3]),
                )
            }
        )
    )
    return Image(
        overlay=overlay,
        uid=1000,
        gid=100,
        working_dir="/home/jovyan",
        cmd=("jupyterhub-singleuser",),
        user_owned=("/home/jovyan",),
        traversable=software,
        env={
            "PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/home/jovyan",
            "USER": "jovyan",
            "NB_USER": "jovyan",
            "NB_UID": "1000",
            "NB_GID": "100",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        },
    )
