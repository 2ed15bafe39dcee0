"""CondaMixin: the pod it changes, the spawn form, validation, one start's timeout and failure."""

from __future__ import annotations

import asyncio

import pytest
from traitlets import TraitError

from workspace_spawner.conda.mixin import CREATE_LABEL, CondaStartFailed
from workspace_spawner.kube import to_dict

SCRIPT_MOUNT = {
    "name": "workspace-conda-startup",
    "mountPath": "/opt/workspace-spawner/conda",
    "readOnly": True,
}
HOOK_MOUNT = {
    "name": "workspace-conda-startup",
    "mountPath": "/usr/local/bin/before-notebook.d/90-workspace-conda-env.sh",
    "subPath": "workspace-env.sh",
    "readOnly": True,
}
HOME_MOUNT = {"name": "home", "mountPath": "/home/jovyan"}


async def pod_of(spawner) -> dict:
    return to_dict(await spawner.get_pod_manifest())


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


async def test_hook_mode_mounts_the_script_and_keeps_the_command(conda_spawner):
    spawner = conda_spawner(
        image="quay.io/jupyter/scipy-notebook:2026-11-16", cmd=["jupyterhub-singleuser"]
    )
    pod = await pod_of(spawner)
    notebook = pod["spec"]["containers"][0]
    assert notebook["args"] == ["jupyterhub-singleuser"]
    assert "command" not in notebook
    assert notebook["volumeMounts"][-2:] == [SCRIPT_MOUNT, HOOK_MOUNT]
    assert {
        "name": "workspace-conda-startup",
        "configMap": {"name": "workspace-spawner-conda", "defaultMode": 0o755},
    } in pod["spec"]["volumes"]
    env = env_of(notebook)
    assert {k: v for k, v in env.items() if k.startswith("WORKSPACE_")} == {
        "WORKSPACE_CONDA_ENVS_DIR": "{home}/.conda/envs",
        "WORKSPACE_CONDA_ENV_NAME": "workspace",
        "WORKSPACE_SERVER_COMMAND": "jupyterhub-singleuser",
        "WORKSPACE_PIP_USER_BASE": "{home}/.local",
    }
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["conda-env-check"]
    check = pod["spec"]["initContainers"][0]
    assert check["image"] == "quay.io/jupyter/scipy-notebook:2026-11-16"
    assert check["command"] == ["sh", "/opt/workspace-spawner/conda/workspace-env.sh", "--check"]
    assert check["volumeMounts"] == [HOME_MOUNT, SCRIPT_MOUNT]
    assert "JUPYTERHUB_API_TOKEN" not in env_of(check)


@pytest.mark.parametrize(
    ("cmd", "args", "program"),
    [
        (
            None,
            [
                "sh",
                "/opt/workspace-spawner/conda/workspace-env.sh",
                "--exec",
                "jupyterhub-singleuser",
            ],
            "jupyterhub-singleuser",
        ),
        (
            ["jupyter-labhub", "--x"],
            [
                "sh",
                "/opt/workspace-spawner/conda/workspace-env.sh",
                "--exec",
                "jupyter-labhub",
                "--x",
            ],
            "jupyter-labhub",
        ),
    ],
)
async def test_wrap_mode_wraps_the_args(conda_spawner, cmd, args, program):
    pod = await pod_of(conda_spawner(image="registry.example.org/lab:1", cmd=cmd))
    notebook = pod["spec"]["containers"][0]
    assert notebook["args"] == args
    assert "command" not in notebook  # the image's ENTRYPOINT stays
    assert notebook["volumeMounts"][-1] == SCRIPT_MOUNT
    assert env_of(notebook)["WORKSPACE_SERVER_COMMAND"] == program


async def test_fields_of_the_envs_dir_template(conda_spawner):
    spawner = conda_spawner(
        conda_envs_dir="/envs/{username}/{home}/x", conda_workspace_env_name="ws"
    )
    env = env_of((await pod_of(spawner))["spec"]["containers"][0])
    assert env["WORKSPACE_CONDA_ENVS_DIR"] == "/envs/alice/{home}/x"
    assert env["WORKSPACE_CONDA_ENV_NAME"] == "ws"


async def test_switched_off_changes_nothing(conda_spawner):
    on = await pod_of(
        conda_spawner(
            image="registry.example.org/lab:1", conda_workspace_env=False, persist_pip_user=False
        )
    )
    assert "initContainers" not in on["spec"] or not on["spec"]["initContainers"]
    assert on["spec"]["containers"][0].get("args") is None
    assert all(v["name"] != "workspace-conda-startup" for v in on["spec"].get("volumes") or [])


async def test_create_init_container_from_the_form_option(conda_spawner):
    spawner = conda_spawner(
        image="quay.io/jupyter/minimal-notebook",
        conda_allow_create_from_form=True,
        user_options={"conda_create": True},
        mem_limit="1G",
        mem_guarantee="512M",
    )
    pod = await pod_of(spawner)
    create, check = pod["spec"]["initContainers"]
    assert (create["name"], check["name"]) == ("conda-env-create", "conda-env-check")
    assert create["command"][-1] == "--create"
    assert create["resources"]["limits"]["memory"] == str(4 * 2**30)
    assert create["resources"]["requests"]["memory"] == 512 * 2**20
    assert env_of(create)["WORKSPACE_CONDA_CREATE_MIN_MEMORY"] == str(4 * 2**30)
    assert check["resources"]["limits"]["memory"] == 2**30


