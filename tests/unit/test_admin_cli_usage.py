"""workspace-admin's help and usage errors (exit 2), run in-process: no hub or cluster is needed."""

from __future__ import annotations

import pytest

from workspace_spawner.admin import main

SUBCOMMANDS = ["list", "stop", "reset", "expand", "delete-volume", "delete-project", "restore"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    out, err = capsys.readouterr()
    return exit.value.code, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "name a subcommand"),
        (["frobnicate"], "unknown subcommand 'frobnicate'"),
        (["stop"], "Name at least one user."),
        (["reset"], "Name at least one user."),
        (["expand", "gus"], "Give a user and a size"),
        (["expand", "gus", "lots"], "'lots' is not a Kubernetes quantity"),
        (["stop", "gus", "--timeout=soon"], "expected a float"),
        (["stop", "gus", "--no-such-option=1"], "unrecognized arguments: --no-such-option=1"),
        (["delete-volume"], "Name the users, or pass --all-stopped"),
        (["delete-volume", "gus", "--all-stopped"], "Name the users, or pass --all-stopped"),
        (["delete-project"], "Name at least one user."),
        (["delete-project", "gus", "hal", "--project", "x"], "give exactly one user"),
        (["list", "--token-file", "/nonexistent/token"], "Cannot read the token file"),
        (["restore"], "Name one user: workspace-admin restore USER --snapshot NAME."),
        (["restore", "gus", "hal", "--snapshot", "s"], "Name one user"),
        (["restore", "gus"], "Pass --snapshot NAME to restore, or --confirm"),
        (["restore", "gus", "--snapshot", "s", "--confirm"], "not both"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2, (out, err)
    assert message in err


def test_no_token_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    code, _, err = _run(["list"], capsys)
    assert code == 2
    assert "No API token: set JUPYTERHUB_API_TOKEN or pass --token-file." in err


def test_a_missing_hub_config_is_a_usage_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    code, _, err = _run(["list", "-f", str(tmp_path / "nope.py")], capsys)
    assert code == 2
    assert "nope.py does not exist: pass it with -f PATH" in err


def _hub_config(tmp_path, monkeypatch: pytest.MonkeyPatch, text: str):
    """A hub config file holding ``text``, and a token in the environment."""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(text)
    return config


def test_a_spawner_that_is_not_a_kubespawner_is_a_usage_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _hub_config(
        tmp_path, monkeypatch, 'c = get_config()\nc.JupyterHub.spawner_class = "simple"\n'
    )
    code, _, err = _run(["list", "-f", str(config)], capsys)
    assert code == 2
    assert "works with WorkspaceSpawner or another KubeSpawner subclass" in err


@pytest.mark.parametrize("subcommand", ["", *SUBCOMMANDS])
def test_help_reads_well(subcommand: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([*filter(None, [subcommand]), "--help"], capsys)
    assert code == 0
    assert "Examples" in out
    assert f"workspace-admin {subcommand}".strip() in out.split("Examples")[1]
    if subcommand in ("stop", "reset", "expand", "delete-volume", "delete-project"):
        assert "--dry-run" in out
    if subcommand == "":
        for name in SUBCOMMANDS:
            assert f"\n{name}\n" in out


def test_a_broken_hub_config_is_a_usage_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _hub_config(tmp_path, monkeypatch, "c = get_config()\nc.JupyterHub.spawner_class = \n")
    code, _, err = _run(["list", "-f", str(config)], capsys)
    assert code == 2
    assert f"Cannot load the hub's config file {config}" in err


def test_a_missing_kubeconfig_is_a_usage_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _hub_config(
        tmp_path, monkeypatch, 'c = get_config()\nc.JupyterHub.spawner_class = "workspace"\n'
    )
    code, _, err = _run(["list", "-f", str(config), "--kubeconfig", str(tmp_path / "nope")], capsys)
    assert code == 2
    assert f"The kubeconfig {tmp_path / 'nope'} does not exist." in err
