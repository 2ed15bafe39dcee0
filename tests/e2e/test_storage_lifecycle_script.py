"""setup-volume.sh's storage lifecycle parts run for real: usage (statfs), snapshots before resets.

For the usage the volume is a tmpfs of 8 MiB mounted for the test (we run as root),
so the size the script reports is exact and the used bytes follow what is written,
whatever the host's disk holds.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from volumes_pod import (
    first_copy,
    hand_to_user,
    make_image,
    manifest_container,
    needs_private_mounts,
    new_pod_files,
    remove_pod_files,
    user_view,
    write,
)

pytestmark = needs_private_mounts

SIZE = 8 * 1024 * 1024


@pytest.fixture
def tmpfs_pod_files():
    files = new_pod_files()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(files.volume)], check=True
    )
    yield files
    subprocess.run(["umount", "-l", str(files.volume)], check=True)
    remove_pod_files(files)


async def test_the_usage_line_is_the_file_systems_statfs(make_spawner, tmpfs_pod_files):
    files = tmpfs_pod_files
    c = await manifest_container(make_spawner)
    make_image(files.image)
    files.prepare_volume(uid=1000, fs_group=100)
    run = files.run(c)
    assert run.returncode == 0, run.output
    assert run.usage is not None, files.termlog.read_text()
    assert "workspace-spawner-usage" not in run.termination_message
    st = os.statvfs(files.volume)
    assert run.usage.size == SIZE == st.f_frsize * st.f_blocks
    assert run.usage.used == st.f_frsize * (st.f_blocks - st.f_bfree)
    assert run.usage.available == st.f_frsize * st.f_bavail


async def test_the_usage_follows_what_the_user_wrote(make_spawner, tmpfs_pod_files):
    files = tmpfs_pod_files
    c = await manifest_container(make_spawner)
    first_copy(files, c)
    before = files.run(c).usage
    (files.volume / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    after = files.run(c).usage
    assert before is not None and after is not None
    assert after.used - before.used >= 6 * 1024 * 1024
    assert after.percent >= 75 > before.percent


@pytest.mark.parametrize("marker", [True, False], ids=["user-marker", "admin-request"])
async def test_with_snapshots_a_reset_first_asks_for_one_and_changes_nothing(
    make_spawner, emulator, pod_files, marker
):
    annotations = (
        {} if marker else {"workspace-spawner.jupyter.org/reset-requested": "2026-12-01T20:00:00Z"}
    )
    c = await manifest_container(
        make_spawner, emulator, annotations=annotations, volume_snapshot_class="csi"
    )
    assert (
        c.env["WORKSPACE_SNAPSHOT_BEFORE_RESET"] == "1" and c.env["WORKSPACE_SNAPSHOT_TAKEN"] == ""
    )
    first_copy(pod_files, c if marker else _without_request(c))
    write(pod_files.volume / "mine.txt", "precious")
    if marker:
        write(pod_files.volume / ".delete-volume")
    hand_to_user(pod_files)
    before = user_view(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 3, run.output
    why = ".delete-volume was found" if marker else "an administrator asked for it"
    assert run.termination_message == f"workspace-spawner-snapshot-needed: {why}"
    assert user_view(pod_files) == before
    assert not (pod_files.volume / ".setup-volume/reset").exists()


async def test_with_the_snapshot_taken_the_reset_is_done(make_spawner, pod_files):
    c = await manifest_container(make_spawner, volume_snapshot_class="csi")
    first_copy(pod_files, c)
    write(pod_files.volume / "mine.txt", "gone after the reset")
    write(pod_files.volume / ".delete-volume")
    hand_to_user(pod_files)
    # the second pod, as the spawner makes it once the snapshot is ready
    c.env["WORKSPACE_SNAPSHOT_TAKEN"] = "claim-alice-reset-20261201t200000z"
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert (
        "the volume as it was is in the snapshot claim-alice-reset-20261201t200000z" in run.output
    )
    assert run.termination_message.startswith("Resetting the volume: .delete-volume was found")
    assert not (pod_files.volume / "mine.txt").exists()


async def test_without_a_snapshot_nothing_is_reset_and_the_marker_stays(make_spawner, pod_files):
    c = await manifest_container(make_spawner, volume_snapshot_class="csi")
    first_copy(pod_files, c)
    write(pod_files.volume / "mine.txt", "kept")
    write(pod_files.volume / ".delete-volume")
    hand_to_user(pod_files)
    before = user_view(pod_files)
    # the second pod when the snapshot failed or timed out
    c.env["WORKSPACE_SNAPSHOT_TAKEN"] = "-"
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert "no reset at this start (.delete-volume was found)" in run.output
    assert user_view(pod_files) == before


async def test_an_interrupted_reset_resumes_without_asking_again(make_spawner, pod_files):
    c = await manifest_container(make_spawner, volume_snapshot_class="csi")
    first_copy(pod_files, c)
    write(pod_files.volume / "mine.txt", "half reset")
    hand_to_user(pod_files)
    # a reset that was interrupted after it began (its snapshot was taken before)
    (pod_files.volume / ".setup-volume/reset").write_text("\n")
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert run.termination_message.startswith("Resetting the volume: resuming an interrupted reset")


def _without_request(c):
    import dataclasses

    return dataclasses.replace(c, env={**c.env, "WORKSPACE_RESET_REQUEST": ""})
