"""A failed init container of a workspace feature fails the start at once, with its message.

Before, only conda's clone did; a failed ``setup-volume`` left the pod Pending until
``start_timeout``. The start timeout here is far longer than the wait allowed for the
failure, so a start that waited for it could not pass.
"""

from __future__ import annotations

import asyncio

import pytest

from workspace_spawner.conda.mixin import CondaStartFailed
from workspace_spawner.initcontainers import InitContainerFailed
from workspace_spawner.volumes.mixin import VolumeSetupFailed

pytestmark = pytest.mark.emulator_only

START_TIMEOUT = 300
# far below START_TIMEOUT: the emulator's pod starts in well under a second
FAILS_WITHIN = 20


async def failed_start(spawner) -> BaseException:
    with pytest.raises(InitContainerFailed) as error:
        await asyncio.wait_for(spawner.start(), FAILS_WITHIN)
    return error.value


async def test_a_failed_setup_volume_fails_the_start_with_its_message(make_spawner, kube, emulator):
    spawner = make_spawner(start_timeout=START_TIMEOUT)
    emulator.kubelet.fail_init_container(
        kube.namespace, spawner.pod_name, "setup-volume", exit_code=1
    )
    emulator.kubelet.set_termination_message(
        kube.namespace,
        spawner.pod_name,
        "setup-volume",
        "ERROR: /workspace-volume is a symbolic link; refusing to touch it\n",
    )
    error = await failed_start(spawner)
    expected = (
        "The workspace volume could not be prepared: /workspace-volume is a symbolic link; "
        "refusing to touch it. Start your server again once that is fixed; if you cannot fix "
        "it yourself, send this message to your hub admin (the volume is claim-alice)."
    )
    assert type(error) is VolumeSetupFailed
    assert str(error) == expected
    # what JupyterHub puts on the spawn page and the error page (jupyterhub.utils.format_exception)
    assert error.jupyterhub_message == expected
    await spawner.stop(now=True)


async def test_a_setup_volume_killed_without_a_message_says_how_it_ended(
    make_spawner, kube, emulator
):
    spawner = make_spawner(start_timeout=START_TIMEOUT)
    emulator.kubelet.fail_init_container(
        kube.namespace, spawner.pod_name, "setup-volume", exit_code=2
    )
    error = await failed_start(spawner)
    assert str(error).startswith(
        "The workspace volume could not be prepared: Error, exit code 2. Start"
    )
    await spawner.stop(now=True)


async def test_a_failed_conda_env_create_fails_the_start_with_its_message(
    make_spawner, kube, emulator
):
    spawner = make_spawner(
        start_timeout=START_TIMEOUT,
        conda_allow_create_from_form=True,
        user_options={"conda_create": True},
    )
    no_space = (
        "Not enough space for your conda environment: cloning base needs about 2048 MiB, "
        "the volume has 10 MiB free. Free some space or ask your hub admin for a larger "
        "volume, then try again."
    )
    emulator.kubelet.fail_init_container(
        kube.namespace, spawner.pod_name, "conda-env-create", exit_code=1
    )
    emulator.kubelet.set_termination_message(
        kube.namespace, spawner.pod_name, "conda-env-create", f"no-space: {no_space}"
    )
    error = await failed_start(spawner)
    assert type(error) is CondaStartFailed
    assert str(error) == no_space
    assert error.jupyterhub_message == no_space
    await spawner.stop(now=True)


async def test_an_admins_own_failed_init_container_is_left_to_kubespawner(
    make_spawner, kube, emulator
):
    """c.KubeSpawner.init_containers: KubeSpawner's behaviour, the start timeout, is kept."""
    spawner = make_spawner(
        start_timeout=2,
        init_containers=[{"name": "admin-init", "image": "busybox", "command": ["false"]}],
    )
    emulator.kubelet.fail_init_container(
        kube.namespace, spawner.pod_name, "admin-init", exit_code=1
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(spawner.start(), FAILS_WITHIN)
    await spawner.stop(now=True)