async def test_create_option_ignored_unless_the_admin_allows_it(conda_spawner):
    pod = await pod_of(conda_spawner(user_options={"conda_create": True}))
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["conda-env-check"]


# -- the spawn form -----------------------------------------------------------------------


async def test_form_checkbox_alone_without_profiles(conda_spawner):
    assert conda_spawner().options_form == ""
    form = conda_spawner(conda_allow_create_from_form=True).options_form
    assert CREATE_LABEL in form
    assert 'name="conda_create"' in form and 'type="checkbox"' in form


async def test_form_checkbox_after_the_profiles(conda_spawner):
    profiles = [
        {"display_name": "Small", "slug": "small", "kubespawner_override": {"mem_limit": "1G"}},
        {"display_name": "Large", "slug": "large", "kubespawner_override": {"mem_limit": "8G"}},
    ]
    spawner = conda_spawner(profile_list=profiles, conda_allow_create_from_form=True)
    form = spawner.options_form
    assert form.index('value="small"') < form.index(CREATE_LABEL)
    assert spawner.options_from_form({"profile": ["large"], "conda_create": ["on"]}) == {
        "profile": "large",
        "conda_create": True,
    }
    assert spawner.options_from_form({"profile": ["small"]}) == {"profile": "small"}


async def test_form_with_a_callable_profile_list(conda_spawner):
    def profiles(spawner):
        return [{"display_name": "Only", "slug": "only", "kubespawner_override": {}}]

    spawner = conda_spawner(profile_list=profiles, conda_allow_create_from_form=True)
    form = await spawner.options_form(spawner)
    assert 'value="only"' in form and CREATE_LABEL in form


async def test_form_option_dropped_when_not_allowed(conda_spawner):
    spawner = conda_spawner()
    assert spawner.options_from_form({"conda_create": ["on"]}) == {}


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trait", "value", "says"),
    [
        ("conda_workspace_env_name", "base", "not 'base'"),
        ("conda_workspace_env_name", "my env", "letters, digits"),
        ("conda_envs_dir", "relative/envs", "absolute path or start with '{home}'"),
        ("conda_hook_image_pattern", "(", "not a regular expression"),
        ("conda_configmap_name", "Conda_Script", "not a valid ConfigMap name"),
        ("conda_startup_mode", "inject", "auto"),
    ],
)
def test_bad_settings_fail_with_the_fix(conda_spawner, trait, value, says):
    with pytest.raises(TraitError, match=None) as error:
        conda_spawner(**{trait: value})
    assert says in str(error.value)


async def test_envs_dir_normalised(conda_spawner):
    assert conda_spawner(conda_envs_dir=" {home}/envs/ ").conda_envs_dir == "{home}/envs"


# -- one start ------------------------------------------------------------------------------


async def test_longer_start_timeout_for_the_cloning_start_only(conda_spawner):
    spawner = conda_spawner(
        start_timeout=300,
        conda_allow_create_from_form=True,
        conda_create_start_timeout=1800,
        user_options={"conda_create": True},
    )
    gate = asyncio.Event()
    seen = []

    async def fake_start():
        seen.append(spawner.start_timeout)
        await gate.wait()
        return "http://pod:8888"

    spawner._start = fake_start
    future = spawner.start()
    assert spawner.start_timeout == 1800  # what JupyterHub reads right after start()
    gate.set()
    assert await future == "http://pod:8888"
    await asyncio.sleep(0)
    assert seen == [1800]
    assert spawner.start_timeout == 300

    spawner.user_options = {}
    spawner.start()
    assert spawner.start_timeout == 300
    gate.set()
    await spawner._start_future


def pod_with_create(status: dict) -> dict:
    return {
        "metadata": {"name": "jupyter-alice"},
        "status": {
            "phase": "Pending",
            "podIP": None,
            "initContainerStatuses": [{"name": "conda-env-create", "ready": False, **status}],
            "containerStatuses": [],
        },
    }


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (
            {
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 1,
                        "message": "no-space: Not enough space: 10 MiB free.",
                    }
                },
            },
            "Not enough space: 10 MiB free.",
        ),
        (
            {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
            "ran out of memory (limit 4.0 GiB)",
        ),
    ],
)
async def test_a_failed_clone_fails_the_start_with_its_message(conda_spawner, status, says):
    spawner = conda_spawner()
    with pytest.raises(CondaStartFailed) as error:
        spawner.is_pod_running(pod_with_create(status))
    assert says in str(error.value)


async def test_a_running_clone_is_just_not_running_yet(conda_spawner):
    spawner = conda_spawner()
    assert spawner.is_pod_running(pod_with_create({"state": {"running": {}}})) is False
    done = {"state": {"terminated": {"exitCode": 0, "message": "created: Created."}}}
    assert spawner.is_pod_running(pod_with_create(done)) is False
