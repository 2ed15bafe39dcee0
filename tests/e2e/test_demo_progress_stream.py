"""The spawn page streams the workspace steps while the server starts (issue 16).

The hub's progress events (/hub/api/users/{name}/server/progress) are a server-sent event
stream through configurable-http-proxy; a proxy that buffers responses delivers them all at
once, with "Server ready", and the page then shows nothing of the start until it is over. On the
demo with the Node.js configurable-http-proxy a workspace step must be on the page while the
start is in progress, at least a second before "Server ready" (the single-user server's own
start takes longer than that). A screenshot of the page mid-start is kept in test-artifacts/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from demo_browser import Person, _screenshot_on_failure, _stop_reflectors, browser  # noqa: F401 (the browser fixtures)
from demo_stack import demo, on_cluster  # noqa: F401 (the module's fixture)

pytestmark = [pytest.mark.slow, on_cluster]

# messages of the workspace features on a first start, in the order they come
WORKSPACE_STEPS = (
    "Creating project carol-workspace",
    "Creating workspace volume claim-carol",
    "Copying the image's files into the new volume",
)
READY = "Server ready"


def test_spawn_page_shows_workspace_steps_before_the_server_is_ready(
    browser: Any,  # noqa: F811
    demo: Any,  # noqa: F811
) -> None:
    carol = Person(browser, demo.url, "carol", prefix="progress-stream")
    try:
        carol.log_in(demo.password)
        page = carol.page
        carol.control_panel()
        carol.progress_timeline()  # nothing from the log-in
        page.locator("#start").click()
        page.wait_for_url(re.compile(r".*/hub/spawn.*"))
        if "/spawn-pending/" not in page.url:
            page.get_by_role("button", name="Start").click()  # the conda options form
        page.wait_for_url(re.compile(r".*/hub/spawn-pending/carol.*"))
        page.locator("#progress-details summary").click()
        # a workspace step is on the page while the page still waits for the server
        log = page.locator("#progress-log")
        log.locator(".progress-log-event", has_text=WORKSPACE_STEPS[1]).wait_for(timeout=90_000)
        mid_start = log.inner_text()
        shot = carol.shot("mid-start")
        assert "/spawn-pending/" in page.url, page.url
        assert READY not in mid_start, mid_start

        carol.file_browser().wait_for(timeout=180_000)
        assert "/user/carol/lab" in page.url, page.url
        timeline = carol.progress_timeline()
        texts = "\n".join(f"{t:.3f} {text}" for t, text in timeline)
        for step in WORKSPACE_STEPS:
            assert any(step in text for _, text in timeline), texts
        first_step = min(t for t, text in timeline if any(s in text for s in WORKSPACE_STEPS))
        ready = min(t for t, text in timeline if text.startswith(READY))
        # a buffering proxy puts every line on the page within a few milliseconds
        assert ready - first_step >= 1.0, texts
        print(
            f"first workspace step {ready - first_step:.1f}s before {READY!r}; "
            f"mid-start screenshot: {shot}"
        )
    finally:
        carol.close()
