"""The mission's user and admin flows in a browser, on the demo (``make demo``).

One demo stack (emulator in OpenShift mode, pod runner, JupyterHub; in make
test-cluster the real control plane and a node agent running the pods) for the
module; the flows run in order, as alice and then the admin meet them. Every step
leaves a screenshot in test-artifacts/screenshots/. In CI (CI=true) nothing here skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_browser import Person, _screenshot_on_failure, _stop_reflectors, browser  # noqa: F401 (the browser fixtures)
from demo_stack import demo, hub_api, on_cluster, wait_until  # noqa: F401 (the module's fixture)

pytestmark = [pytest.mark.slow, on_cluster]

NAMESPACE = "jupyterhub"


@pytest.fixture(scope="module")
def alice(browser: Any, demo: Any) -> Iterator[Person]:  # noqa: F811
    person = Person(browser, demo.url, "alice", prefix="flow-alice")
    person.log_in(demo.password)
    yield person
    person.close()


def claim_dir(demo: Any, claim: str) -> Path:  # noqa: F811
    path = demo.claim_dir(NAMESPACE, claim)
    assert path is not None, f"{claim} has no volume"
    return path


def test_1_first_start_copies_the_image_files(demo: Any, alice: Person) -> None:  # noqa: F811
    seconds = alice.start_server()
    progress = alice.progress_messages()
    for message in (
        "Creating project alice-workspace",
        "Creating workspace volume claim-alice",
        "Copying the image's files into the new volume",
    ):
        assert message in progress, progress
    assert alice.file_browser("Welcome.ipynb").is_visible()
    assert alice.file_browser("README.md").is_visible()
    alice.shot("jupyterlab-first-start")
    # the volume is a directory of the claim, filled by the init container
    assert (claim_dir(demo, "claim-alice") / "Welcome.ipynb").is_file()
    print(f"first start: {seconds:.1f}s from the click to JupyterLab")


def test_2_a_saved_notebook_survives_stop_and_start(alice: Person) -> None:
    alice.new_notebook("alice-notes.ipynb", 'print("saved by alice")')
    alice.shot("notebook-saved")
    alice.stop_server()
    alice.shot("control-panel-stopped")
    alice.start_server()
    assert alice.file_browser("alice-notes.ipynb").is_visible()
    alice.file_browser("alice-notes.ipynb").dblclick()
    alice.page.locator(".jp-NotebookPanel .jp-Cell", has_text="saved by alice").first.wait_for()
    alice.shot("notebook-still-there")


def test_3_delete_volume_resets_to_the_image_files(alice: Person) -> None:
    alice.open_terminal()
    alice.run_in_terminal("touch .delete-volume && ls -a", expect=".delete-volume")
    alice.shot("terminal-delete-volume")
    alice.stop_server()
    alice.start_server()
    progress = alice.progress_messages()
    assert "Resetting the volume" in progress, progress
    assert ".delete-volume" in progress, progress
    alice.file_browser("Welcome.ipynb").wait_for()
    assert alice.file_browser("README.md").is_visible()
    assert alice.page.locator(".jp-DirListing-item", has_text="alice-notes.ipynb").count() == 0
    alice.shot("jupyterlab-after-reset")


def test_4_project_namespace_in_a_terminal(alice: Person) -> None:
    alice.open_terminal()
    text = alice.run_in_terminal(
        'echo "project: $PROJECT_NAMESPACE"', expect="project: alice-workspace"
    )
    assert "project: alice-workspace" in text
    alice.shot("terminal-project-namespace")


def test_5_admin_stops_and_deletes_alice(browser: Any, demo: Any) -> None:  # noqa: F811
    assert demo.get("persistentvolumeclaims", "claim-alice", NAMESPACE) is not None
    volume = claim_dir(demo, "claim-alice")
    admin = Person(browser, demo.url, "admin", prefix="flow-admin")
    try:
        admin.log_in(demo.password)
        page = admin.page
        page.goto(f"{demo.url}/hub/admin")
        row = page.locator("tr", has=page.locator("[data-testid=user-name-div-alice]"))
        row.get_by_role("button", name="Stop Server").wait_for()
        admin.shot("admin-page")
        row.get_by_role("button", name="Stop Server").click()
        row.get_by_role("button", name="Start Server").wait_for(timeout=120_000)
        admin.shot("alice-stopped")
        assert demo.get("pods", "jupyter-alice", NAMESPACE) is None
        row.get_by_role("button", name="Edit User").click()
        page.get_by_role("button", name="Delete user").wait_for()
        admin.shot("edit-alice")
        page.get_by_role("button", name="Delete user").click()
        # back on the admin page, without alice
        page.locator("[data-testid=user-name-div-admin]").wait_for()
        page.locator("[data-testid=user-name-div-alice]").wait_for(state="detached")
        admin.shot("alice-deleted")
    finally:
        admin.close()
    assert hub_api(demo, "GET", "/users/alice").status_code == 404
    # her PVC is gone from the cluster, and with it her volume's data (on a real control
    # plane the PV controller deletes the volume a little later: reclaimPolicy Delete)
    assert demo.get("persistentvolumeclaims", "claim-alice", NAMESPACE) is None
    wait_until(lambda: not volume.exists(), timeout=60, what=f"{volume} to be removed")
    # and the admin command line no longer lists her
    listing = workspace_admin_list(demo)
    if listing is not None:
        assert "alice" not in json.dumps(listing), listing


def workspace_admin_list(demo: Any) -> Any:  # noqa: F811
    """`workspace-admin list --json`, as an admin runs it next to the hub."""
    try:
        import workspace_spawner.admin  # noqa: F401
    except ImportError:
        return None  # the admin command has not landed on this branch
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "workspace-admin"),
            "list",
            "--json",
            "--hub-url",
            f"{demo.url}/hub/api",
            "-f",
            str(demo.config),
        ],
        env={**demo.env, "JUPYTERHUB_API_TOKEN": demo.api_token},
        cwd=demo.data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)
