"""setup-volume.sh run for real, as the init container of the pod the spawner generates.

Every test takes the command, environment, user and mounts from
``WorkspaceSpawner.get_pod_manifest()`` (see volumes_pod.py for how they are laid out).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from volumes_pod import (
    first_copy,
    hand_to_user,
    image_view,
    make_image,
    manifest_container,
    needs_private_mounts,
    new_pod_files,
    remove_pod_files,
    snapshot,
    user_view,
    write,
)

from workspace_spawner.constants import RESET_BACKUP_ANNOTATION, RESET_REQUEST_ANNOTATION
from workspace_spawner.kube import to_dict

pytestmark = needs_private_mounts

# -- the manifest is what runs ------------------------------------------------------------


async def test_manifest_runs_as_notebook_user_without_privileges(make_spawner):
    c = await manifest_container(make_spawner)
    assert (c.uid, c.gid, c.fs_group) == (1000, 100, 100)
    assert c.security_context["allowPrivilegeEscalation"] is False
    assert c.security_context["capabilities"] == {"drop": ["ALL"]}
    assert c.command[:2] == ["sh", "-c"]
    assert c.mounts == [{"name": "volume-claim-alice", "mountPath": "/workspace-volume"}]


# -- first copy, restarts, interruption ----------------------------------------------------


async def test_first_copy_keeps_modes_timestamps_and_links(make_spawner, pod_files):
    c = await manifest_container(make_spawner)
    first_copy(pod_files, c)
    assert user_view(pod_files) == image_view(pod_files)
    message = pod_files.termlog.read_text()
    assert "Copying the image's files into the new volume: 8 files" in message
    assert " bytes from /home/jovyan in " in message
    for path in pod_files.volume.rglob("*"):
        if not path.is_symlink():
            assert path.lstat().st_uid == 1000, path


async def test_restart_copies_nothing_and_keeps_changes(make_spawner, pod_files):
    c = await manifest_container(make_spawner)
    first_copy(pod_files, c)
    write(pod_files.volume / "README.md", "mine")
    (pod_files.volume / "notebooks/intro.ipynb").unlink()
    write(pod_files.image / "new-in-image.txt", "new")
    before = user_view(pod_files)
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert user_view(pod_files) == before
    assert run.termination_message == "The volume is ready; nothing to copy"


async def test_an_interrupted_copy_is_redone_from_scratch(make_spawner, pod_files):
    c = await manifest_container(make_spawner)
    make_image(pod_files.image)
    blob = os.urandom(32 * 1024)
    for i in range(1500):
        write(pod_files.image / f"bulk/{i % 30}/{i}.bin", "")
        (pod_files.image / f"bulk/{i % 30}/{i}.bin").write_bytes(blob)
    pod_files.prepare_volume(uid=1000, fs_group=100)
    tree = pod_files.volume / ".setup-volume/tree"
    caught = False
    for _ in range(3):
        proc = pod_files.start(c)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if tree.is_dir() and any(tree.iterdir()):
                os.killpg(proc.pid, signal.SIGKILL)
                caught = not (pod_files.volume / ".setup-volume/copied").exists()
                break
            time.sleep(0.001)
        proc.wait()
        proc.stdout.close()
        if caught:
            break
    assert caught, "the copy always finished before it could be interrupted"
    # half a copy is never shown as the user's files
    assert user_view(pod_files) == {}
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert "throwing away an interrupted copy" in run.output
    assert user_view(pod_files) == image_view(pod_files)
    assert not tree.exists()


async def test_populate_source_none_copies_nothing(make_spawner, pod_files):
    spawner = make_spawner(uid=1000, gid=100, fs_gid=100, volume_populate_source=None)
    pod = to_dict(await spawner.get_pod_manifest())
    assert "setup-volume" not in [c["name"] for c in pod["spec"].get("initContainers") or []]


async def test_sub_path_is_created_by_the_notebook_user(make_spawner, pod_files):
    c = await manifest_container(make_spawner, workspace_sub_path="workspace")
    assert c.env["WORKSPACE_TARGET"] == "/workspace-volume/workspace"
    first_copy(pod_files, c)
    assert user_view(pod_files, "workspace") == image_view(pod_files)
    assert (pod_files.volume / "workspace").stat().st_uid == 1000


async def test_openshift_arbitrary_uid_with_group_0(make_spawner, pod_files):
    # restricted SCC: no runAsUser in the manifest, the namespace's UID and group 0
    c = await manifest_container(make_spawner, uid=None, gid=None, fs_gid=None)
    assert c.uid is None and "runAsUser" not in c.security_context
    make_image(pod_files.image)
    for path in [pod_files.image, *pod_files.image.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, 0, 0)
            path.chmod(path.stat().st_mode | 0o040 | (0o010 if path.is_dir() else 0))
    pod_files.prepare_volume(uid=1000680000, fs_group=None)
    run = pod_files.run(c, uid=1000680000, gid=0)
    assert run.returncode == 0, run.output
    assert set(user_view(pod_files)) == set(image_view(pod_files))
    assert (pod_files.volume / "README.md").stat().st_uid == 1000680000


# -- reset ----------------------------------------------------------------------------------


async def test_reset_without_backup_restores_the_image(make_spawner, pod_files):
    c = await manifest_container(make_spawner)
    first_copy(pod_files, c)
    write(pod_files.volume / "README.md", "broken")
    write(pod_files.volume / "work/mine.py", "x = 1")
    (pod_files.volume / "work").chmod(0o555)
    write(pod_files.volume / ".delete-volume")
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert user_view(pod_files) == image_view(pod_files)
    assert run.termination_message.startswith(
        "Resetting the volume: .delete-volume was found: 8 files"
    )


@pytest.mark.slow
async def test_reset_with_backups_keeps_the_newest(make_spawner, pod_files):
    c = await manifest_container(
        make_spawner, volume_reset_backup=True, volume_reset_backups_keep=2
    )
    first_copy(pod_files, c)
    write(pod_files.volume / ".volume-backups/my-notes.txt", "not a backup")
    for round_ in range(3):
        write(pod_files.volume / f"work-{round_}.txt", f"round {round_}")
        write(pod_files.volume / ".delete-volume")
        hand_to_user(pod_files)
        run = pod_files.run(c)
        assert run.returncode == 0, run.output
        time.sleep(1.1)  # backups are named by the second
    visible = {k: v for k, v in user_view(pod_files).items() if not k.startswith(".volume-backups")}
    assert visible == image_view(pod_files)
    backups_dir = pod_files.volume / ".volume-backups"
    assert (backups_dir / "my-notes.txt").read_text() == "not a backup"
    resets = sorted(p.name for p in backups_dir.iterdir() if p.name.startswith("reset-"))
    assert len(resets) == 2
    oldest_kept, newest = backups_dir / resets[0], backups_dir / resets[1]
    assert (newest / "work-2.txt").read_text() == "round 2"
    assert (oldest_kept / "work-1.txt").read_text() == "round 1"
    assert not (newest / ".delete-volume").exists()
    assert (newest / "README.md").read_text() == "# welcome\n"


async def test_admin_reset_request_is_done_once(make_spawner, emulator, pod_files):
    annotations = {
        RESET_REQUEST_ANNOTATION: "2026-11-21T10:00:00Z",
        RESET_BACKUP_ANNOTATION: "true",
    }
    c = await manifest_container(make_spawner, emulator, annotations=annotations)
    assert c.env["WORKSPACE_RESET_REQUEST"] == "2026-11-21T10:00:00Z"
    assert c.env["WORKSPACE_RESET_REQUEST_BACKUP"] == "true"
    make_image(pod_files.image)
    pod_files.prepare_volume(uid=1000, fs_group=100)
    write(pod_files.volume / "old.txt", "old work")
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert "an administrator asked for it" in run.termination_message
    assert run.termination_message.endswith("[reset request 2026-11-21T10:00:00Z done]")
    assert not (pod_files.volume / "old.txt").exists()
    assert [p.name for p in (pod_files.volume / ".volume-backups").iterdir()][0].startswith(
        "reset-"
    )
    # the same pod started again (the annotation not yet cleared): no second reset
    write(pod_files.volume / "new.txt", "new work")
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert (pod_files.volume / "new.txt").read_text() == "new work"
    assert run.termination_message.endswith("[reset request 2026-11-21T10:00:00Z done]")


# -- sync -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["marker", "trait"])
async def test_sync_adds_new_files_and_overwrites_nothing(make_spawner, pod_files, how):
    c = await manifest_container(make_spawner, volume_sync=(how == "trait"))
    first_copy(pod_files, c)
    write(pod_files.volume / "README.md", "my version")
    (pod_files.volume / "bin/run.sh").unlink()
    write(pod_files.image / "README.md", "image v2")
    write(pod_files.image / "notebooks/new.ipynb", "new")
    write(pod_files.image / "lessons/one.md", "one")
    if how == "marker":
        write(pod_files.volume / ".sync-volume")
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert (pod_files.volume / "README.md").read_text() == "my version"
    assert (pod_files.volume / "notebooks/new.ipynb").read_text() == "new"
    assert (pod_files.volume / "lessons/one.md").read_text() == "one"
    # a file the user deleted comes back: it is "new" to the volume
    assert (pod_files.volume / "bin/run.sh").exists()
    assert not (pod_files.volume / ".sync-volume").exists()
    assert run.termination_message.startswith("Syncing new files from the image")


# -- symlink attacks: nothing outside the volume is touched ---------------------------------


ATTACKS = {
    # name: (planted in the volume after the first copy, extra env, expect reset)
    "delete-marker-to-outside-file": ({".delete-volume": "/outside/victim.txt"}, {}),
    "sync-marker-to-outside-file": ({".sync-volume": "/outside/victim.txt"}, {}),
    "backups-dir-to-outside": (
        {".delete-volume": None, ".volume-backups": "/outside"},
        {"WORKSPACE_BACKUP": "1"},
    ),
    "state-dir-to-outside": ({".setup-volume": "/outside", ".sync-volume": None}, {}),
    "tmp-tree-to-outside": (
        {".setup-volume/tree": "/outside/victim-dir", ".setup-volume/copied": None},
        {},
    ),
    "request-record-to-outside": (
        {".setup-volume/reset-request-done": "/outside/victim.txt"},
        {"WORKSPACE_RESET_REQUEST": "r1"},
    ),
    "reset-record-to-outside": ({".setup-volume/reset": "/outside/victim.txt"}, {}),
    "dir-to-outside-on-sync": ({"notebooks": "/outside/victim-dir", ".sync-volume": None}, {}),
    "dir-to-outside-on-reset": ({"notebooks": "/outside/victim-dir", ".delete-volume": None}, {}),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_symlinks_in_the_volume_never_reach_outside(make_spawner, pod_files, attack):
    planted, env = ATTACKS[attack]
    c = await manifest_container(make_spawner)
    c.env.update(env)
    first_copy(pod_files, c)
    write(pod_files.outside / "victim.txt", "precious", mode=0o666)
    write(pod_files.outside / "victim-dir/keep.txt", "precious", mode=0o666)
    (pod_files.outside / "victim-dir").chmod(0o777)
    for path, target in planted.items():
        where = pod_files.volume / path
        if where.is_symlink() or where.is_file():
            where.unlink()
        elif where.is_dir():
            shutil.rmtree(where)
        where.parent.mkdir(parents=True, exist_ok=True)
        if target is None:
            where.write_text("")
        else:
            where.symlink_to(target)
        os.lchown(where, 1000, 100)
    outside_before = snapshot(pod_files.outside)
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 0, run.output
    assert snapshot(pod_files.outside) == outside_before
    assert oct((pod_files.outside / "victim.txt").stat().st_mode) == oct(0o100666)
    assert (pod_files.outside / "victim.txt").stat().st_uid == 0


async def test_a_target_that_is_a_symlink_is_refused(make_spawner, pod_files):
    c = await manifest_container(make_spawner, workspace_sub_path="workspace")
    make_image(pod_files.image)
    pod_files.prepare_volume(uid=1000, fs_group=100)
    (pod_files.volume / "workspace").symlink_to("/outside")
    hand_to_user(pod_files)
    run = pod_files.run(c)
    assert run.returncode == 1
    assert "is a symbolic link; refusing to touch it" in run.termination_message
    assert list(pod_files.outside.iterdir()) == []


# -- property: restarts without a marker never lose anything ----------------------------------

names = st.sampled_from(["a", "b", "c", "notebooks", "data", ".hidden", "x y", "README.md"])
paths = st.lists(names, min_size=1, max_size=3).map("/".join)
trees = st.dictionaries(
    paths,
    st.one_of(st.binary(max_size=64), st.sampled_from(["->README.md", "->/outside/x"])),
    max_size=12,
)


def plant_tree(root: Path, tree: dict) -> None:
    for rel, content in sorted(tree.items()):
        path = root / rel
        if any(
            p.is_symlink() or p.is_file()
            for p in [*path.parents][: len(Path(rel).parts) - 1]
            if p != root
        ):
            continue  # a parent is already a file or a link
        if path.exists() or path.is_symlink():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.symlink_to(content[2:])
        else:
            path.write_bytes(content)


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    image=trees,
    user=trees,
    image_later=trees,
    restarts=st.integers(min_value=1, max_value=3),
    sync=st.booleans(),
)
async def test_restarts_without_a_reset_lose_nothing(
    make_spawner, image, user, image_later, restarts, sync
):
    c = await manifest_container(make_spawner)
    files = new_pod_files()
    try:
        plant_tree(files.image, image)
        files.prepare_volume(uid=1000, fs_group=100)
        assert files.run(c).returncode == 0
        plant_tree(files.volume, user)
        for path in files.volume.rglob("*"):
            os.lchown(path, 1000, 100)
        kept = user_view(files)
        plant_tree(files.image, image_later)
        for _ in range(restarts):
            if sync:
                write(files.volume / ".sync-volume")
            run = files.run(c)
            assert run.returncode == 0, run.output
            after = user_view(files)
            for rel, entry in kept.items():
                assert after.get(rel) == entry, rel
        assert not any(files.outside.iterdir())
    finally:
        remove_pod_files(files)
