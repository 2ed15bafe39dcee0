"""setup-volume.sh run twice at once on one volume (issue 12, case 5): one run at a time.

Two servers of one user on a shared claim (ReadWriteMany, or one node) start their
init containers together; without the lock one fails at ``mkdir .setup-volume/tree`` or
deletes the other's copy. The scripts run for real, from the spawner's manifest.
"""

from __future__ import annotations

import fcntl
import os

from volumes_pod import SetupContainer, needs_private_mounts, snapshot

from workspace_spawner.kube import to_dict

pytestmark = needs_private_mounts


async def setup_container(make_spawner, **env: str) -> SetupContainer:
    spawner = make_spawner(uid=1000, gid=100, fs_gid=100)
    container = SetupContainer.from_pod(to_dict(await spawner.get_pod_manifest()))
    container.env.update(env)
    return container


def make_image(image, files: int) -> None:
    for i in range(files):
        path = image / f"d{i % 20}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n")


async def test_two_runs_at_once_both_succeed_and_copy_once(make_spawner, pod_files):
    container = await setup_container(make_spawner)
    make_image(pod_files.image, 3000)
    pod_files.prepare_volume(uid=1000, fs_group=100)
    runs = [pod_files.start(container), pod_files.start(container)]
    outputs = []
    for run in runs:
        output, _ = run.communicate(timeout=300)
        outputs.append((run.returncode, output.decode()))
    for code, output in outputs:
        assert code == 0, output
    copied = [output for _, output in outputs if "Copying the image's files" in output]
    assert len(copied) == 1, outputs
    volume = snapshot(pod_files.volume, skip=(".setup-volume", "lost+found"))
    image = snapshot(pod_files.image)
    assert {k: v[:2] for k, v in volume.items() if v[0] == "file"} == {
        k: v[:2] for k, v in image.items() if v[0] == "file"
    }
    assert not (pod_files.volume / ".setup-volume" / "tree").exists()


async def test_a_run_that_cannot_get_the_lock_fails_with_its_reason(make_spawner, pod_files):
    container = await setup_container(make_spawner, WORKSPACE_LOCK_TIMEOUT="1")
    make_image(pod_files.image, 3)
    pod_files.prepare_volume(uid=1000, fs_group=100)
    state = pod_files.volume / ".setup-volume"
    state.mkdir()
    os.chown(state, 1000, 100)
    with open(state / "lock", "a") as held:
        os.chown(state / "lock", 1000, 100)
        fcntl.flock(held, fcntl.LOCK_EX)
        run = pod_files.run(container)
    assert run.returncode == 1, run.output
    assert "another setup-volume run on this volume" in run.termination_message
    # nothing was copied while the other run held the volume
    assert sorted(p.name for p in pod_files.volume.iterdir()) == [".setup-volume"]
