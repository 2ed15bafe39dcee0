"""What a person does in the demo, as Playwright steps: log in, start, stop, use JupyterLab.

Shared by the browser tests and ``benchmarks/demo_start.py``. Every step waits for
what a person would see (page content), never for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("WORKSPACE_SPAWNER_CHROMIUM", "/usr/bin/chromium")
# The flags Debian's Chromium needs on a machine with no network and no GPU, as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get(
        "WORKSPACE_SPAWNER_SCREENSHOTS",
        Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots",
    )
)
START_TIMEOUT_MS = 180_000
# When each line of the spawn page's event log (#progress-log, spawn_pending.html) was added,
# by the page's own clock, kept in sessionStorage: it outlives the reload into JupyterLab
# (same origin, same tab). A MutationObserver sees each line as the page's EventSource
# handler appends it, whatever Playwright is doing meanwhile.
TIMELINE_KEY = "workspace-spawner-tests:progress-log"
TIMELINE_SCRIPT = (
    "(() => { const key = "
    + json.dumps(TIMELINE_KEY)
    + ";"
    + """
if (!location.pathname.includes("/spawn-pending/")) return;
new MutationObserver((mutations) => {
  const added = [];
  for (const m of mutations) {
    for (const node of m.addedNodes) {
      if (node.classList && node.classList.contains("progress-log-event")) {
        added.push({text: node.textContent, ms: Date.now()});
      }
    }
  }
  if (added.length) {
    const seen = JSON.parse(sessionStorage.getItem(key) || "[]");
    sessionStorage.setItem(key, JSON.stringify(seen.concat(added)));
  }
}).observe(document, {childList: true, subtree: true});
})();"""
)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


OPEN: list[Person] = []


class Person:
    """One browser session of one hub user, with the spawn page's progress events."""

    def __init__(self, browser: Any, hub_url: str, name: str, *, prefix: str = "") -> None:
        self.hub_url = hub_url
        self.name = name
        self.prefix = prefix or name
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        self.progress: list[str] = []
        self.page.on("console", self._on_console)
        self.context.add_init_script(TIMELINE_SCRIPT)
        self._shots = 0
        OPEN.append(self)

    def _on_console(self, message: Any) -> None:
        # the spawn page logs every progress event it receives (spawn_pending.html)
        text = message.text
        if text.startswith("{") and "message:" in text:
            self.progress.append(text)

    def close(self) -> None:
        OPEN.remove(self)
        self.context.close()

    def shot(self, step: str) -> Path:
        """A screenshot of what the person sees now."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self._shots += 1
        path = SCREENSHOTS / f"{self.prefix}-{self._shots:02d}-{step}.png"
        self.page.screenshot(path=str(path))
        return path

    def body(self) -> str:
        return self.page.inner_text("body")

    def log_in(self, password: str) -> None:
        page = self.page
        page.goto(f"{self.hub_url}/hub/login")
        page.fill("input[name=username]", self.name)
        page.fill("input[name=password]", password)
        self.shot("login")
        page.click("[type=submit]")
        page.wait_for_url(re.compile(r".*/hub/(spawn|home|spawn-pending|admin).*|.*/user/.*"))

    def control_panel(self) -> None:
        self.page.goto(f"{self.hub_url}/hub/home")
        self.page.locator("#start").wait_for()

    def start_server(self, *, timeout_ms: int = START_TIMEOUT_MS) -> float:
        """Start My Server from the control panel, submit the spawn form, reach JupyterLab.

        Returns the seconds from the click to JupyterLab's file browser.
        """
        page = self.page
        self.control_panel()
        assert "Start My Server" in " ".join(page.inner_text("#start").split())
        self.progress.clear()
        started = time.monotonic()
        page.locator("#start").click()
        page.wait_for_url(re.compile(r".*/hub/spawn.*|.*/lab.*"))
        if "/hub/spawn/" in page.url or page.url.endswith("/hub/spawn"):
            # the conda feature's options form
            self.shot("spawn-form")
            page.get_by_role("button", name="Start").click()
        page.wait_for_url(re.compile(r".*/spawn-pending/.*|.*/lab.*"))
        if "spawn-pending" in page.url:
            self._spawn_page_shot()
        # JupyterLab's file browser (page content, whatever redirects led there)
        self.file_browser().wait_for(timeout=timeout_ms)
        assert f"/user/{self.name}/lab" in page.url, page.url
        elapsed = time.monotonic() - started
        self.dismiss_notifications()
        self.answer_kernel_dialog()
        return elapsed

    def answer_kernel_dialog(self, timeout_ms: int = 5_000) -> None:
        """JupyterLab reopens the notebooks that were open and asks for their kernel."""
        dialog = self.page.locator(".jp-Dialog", has_text="Select Kernel")
        try:
            dialog.wait_for(timeout=timeout_ms)
        except Exception:  # noqa: BLE001 - no notebook was open
            return
        self.shot("select-kernel")
        dialog.get_by_role("button", name="Select").click()
        dialog.wait_for(state="detached")

    def _spawn_page_shot(self) -> None:
        """The spawn page with its event log open, once the workspace steps showed."""
        page = self.page
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "spawn-pending" in page.url:
            if any("volume" in m for m in self.progress):
                break
            page.wait_for_timeout(100)
        for _ in range(20):
            if "spawn-pending" not in page.url:
                return  # the server was ready first: the page moved on
            try:
                page.locator("#progress-details summary").click(timeout=1_000)
                self.shot("spawn-page")
                return
            except Exception:  # noqa: BLE001 - the page navigated meanwhile: look again
                page.wait_for_timeout(100)

    def progress_timeline(self) -> list[tuple[float, str]]:
        """The spawn page's event log lines since the last call: (seconds, text), by the
        page's clock, as they appeared on the page."""
        lines = self.page.evaluate(
            """(key) => {
            const seen = JSON.parse(sessionStorage.getItem(key) || "[]");
            sessionStorage.removeItem(key);
            return seen;
        }""",
            TIMELINE_KEY,
        )
        return [(line["ms"] / 1000, line["text"]) for line in lines]

    def progress_messages(self) -> str:
        return "\n".join(self.progress)

    def stop_server(self) -> None:
        """Stop My Server from the control panel; wait until it can be started again."""
        page = self.page
        self.control_panel()
        stop = page.locator("#stop")
        if stop.is_visible():
            stop.click()
            # the control panel shows "Start My Server" again once the server stopped
            page.locator("#stop").wait_for(state="hidden", timeout=120_000)
        page.locator("#start").wait_for()
        assert "Start My Server" in " ".join(page.inner_text("#start").split())

    # -- JupyterLab -------------------------------------------------------------------

    def file_browser(self, name: str | None = None) -> Any:
        items = self.page.locator(".jp-DirListing-item")
        return items.filter(has_text=name).first if name else items.first

    def dismiss_notifications(self) -> None:
        # JupyterLab asks whether to check for news: answer, so nothing covers the page
        no = self.page.locator(".jp-Notification-Toast-Close, .jp-toast-button", has_text="No")
        try:
            no.first.click(timeout=2_000)
        except Exception:  # noqa: BLE001 - the question is not always asked
            pass

    def launcher(self) -> None:
        page = self.page
        page.keyboard.press("Escape")
        if not page.locator(".jp-Launcher").first.is_visible():
            # the "+" of the main area's tab bar opens a launcher
            page.locator("jp-button[data-command='launcher:create']").first.click()
        page.locator(".jp-Launcher").last.wait_for()

    def new_notebook(self, name: str, code: str) -> None:
        """A new notebook from the launcher with one code cell, saved as ``name``."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page = self.page
        self.launcher()
        page.locator(
            ".jp-Launcher:visible .jp-LauncherCard[data-category='Notebook']"
        ).first.click()
        panel = page.locator(".jp-NotebookPanel").last
        panel.wait_for()
        editor = panel.locator(".jp-Cell .cm-content").first
        editor.wait_for()
        editor.click()
        page.keyboard.type(code)
        page.keyboard.press("Control+s")
        # JupyterLab asks for a name on the first save
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        field = dialog.locator("input.jp-mod-styled, input").first
        field.fill(name)
        self.shot("save-notebook")
        dialog.get_by_role("button", name="Rename and Save").click()
        dialog.wait_for(state="detached")
        page.locator(".lm-TabBar-tab.jp-mod-current", has_text=name).wait_for()
        # A kernel that connects after the save (a loaded machine) writes its
        # language_info into the notebook's metadata, which makes it dirty again:
        # save again until it stays saved.
        dirty = page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
        for _ in range(6):
            try:
                dirty.wait_for(state="detached", timeout=10_000)
                break
            except PlaywrightTimeout:
                page.keyboard.press("Control+s")
        dirty.wait_for(state="detached")
        self.file_browser(name).wait_for()

    def terminal_screen_reader_mode(self) -> None:
        """Settings > Terminal > screen reader mode: the terminal's text is in the page.

        xterm.js draws on a canvas; in screen reader mode it also keeps the text in an
        accessibility tree, which is what these steps read (as a screen reader does).
        """
        status = self.page.evaluate(
            """async (user) => {
            const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
            const r = await fetch(`/user/${user}/lab/api/settings/@jupyterlab/terminal-extension:plugin`,
                {method: "PUT", headers: {"X-XSRFToken": decodeURIComponent(xsrf),
                 "Content-Type": "application/json"},
                 body: JSON.stringify({raw: '{"screenReaderMode": true}'})});
            return r.status;
        }""",
            self.name,
        )
        assert status == 204, status
        # JupyterLab applies it to terminals it opens after a reload
        self.page.reload()
        self.file_browser().wait_for()
        self.dismiss_notifications()

    def open_terminal(self) -> Any:
        page = self.page
        self.terminal_screen_reader_mode()
        self.launcher()
        page.locator(
            ".jp-Launcher:visible .jp-LauncherCard[data-category='Other']", has_text="Terminal"
        ).first.click()
        terminal = page.locator(".jp-Terminal").last
        terminal.wait_for()
        page.locator(".jp-Terminal .xterm-accessibility-tree").last.wait_for(state="attached")
        return terminal

    def run_in_terminal(self, command: str, *, expect: str, timeout_ms: int = 30_000) -> str:
        """Type a command into the open terminal; wait until ``expect`` shows; the text."""
        page = self.page
        terminal = page.locator(".jp-Terminal").last
        terminal.click()
        page.keyboard.type(command)
        page.keyboard.press("Enter")
        rows = page.locator(".jp-Terminal .xterm-accessibility-tree").last
        deadline = time.monotonic() + timeout_ms / 1000
        text = ""
        while time.monotonic() < deadline:
            text = rows.text_content() or ""
            if expect in text:
                return text
            page.wait_for_timeout(200)
        raise AssertionError(f"the terminal did not show {expect!r}; it shows:\n{text}")


# -- Fixtures of the browser tests ----------------------------------------------------


@pytest.fixture(autouse=True)
def _stop_reflectors() -> Iterator[None]:
    """No KubeSpawner runs in this process (the hub is a child process), and the
    conftest's async clean-up cannot run while Playwright's sync API holds the loop."""
    yield


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        for person in list(OPEN):
            person.shot(f"FAILED-{request.node.name}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        message = f"Debian's Chromium is not at {CHROMIUM} (make system-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with chromium() as browser:
        yield browser
