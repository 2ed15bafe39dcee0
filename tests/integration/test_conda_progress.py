"""The init containers' verdicts on the spawn page: WorkspaceSpawner.progress() against the emulator.

The simulated kubelet ends ``conda-env-check`` / ``conda-env-create`` with the
termination message the startup script writes (its texts, as tests/e2e shows the
script writing them); the spawner reads it from the pod status its reflector has.
"""

from __future__ import annotations

import pytest

from workspace_spawner.conda.mixin import CondaStartFailed

pytestmark = pytest.mark.emulator_only(
    reason="the simulated kubelet's termination messages of init containers (set_termination_message)"
)

CHECK = "conda-env-check"
CREATE = "conda-env-create"
GOOD = "Using your persistent conda environment 'workspace' (/home/jovyan/.conda/envs/workspace)."
NO_SERVER = (
    "Your conda environment 'workspace' has no jupyterhub-singleuser, so the server starts from "
    "the base environment. Created without --clone base? Repair it with: conda install -n "
    "workspace jupyterhub-singleuser (add the packages your server needs), or remove it with: "
    "conda env remove -n workspace (then restart your server)"
)
NO_SPACE = (
    "Not enough space for your conda environment: cloning base needs about 2048 MiB, the volume "
    "has 10 MiB free. Free some space or ask your hub admin for a larger volume, then try again."
)
CREATED = (
    "Created your persistent conda environment 'workspace' (/home/jovyan/.conda/envs/workspace)."
)


async def messages_of_start(spawner) -> list[str]:
    """Start ``spawner`` and read its progress to the end, as the spawn page does."""
    start = spawner.start()
    messages = [event["message"] async for event in spawner.progress()]
    await start
    return messages


def index_of(text: str, messages: list[str]) -> int:
    """Where the pod event saying ``text`` is (KubeSpawner adds its time and type)."""
    return next(i for i, m in enumerate(messages) if m.endswith(f"] {text}"))


@pytest.mark.parametrize(
    ("verdict", "shown"),
    [
        pytest.param(f"good: {GOOD}", GOOD, id="good-env"),
        pytest.param(f"no-server: {NO_SERVER}", NO_SERVER, id="env-without-server"),
    ],
)
async def test_the_check_verdict_is_shown_once(make_spawner, kube, emulator, verdict, shown):
    spawner = make_spawner()
    emulator.kubelet.set_termination_message(kube.namespace, spawner.pod_name, CHECK, verdict)
    messages = await messages_of_start(spawner)
    assert messages.count(shown) == 1
    # among the pod's events: after the check ended, before the server started
    assert messages.index(shown) < index_of("Started container notebook", messages)
    assert await spawner.poll() is None
    await spawner.stop()


async def test_an_image_without_conda_shows_nothing(make_spawner, kube, emulator):
    spawner = make_spawner()
    no_conda = "The image has no conda: the server starts without the persistent conda environment."
    emulator.kubelet.set_termination_message(
        kube.namespace, spawner.pod_name, CHECK, f"no-conda: {no_conda}"
    )
    messages = await messages_of_start(spawner)
    assert index_of("Started container notebook", messages) > 0
    assert not [m for m in messages if "persistent conda environment" in m]
    await spawner.stop()


def creating_spawner(make_spawner):
    return make_spawner(conda_allow_create_from_form=True, user_options={"conda_create": True})


async def test_a_successful_create_then_the_check(make_spawner, kube, emulator):
    spawner = creating_spawner(make_spawner)
    emulator.kubelet.set_termination_message(
        kube.namespace, spawner.pod_name, CREATE, f"created: {CREATED}"
    )
    emulator.kubelet.set_termination_message(
        kube.namespace, spawner.pod_name, CHECK, f"good: {GOOD}"
    )
    messages = await messages_of_start(spawner)
    announced = (
        "Your persistent conda environment will be created (cloning base): this start takes longer."
    )
    assert [m for m in messages if m in (announced, CREATED, GOOD)] == [announced, CREATED, GOOD]
    await spawner.stop()


# KubeSpawner's progress() reads the pod's events once a second and the pod gets no
# event after its init container failed: a clone that runs for longer than that ends
# between two reads, after the last event.
@pytest.mark.parametrize("clone_seconds", [0.01, 1.5], ids=["quick", "longer-than-a-poll"])
async def test_a_create_without_space_fails_the_start_with_its_message(
    make_spawner, kube, emulator, clone_seconds
):
    spawner = creating_spawner(make_spawner)
    emulator.kubelet.slow_init_container(kube.namespace, spawner.pod_name, CREATE, clone_seconds)
    emulator.kubelet.fail_init_container(kube.namespace, spawner.pod_name, CREATE, exit_code=1)
    emulator.kubelet.set_termination_message(
        kube.namespace, spawner.pod_name, CREATE, f"no-space: {NO_SPACE}"
    )
    start = spawner.start()
    messages = [event["message"] async for event in spawner.progress()]
    with pytest.raises(CondaStartFailed) as error:
        await start
    assert str(error.value) == NO_SPACE
    assert messages.count(NO_SPACE) == 1
    # the check never ran: no verdict of it
    assert not [m for m in messages if m.startswith(("Using your", "No persistent"))]
    await spawner.stop()
