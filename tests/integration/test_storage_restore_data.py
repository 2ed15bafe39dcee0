"""workspace-admin restore, byte for byte: the claims' files are real directories of the pod runner.

The hub and the command line are those of test_storage_restore_cli; the emulator's
kubelet is the pod runner, whose snapshot controller copies a claim's files into the
snapshot and a restored claim's from it (``cp -a``: modes, owners, times, links).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from podrunner_support import require_root
from test_admin_cli import NAMESPACE, Hub, _make_pvc, _stderr, _wait_bound, launch_hub
from test_storage_podrunner import fill, tree
from test_storage_restore_cli import take_snapshot

from workspace_spawner_testing.podrunner import Image, ProcessEmulator

pytestmark = [
    pytest.mark.emulator_only(
        reason="the hub fixture runs JupyterHub on the emulator (stub kubelet or pod runner)"
    ),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    require_root("the pod runner")
    emulator = ProcessEmulator(
        data_dir=tmp_path_factory.mktemp("restore-runner"),
        images={"*": Image(uid=1000, gid=100)},
        ip_prefix=f"127.{random.randint(100, 250)}.{random.randint(1, 250)}",
        namespace_finalize_seconds=0.05,
    ).start_in_thread()
    yield from launch_hub(tmp_path_factory.mktemp("restore-data-hub"), emulator)


def a_user_with_files(at: Hub, user: str) -> tuple[str, dict]:
    """``user``'s claim, with files, and a snapshot of it; then the files change (a reset)."""
    at.add_users(user)
    _make_pvc(at, f"claim-{user}", user)
    _wait_bound(at, f"claim-{user}")
    home = at.emulator.runner.claim_dir(NAMESPACE, f"claim-{user}")
    fill(home)
    snapshotted = tree(home)
    take_snapshot(at, f"{user}-snap", claim=f"claim-{user}", user=user)
    (home / "notebooks/a.ipynb").write_text("after the reset")
    (home / "new").write_text("new")
    return f"{user}-snap", snapshotted


def test_the_restored_claim_holds_the_snapshots_files_and_the_old_one_is_untouched(hub: Hub):
    snapshot, snapshotted = a_user_with_files(hub, "data-u")
    home = hub.emulator.runner.claim_dir(NAMESPACE, "claim-data-u")
    current = tree(home)
    result = hub.run("restore", "data-u", "--snapshot", snapshot, "--json")
    assert result.returncode == 0, _stderr(result)
    (row,) = result.json
    assert tree(hub.emulator.runner.claim_dir(NAMESPACE, row["pvc"])) == snapshotted
    assert tree(home) == current


def test_a_fault_mid_restore_leaves_the_users_files_as_they_were(hub: Hub):
    snapshot, _ = a_user_with_files(hub, "data-f")
    home = hub.emulator.runner.claim_dir(NAMESPACE, "claim-data-f")
    current = tree(home)
    hub.emulator.inject_fault(verb="patch", resource="persistentvolumeclaims", status=500)
    result = hub.run("restore", "data-f", "--snapshot", snapshot)
    hub.emulator.faults.clear()
    assert result.returncode == 1 and "patch PVC claim-data-f" in result.stderr, _stderr(result)
    assert tree(home) == current
    # the half-made claim went, and its files with it (reclaimPolicy Delete)
    made = [p for p in home.parent.iterdir() if p.name.startswith("claim-data-f--restored--")]
    assert made == []
