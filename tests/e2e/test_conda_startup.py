"""The conda startup script, run for real from the pod manifest the spawner generates.

Each case builds the pod with WorkspaceSpawner, takes the notebook container (or an
init container) from it and runs it with conda_pod.run_container: the script comes
from the ConfigMap data the spawner writes, the home is a temporary directory
mounted at the manifest's path, conda is a stub that records its calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conda_pod import (
    CONDA_STUB,
    RUN_HOOKS_SH,
    SERVER_STUB,
    START_SH,
    Image,
    require_unshare,
    run_container,
    write_executable,
)

from workspace_spawner.conda import manifests
from workspace_spawner.kube import to_dict

HOME = "/home/jovyan"
ENV_DIR = f"{HOME}/.conda/envs/workspace"
DOCKER_STACKS = "quay.io/jupyter/minimal-notebook:2026-11-16"
OTHER_IMAGE = "registry.example.org/lab/notebook:1"


@pytest.fixture(autouse=True)
def _needs_unshare():
    require_unshare()


@pytest.fixture
def world(tmp_path: Path):
    """Host directories for the image's files and the pod's volumes."""
    home = tmp_path / "home"
    home.mkdir()
    conda_dir = tmp_path / "image-conda"
    write_executable(conda_dir / "bin/conda", CONDA_STUB)
    write_executable(conda_dir / "bin/jupyterhub-singleuser", SERVER_STUB)
    write_executable(conda_dir / "bin/python", "#!/bin/sh\n")
    (conda_dir / "conda-meta").mkdir()
    (conda_dir / "conda-meta/history").write_text("==> 2026-01-01 00:00:00 <==\n")
    usr_local_bin = tmp_path / "image-usr-local-bin"
    write_executable(usr_local_bin / "start.sh", START_SH)
    write_executable(usr_local_bin / "run-hooks.sh", RUN_HOOKS_SH)
    # docker-stacks' CMD: in a hub it runs jupyterhub-singleuser
    write_executable(
        usr_local_bin / "start-notebook.py", '#!/bin/sh\nexec jupyterhub-singleuser "$@"\n'
    )
    (usr_local_bin / "before-notebook.d").mkdir()
    return tmp_path


def image_for(world: Path, name: str, *, conda: bool = True) -> Image:
    files = {"/usr/local/bin": world / "image-usr-local-bin"}
    path = "/usr/local/bin:/usr/bin:/bin"
    env = {"HOME": HOME, "PATH": path, "SHELL": "/bin/bash"}
    if conda:
        files["/opt/conda"] = world / "image-conda"
        env.update(PATH=f"/opt/conda/bin:{path}", CONDA_DIR="/opt/conda")
    else:
        server = world / "image-no-conda"
        write_executable(server / "jupyterhub-singleuser", SERVER_STUB)
        files["/opt/server"] = server
        env.update(PATH=f"/opt/server:{path}")
    if name == DOCKER_STACKS:
        # docker-stacks: ENTRYPOINT ["tini", "-g", "--", "start.sh"], CMD ["start-notebook.py"]
        return Image(
            files=files, entrypoint=["/usr/local/bin/start.sh"], cmd=["start-notebook.py"], env=env
        )
    return Image(files=files, entrypoint=[], cmd=["jupyterhub-singleuser"], env=env)


async def pod_for(spawner_factory, **traits) -> tuple[dict, dict]:
    spawner = spawner_factory(**traits)
    pod = to_dict(await spawner.get_pod_manifest())
    return pod, spawner._conda_configmap()


def volumes_for(world: Path, configmap: dict) -> dict[str, Path]:
    scripts = world / "configmap"
    scripts.mkdir(exist_ok=True)
    for key, value in configmap["data"].items():
        (scripts / key).write_text(value)
    return {"home": world / "home", manifests.VOLUME_NAME: scripts}


def container(pod: dict, name: str) -> dict:
    for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


def make_env(
    home: Path, *, server: bool = True, history: str = "==> 2026-01-01 00:00:00 <==\n"
) -> Path:
    prefix = home / ".conda/envs/workspace"
    (prefix / "conda-meta").mkdir(parents=True)
    if history is not None:
        (prefix / "conda-meta/history").write_text(history)
    if server:
        write_executable(prefix / "bin/jupyterhub-singleuser", SERVER_STUB)
    return prefix


def output_of(run) -> dict[str, str]:
    assert run.returncode == 0, run.stderr
    return dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)


def calls(world: Path) -> list[str]:
    log = world / "image-conda/calls.log"
    return log.read_text().splitlines() if log.exists() else []


MODES = [
    pytest.param(DOCKER_STACKS, "auto", id="hook"),
    pytest.param(OTHER_IMAGE, "auto", id="wrap"),
]


@pytest.mark.parametrize(("image", "mode"), MODES)
async def test_good_env_is_activated_and_first_on_path(world, conda_spawner, image, mode):
    prefix = make_env(world / "home")
    pod, configmap = await pod_for(conda_spawner, image=image, conda_startup_mode=mode)
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, image),
        volumes=volumes_for(world, configmap),
        scratch=world / "run",
    )
    out = output_of(run)
    assert out["SERVER"] == f"{ENV_DIR}/bin/jupyterhub-singleuser"
    assert out["PATH"].split(":")[0] == f"{ENV_DIR}/bin"
    assert out["PATH"].split(":")[1] == f"{HOME}/.local/bin"
    assert out["CONDA_PREFIX"] == ENV_DIR
    assert out["PYTHONUSERBASE"] == f"{HOME}/.local"
    assert "activated the persistent conda environment 'workspace'" in run.stderr
    assert (prefix / "conda-meta/history").exists()
    if image == DOCKER_STACKS:
        # sourced under set -e: the caller's variables survive, nothing leaks
        assert out["CALLER_VARS"] == "callers-conda callers-prefix unset"
        assert "has failed" not in run.stdout
        assert out["ARGS"] == ""  # KubeSpawner.cmd None: the image's CMD through start.sh
    else:
        assert out["CALLER_VARS"] == "unset unset unset"


@pytest.mark.parametrize(("image", "mode"), MODES)
async def test_no_env_starts_from_base(world, conda_spawner, image, mode):
    pod, configmap = await pod_for(conda_spawner, image=image, conda_startup_mode=mode)
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, image),
        volumes=volumes_for(world, configmap),
        scratch=world / "run",
    )
    out = output_of(run)
    assert out["SERVER"] == "/opt/conda/bin/jupyterhub-singleuser"
    assert out["CONDA_PREFIX"] == ""
    assert "using the image's base environment" in run.stderr


BROKEN = [
    pytest.param({"server": False}, "has no jupyterhub-singleuser", id="no-server"),
    pytest.param({"history": ""}, "is incomplete", id="half-made-empty-history"),
    pytest.param({"history": None}, "is incomplete", id="half-made-no-history"),
]


@pytest.mark.parametrize(("image", "mode"), MODES)
@pytest.mark.parametrize(("env", "said"), BROKEN)
async def test_broken_env_starts_from_base_and_says_how_to_repair(
    world, conda_spawner, image, mode, env, said
):
    make_env(world / "home", **env)
    pod, configmap = await pod_for(conda_spawner, image=image, conda_startup_mode=mode)
    volumes = volumes_for(world, configmap)
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, image),
        volumes=volumes,
        scratch=world / "run",
    )
    out = output_of(run)
    assert out["SERVER"] == "/opt/conda/bin/jupyterhub-singleuser"
    assert said in run.stderr
    assert "Created without --clone base?" in run.stderr
    assert "conda install -n workspace jupyterhub-singleuser" in run.stderr
    assert "conda env remove -n workspace" in run.stderr
    # the init container says the same on the spawn page, through its termination message
    check = run_container(
        container(pod, manifests.CHECK_CONTAINER),
        image=image_for(world, image),
        volumes=volumes,
        scratch=world / "check",
    )
    assert check.returncode == 0, check.stderr
    state, text = manifests.split_verdict({"exitCode": 0, "message": check.message})
    assert state in ("no-server", "half-made")
    assert said.replace("is incomplete", "is incomplete") in text or "has no" in text
    assert "Created without --clone base?" in text


async def test_check_reports_a_good_env(world, conda_spawner):
    make_env(world / "home")
    pod, configmap = await pod_for(conda_spawner, image=OTHER_IMAGE)
    check = run_container(
        container(pod, manifests.CHECK_CONTAINER),
        image=image_for(world, OTHER_IMAGE),
        volumes=volumes_for(world, configmap),
        scratch=world / "check",
    )
    assert check.message.startswith("good: Using your persistent conda environment 'workspace'")


async def test_server_command_from_cmd_must_be_in_the_env(world, conda_spawner):
    # the pod runs "jupyter-lab-hub": an env with only jupyterhub-singleuser lacks it
    make_env(world / "home")
    write_executable(world / "image-conda/bin/jupyter-lab-hub", SERVER_STUB)
    pod, configmap = await pod_for(conda_spawner, image=OTHER_IMAGE, cmd=["jupyter-lab-hub"])
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, OTHER_IMAGE),
        volumes=volumes_for(world, configmap),
        scratch=world / "run",
    )
    out = output_of(run)
    assert out["SERVER"] == "/opt/conda/bin/jupyter-lab-hub"
    assert "has no jupyter-lab-hub" in run.stderr


CONDARC = [
    pytest.param(None, f"envs_dirs:\n  - {HOME}/.conda/envs\n", True, id="no-condarc"),
    pytest.param(
        "channels:\n  - conda-forge\n",
        f"channels:\n  - conda-forge\nenvs_dirs:\n  - {HOME}/.conda/envs\n",
        True,
        id="condarc-without-envs-dir",
    ),
    pytest.param(
        f"envs_dirs:\n  - /data/envs\n  - {HOME}/.conda/envs\nchannels:\n  - conda-forge\n",
        f"envs_dirs:\n  - /data/envs\n  - {HOME}/.conda/envs\nchannels:\n  - conda-forge\n",
        False,
        id="condarc-with-envs-dir",
    ),
]


@pytest.mark.parametrize(("before", "after", "written"), CONDARC)
async def test_condarc_gets_the_envs_dir_with_conda_config_only_when_missing(
    world, conda_spawner, before, after, written
):
    condarc = world / "home/.condarc"
    if before is not None:
        condarc.write_text(before)
    pod, configmap = await pod_for(conda_spawner, image=DOCKER_STACKS)
    for attempt in ("first", "second"):
        run = run_container(
            container(pod, "notebook"),
            image=image_for(world, DOCKER_STACKS),
            volumes=volumes_for(world, configmap),
            scratch=world / attempt,
        )
        output_of(run)
        assert condarc.read_text() == after
    prepends = [c for c in calls(world) if "--prepend envs_dirs" in c]
    # conda's own command, once at most: the second start finds the dir there
    assert prepends == (
        [f"config --file {HOME}/.condarc --prepend envs_dirs {HOME}/.conda/envs"] if written else []
    )


@pytest.mark.parametrize("image", [DOCKER_STACKS, OTHER_IMAGE])
async def test_image_without_conda_starts_normally(world, conda_spawner, image):
    pod, configmap = await pod_for(conda_spawner, image=image)
    volumes = volumes_for(world, configmap)
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, image, conda=False),
        volumes=volumes,
        scratch=world / "run",
    )
    out = output_of(run)
    assert out["SERVER"] == "/opt/server/jupyterhub-singleuser"
    notes = [line for line in run.stderr.splitlines() if line.startswith("workspace-env:")]
    assert notes == [
        "workspace-env: no conda in this image: starting without the persistent conda environment"
    ]
    assert not (world / "home/.condarc").exists()
    check = run_container(
        container(pod, manifests.CHECK_CONTAINER),
        image=image_for(world, image, conda=False),
        volumes=volumes,
        scratch=world / "check",
    )
    assert check.returncode == 0
    assert check.message.startswith("no-conda: ")


async def test_pip_user_base_alone(world, conda_spawner):
    pod, configmap = await pod_for(conda_spawner, image=OTHER_IMAGE, conda_workspace_env=False)
    assert manifests.CHECK_CONTAINER not in [
        c["name"] for c in pod["spec"].get("initContainers", [])
    ]
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, OTHER_IMAGE),
        volumes=volumes_for(world, configmap),
        scratch=world / "run",
    )
    out = output_of(run)
    assert out["PYTHONUSERBASE"] == f"{HOME}/.local"
    assert out["PATH"].split(":")[0] == f"{HOME}/.local/bin"
    assert calls(world) == []


# -- creating the env from the spawn form ----------------------------------------------


async def create_pod(conda_spawner, **traits):
    return await pod_for(
        conda_spawner,
        image=DOCKER_STACKS,
        conda_allow_create_from_form=True,
        user_options={"conda_create": True},
        **traits,
    )


async def test_create_clones_base_offline_then_the_server_uses_it(world, conda_spawner):
    pod, configmap = await create_pod(conda_spawner)
    volumes = volumes_for(world, configmap)
    create = run_container(
        container(pod, manifests.CREATE_CONTAINER),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes,
        scratch=world / "create",
        cgroup_memory_max="max",
    )
    assert create.returncode == 0, create.stderr
    assert create.message.startswith(
        "created: Created your persistent conda environment 'workspace'"
    )
    assert [c for c in calls(world) if c.startswith("create")] == [
        f"create --yes --quiet --prefix {ENV_DIR} --clone /opt/conda --offline"
    ]
    assert not (world / "home/.conda/envs/workspace.creating").exists()
    run = run_container(
        container(pod, "notebook"),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes,
        scratch=world / "run",
    )
    assert output_of(run)["SERVER"] == f"{ENV_DIR}/bin/jupyterhub-singleuser"
    # the next start with the option again: nothing to do
    again = run_container(
        container(pod, manifests.CREATE_CONTAINER),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes,
        scratch=world / "again",
    )
    assert again.returncode == 0 and again.message.startswith("exists: ")


async def test_create_downloads_when_offline_fails_and_redoes_an_interrupted_clone(
    world, conda_spawner
):
    (world / "image-conda/stub-offline-fails").write_text("")
    # an earlier clone of ours was interrupted
    make_env(world / "home", server=False, history="")
    (world / "home/.conda/envs/workspace.creating").write_text("")
    pod, configmap = await create_pod(conda_spawner)
    create = run_container(
        container(pod, manifests.CREATE_CONTAINER),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes_for(world, configmap),
        scratch=world / "create",
    )
    assert create.returncode == 0, create.stderr
    assert "removing the incomplete clone" in create.stderr
    assert [c for c in calls(world) if c.startswith("create")] == [
        f"create --yes --quiet --prefix {ENV_DIR} --clone /opt/conda --offline",
        f"create --yes --quiet --prefix {ENV_DIR} --clone /opt/conda",
    ]
    assert (world / "home/.conda/envs/workspace/bin/jupyterhub-singleuser").exists()


async def test_create_leaves_a_users_env_alone(world, conda_spawner):
    make_env(world / "home", server=False)
    pod, configmap = await create_pod(conda_spawner)
    create = run_container(
        container(pod, manifests.CREATE_CONTAINER),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes_for(world, configmap),
        scratch=world / "create",
    )
    assert create.returncode == 0
    assert create.message.startswith("exists: ")
    assert not (world / "home/.conda/envs/workspace/bin/jupyterhub-singleuser").exists()


async def test_create_refuses_when_the_volume_is_too_small(world, conda_spawner):
    (world / "image-conda/lib").mkdir()
    (world / "image-conda/lib/big").write_bytes(b"x" * 4 * 2**20)
    write_executable(
        world / "image-usr-local-bin/df",
        "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
        "echo 'pvc 10240 9216 1024 90% /home/jovyan'\n",
    )
    pod, configmap = await create_pod(conda_spawner)
    create = run_container(
        container(pod, manifests.CREATE_CONTAINER),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes_for(world, configmap),
        scratch=world / "create",
    )
    assert create.returncode == 1
    assert create.message.startswith("no-space: Not enough space for your conda environment")
    assert "the volume has 1 MiB free" in create.message
    assert not (world / "home/.conda/envs/workspace").exists()
    assert not [c for c in calls(world) if c.startswith("create")]


async def test_create_refuses_when_the_memory_limit_is_too_low(world, conda_spawner):
    pod, configmap = await create_pod(conda_spawner)
    create = run_container(
        container(pod, manifests.CREATE_CONTAINER),
        image=image_for(world, DOCKER_STACKS),
        volumes=volumes_for(world, configmap),
        scratch=world / "create",
        cgroup_memory_max=str(2 * 2**30),
    )
    assert create.returncode == 1
    assert create.message == (
        "no-memory: Not enough memory to clone base: the limit is 2048 MiB, cloning needs about "
        "4096 MiB. Ask your hub admin to raise c.WorkspaceSpawner.conda_create_mem_limit.\n"
    )
