"""Snapshots and restores copy the files for real on the pod runner: byte-exact, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_demo_podrunner import NS, claim, runner_emulator, wait  # noqa: F401 (the module's runner)

from workspace_spawner_testing.transfer import claim_manifest

pytestmark = pytest.mark.emulator_only


def tree(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: kind, content or link target, mode, owner, mtime."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path), st.st_uid)
            elif path.is_dir():
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid)
            else:
                out[rel] = (
                    "file",
                    path.read_bytes(),
                    st.st_mode & 0o7777,
                    st.st_uid,
                    st.st_mtime_ns,
                )
    return out


def fill(root: Path) -> None:
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks/a.ipynb").write_bytes(os.urandom(4096))
    (root / "odd name\nwith newline \u00e9").write_text("x")
    (root / "link").symlink_to("notebooks/a.ipynb")
    (root / "ro").mkdir()
    (root / "ro/f").write_text("fixed")
    os.chmod(root / "ro/f", 0o444)
    os.utime(root / "ro/f", ns=(1_000_000_000_123_456_789, 1_000_000_000_123_456_789))
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 1000, 100)


def snapshot(emulator, name: str, source: str) -> dict:
    return emulator.create(
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "volumeSnapshotClassName": "standard-snapshots",
                "source": {"persistentVolumeClaimName": source},
            },
        }
    )


def restored_claim(emulator, name: str, snapshot_name: str) -> None:
    emulator.create(claim_manifest(name, namespace=NS, snapshot=snapshot_name))


def phase(emulator, name: str) -> str:
    return ((emulator.get("PersistentVolumeClaim", name, NS) or {}).get("status") or {}).get(
        "phase", ""
    )


def test_a_claim_restored_from_a_snapshot_has_the_files_as_they_were(runner_emulator):  # noqa: F811
    emulator = runner_emulator
    claim(emulator, "snap-src")
    wait(lambda: phase(emulator, "snap-src") == "Bound")
    source = emulator.runner.claim_dir(NS, "snap-src")
    fill(source)
    before = tree(source)
    snapshot(emulator, "snap-1", "snap-src")
    wait(
        lambda: (emulator.get("volumesnapshots", "snap-1", NS).get("status") or {}).get(
            "readyToUse"
        )
    )
    # the volume changes after the snapshot (a reset): the snapshot does not
    (source / "notebooks/a.ipynb").write_text("after")
    (source / "new").write_text("new")
    restored_claim(emulator, "snap-restored", "snap-1")
    wait(lambda: phase(emulator, "snap-restored") == "Bound")
    assert tree(emulator.runner.claim_dir(NS, "snap-restored")) == before
    # deleting the snapshot removes its copy
    content = emulator.get("volumesnapshots", "snap-1", NS)["status"][
        "boundVolumeSnapshotContentName"
    ]
    emulator.delete("volumesnapshots", "snap-1", NS)
    wait(lambda: not emulator.runner.snapshot_dir(content).exists())


def test_a_failed_snapshot_restores_nothing(runner_emulator):  # noqa: F811
    emulator = runner_emulator
    claim(emulator, "snap-src2")
    wait(lambda: phase(emulator, "snap-src2") == "Bound")
    fill(emulator.runner.claim_dir(NS, "snap-src2"))
    before = tree(emulator.runner.claim_dir(NS, "snap-src2"))
    emulator.snapshotter.fail("the driver broke")
    try:
        snapshot(emulator, "snap-2", "snap-src2")
        wait(
            lambda: (emulator.get("volumesnapshots", "snap-2", NS).get("status") or {}).get("error")
        )
    finally:
        emulator.snapshotter.fail(None)
    restored_claim(emulator, "snap-restored2", "snap-2")

    def events():
        return [
            e
            for e in emulator.list("events", NS)
            if e["involvedObject"]["name"] == "snap-restored2"
            and e["reason"] == "ProvisioningFailed"
        ]

    wait(events)
    assert phase(emulator, "snap-restored2") == "Pending"
    assert not emulator.runner.claim_dir(NS, "snap-restored2").exists()
    # the source is as it was
    assert tree(emulator.runner.claim_dir(NS, "snap-src2")) == before
