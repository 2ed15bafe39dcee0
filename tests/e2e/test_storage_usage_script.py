"""setup-volume.sh measures the volume with statfs, run for real on a file system of known size.

The volume is a tmpfs of 8 MiB mounted for the test (we run as root), so the size
the script reports is exact and the used bytes follow what is written, whatever
the host's disk holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from test_volumes_setup_script import first_copy, make_image, manifest_container
from volumes_pod import new_pod_files, remove_pod_files

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="needs root, unshare and setpriv (util-linux) for private mount namespaces",
)

SIZE = 8 * 1024 * 1024


@pytest.fixture
def tmpfs_pod_files():
    files = new_pod_files()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(files.volume)], check=True)
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
