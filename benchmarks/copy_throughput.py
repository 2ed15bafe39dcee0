"""The first-start copy of setup-volume.sh against ``cp -a``, side by side on one machine.

    python benchmarks/copy_throughput.py [--files 20000] [--size-mb 1024] [--rounds 3]

Builds a tree of ``--files`` files (``--size-mb`` in all, in nested directories, with
some symbolic links), then times, alternately and ``--rounds`` times each:

- ``cp -a TREE DEST``: the plain copy, the floor for any copy on this file system;
- the ``setup-volume`` init container's script with the environment the spawner
  generates (``manifests.setup_env``), filling an empty "volume": the copy into
  ``.setup-volume/tree``, counting files and bytes, and the renames into place.

Both run as the same user (uid 1000 through setpriv when run as root, as the init
container would). Each time includes a ``sync``, so written data is counted where it was written.
Prints the medians, the minima and their ratios. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from workspace_spawner.volumes import manifests as m


def make_tree(root: Path, *, files: int, total_bytes: int) -> None:
    """``files`` files of varying size summing to about ``total_bytes``, 100 per directory."""
    mean = total_bytes // files
    sizes = [max(1, int(mean * (0.25 + 1.5 * ((i * 7919) % 1000) / 1000))) for i in range(files)]
    scale = total_bytes / sum(sizes)
    block = os.urandom(1 << 20)
    for i, size in enumerate(sizes):
        d = root / f"d{i // 1000:02d}" / f"s{(i // 100) % 10}"
        d.mkdir(parents=True, exist_ok=True)
        n = int(size * scale)
        with open(d / f"f{i:05d}.dat", "wb") as f:
            while n > 0:
                f.write(block[: min(n, len(block))])
                n -= len(block)
        if i % 1000 == 0:
            (d / f"link{i}").symlink_to(f"f{i:05d}.dat")


def as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["setpriv", "--reuid", "1000", "--regid", "100", "--clear-groups", *cmd]
    return cmd


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of ``cmd`` including writing its data out (sync), so that one run's
    dirty pages are not flushed during the next one."""
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(as_user(cmd), check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - start


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    if os.geteuid() == 0:
        os.chown(path, 1000, 100)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--dir", default=None, help="where to build the trees (default: a temp dir)"
    )
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="copy-throughput-", dir=args.dir))
    if os.geteuid() == 0:
        os.chmod(base, 0o755)
    try:
        tree = base / "image"
        make_tree(tree, files=args.files, total_bytes=args.size_mb << 20)
        subprocess.run(["sync"], check=True)
        # read it once, so both contenders start from a warm page cache
        subprocess.run(["tar", "-cf", "/dev/null", "-C", str(tree), "."], check=True)
        script = m.setup_script()
        termination_log = base / "termination-log"
        termination_log.touch()
        termination_log.chmod(0o666)
        cp_times, setup_times = [], []
        for _ in range(args.rounds):
            dest = fresh(base / "cp")
            cp_times.append(timed(["cp", "-a", f"{tree}/.", f"{dest}/"]))
            volume = fresh(base / "volume")
            env = m.setup_env(
                source=str(tree), sub_path="", reset_marker=".delete-volume", sync_marker=".sync-volume",
                sync=False, backup=False, backups_keep=3, reset_request="", reset_request_backup="",
            )  # fmt: skip
            env["WORKSPACE_TARGET"] = str(volume)
            env["WORKSPACE_TERMINATION_LOG"] = str(base / "termination-log")
            env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
            setup_times.append(timed(["sh", "-c", script, m.SETUP_CONTAINER_NAME], env=env))
            count = sum(1 for p in volume.rglob("*") if not p.is_dir())
            assert count >= args.files, f"setup-volume copied {count} of {args.files} files"
            shutil.rmtree(dest)
            shutil.rmtree(volume)
        cp_median, setup_median = statistics.median(cp_times), statistics.median(setup_times)
        print(
            f"tree: {args.files} files, {args.size_mb} MiB, {args.rounds} rounds, {os.cpu_count()} CPUs"
        )
        print(
            f"cp -a          median {cp_median:7.2f} s  min {min(cp_times):6.2f} s  runs {', '.join(f'{t:.2f}' for t in cp_times)}"
        )
        print(
            f"setup-volume   median {setup_median:7.2f} s  min {min(setup_times):6.2f} s  runs {', '.join(f'{t:.2f}' for t in setup_times)}"
        )
        print(
            f"ratio setup-volume / cp -a: {setup_median / cp_median:.2f} (medians), {min(setup_times) / min(cp_times):.2f} (minima)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
