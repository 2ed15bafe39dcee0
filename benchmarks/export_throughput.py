"""Export and import throughput against plain ``tar czf`` / ``tar xzf``, side by side on one machine.

    python benchmarks/export_throughput.py [--small 4000] [--large 4] [--large-mb 16] [--rounds 3]

Builds a home-directory-shaped tree: ``--small`` small files (0.5-16 KiB of text-like,
compressible data, 100 per directory, a symlink now and then) and ``--large`` files
of ``--large-mb`` MiB (half random, half zeros: a dataset and a checkpoint). Then,
alternately and ``--rounds`` times each:

- ``tar czf`` of the tree (as uid 1000) and ``tar xzf`` of it into an empty directory:
  the floor for moving these files through gzip on this machine;
- ``workspace-admin export``'s path: the helper pod (run for real by the pod runner)
  reads the claim and streams the gzip'd tar through the API server's pods/proxy
  (here the emulator's, in this process) into a file; and ``import``'s: the file
  streamed to a helper pod that unpacks it into an empty claim, staged and moved.

The helper pod's start is timed apart (it is the same for any size). MB/s are of
the tree's bytes. Root only (the pod runner). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from kubernetes_asyncio import client, config

from workspace_spawner.admin.transfer import download, upload
from workspace_spawner_testing.podrunner import Image, ProcessEmulator
from workspace_spawner_testing.transfer import clear, helper, runner_claim

NS = "default"
UID, GID = 1000, 100
WORDS = b"import numpy as np\ndef f(x):\n    return x * 2  # a comment\n" * 40


def make_tree(root: Path, *, small: int, large: int, large_mb: int) -> int:
    total = 0
    for i in range(small):
        d = root / f"project{i // 1000}" / f"dir{(i // 100) % 10}"
        d.mkdir(parents=True, exist_ok=True)
        size = 512 + (i * 7919) % (16 * 1024)
        data = (WORDS * (size // len(WORDS) + 1))[:size]
        (d / f"notebook{i:05d}.py").write_bytes(data)
        total += size
        if i % 500 == 0:
            (d / f"link{i}").symlink_to(f"notebook{i:05d}.py")
    (root / "data").mkdir()
    for i in range(large):
        half = large_mb * 2**20 // 2
        with open(root / "data" / f"large{i}.bin", "wb") as f:
            f.write(os.urandom(half))
            f.write(b"\0" * half)
        total += 2 * half
    for path in [root, *root.rglob("*")]:
        os.lchown(path, UID, GID)
    return total


def as_user(cmd: list[str]) -> list[str]:
    return ["setpriv", "--reuid", str(UID), "--regid", str(GID), "--clear-groups", *cmd]


def timed_run(cmd: list[str]) -> float:
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    subprocess.run(["sync"], check=True)
    return time.perf_counter() - start


def claim(emulator: ProcessEmulator, name: str) -> Path:
    return runner_claim(emulator, name, namespace=NS, uid=UID, gid=GID, storage="5Gi")


async def ours(kubeconfig: Path, *, source: Path, target: Path, out: Path) -> tuple[float, ...]:
    configuration = client.Configuration()
    await config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        common = dict(namespace=NS, image="bench", username_label="bench", uid=UID, gid=GID)

        started = time.perf_counter()
        async with helper(core, claim=source.name, read_only=True, timeout=120, **common) as src:
            ready = time.perf_counter()
            await download(src, path=str(out), level=6, what="bench")
            exported = time.perf_counter()
        clear(target)
        subprocess.run(["sync"], check=True)
        async with helper(core, claim=target.name, read_only=False, timeout=120, **common) as dst:
            ready2 = time.perf_counter()
            await upload(dst, path=str(out), into="", overwrite=False, what="bench")
            subprocess.run(["sync"], check=True)
            imported = time.perf_counter()
    return ready - started, exported - ready, ready2 - exported, imported - ready2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=4000)
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--large-mb", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    os.chmod(work, 0o755)
    emulator = ProcessEmulator(
        data_dir=work / "runner",
        images={"*": Image(uid=UID, gid=GID, env={"PATH": "/usr/bin:/bin"})},
        ip_prefix="127.77.3",
    ).start_in_thread()
    try:
        kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
        source, target = claim(emulator, "bench-src"), claim(emulator, "bench-dst")
        total = make_tree(source, small=args.small, large=args.large, large_mb=args.large_mb)
        plain_dir = work / "plain"
        plain_dir.mkdir()
        os.chown(plain_dir, UID, GID)
        rows: dict[str, list[float]] = {k: [] for k in ("tar czf", "tar xzf", "export", "import")}
        starts: list[float] = []
        size = 0
        for _ in range(args.rounds):
            archive = plain_dir / "plain.tar.gz"
            archive.unlink(missing_ok=True)
            rows["tar czf"].append(
                timed_run(as_user(["tar", "czf", str(archive), "-C", str(source), "."]))
            )
            unpacked = plain_dir / "x"
            shutil.rmtree(unpacked, ignore_errors=True)
            unpacked.mkdir()
            os.chown(unpacked, UID, GID)
            rows["tar xzf"].append(
                timed_run(as_user(["tar", "xzf", str(archive), "-C", str(unpacked)]))
            )
            out = work / "ours.tar.gz"
            out.unlink(missing_ok=True)
            start, exp, start2, imp = asyncio.run(
                ours(kubeconfig, source=source, target=target, out=out)
            )
            size = out.stat().st_size
            rows["export"].append(exp)
            rows["import"].append(imp)
            starts += [start, start2]
        mb = total / 1e6
        print(
            f"tree: {args.small} small files + {args.large} x {args.large_mb} MiB, "
            f"{mb:.0f} MB; archive {size / 1e6:.0f} MB; {args.rounds} rounds, medians"
        )
        print(f"{'':10} {'seconds':>8} {'MB/s':>8}")
        for name, times in rows.items():
            median = statistics.median(times)
            print(f"{name:10} {median:8.2f} {mb / median:8.1f}")
        ratio_e = statistics.median(rows["export"]) / statistics.median(rows["tar czf"])
        ratio_i = statistics.median(rows["import"]) / statistics.median(rows["tar xzf"])
        print(f"export / tar czf: {ratio_e:.2f}x the time; import / tar xzf: {ratio_i:.2f}x")
        print(f"helper pod start (apart): median {statistics.median(starts):.2f} s")
    finally:
        emulator.stop_thread()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
