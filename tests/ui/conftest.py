"""Browser tests: a real ``jupyter lab`` process (token, non-root ``base_url``) and Debian's Chromium
driven by Playwright (``executable_path=/usr/bin/chromium``; no browser is ever downloaded).

Screenshots go to ``tests/ui/artifacts/`` (git-ignored), one or more per test, for a person to look at.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
BASE_URL = "/dl-ui/"  # non-root: every URL the front ends build must carry it
ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Lab:
    """A running JupyterLab: its URL (with base_url), token, served folder and runs root."""

    url: str
    token: str
    root: Path
    runs: Path
    proc: subprocess.Popen[bytes]

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the dltoolkit REST API directly (set-up and checks beside what the browser shows)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}dltoolkit/api/{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make install` installs Debian's chromium (apt-get install chromium)"
        )
    root = tmp_path_factory.mktemp("lab")
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "DLTOOLKIT_RUNS": str(root / "dltoolkit-runs"), "JUPYTER_NO_CONFIG": ""}
    # own settings and workspaces: no layout restored from another JupyterLab, no news prompt
    settings = tmp_path_factory.mktemp("lab-settings")
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    log = (root / "lab.log").open("wb")
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", f"--ServerApp.token={token}", f"--ServerApp.base_url={BASE_URL}",
        f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('ws')}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}{BASE_URL}", token, root, root / "dltoolkit-runs", proc)
    deadline = time.monotonic() + 90
    while True:
        try:
            lab.api("catalog")
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("jupyter lab did not start:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.3)
    yield lab
    for run in lab.api("runs")["runs"]:  # leave no trainer behind
        if run["state"] in ("queued", "running"):
            with contextlib.suppress(urllib.error.URLError):
                lab.api(f"runs/{run['run_id']}/stop", "POST")
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so that ``page`` knows at teardown whether it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page (own context) with JupyterLab open; console errors are collected in
    ``page.dltoolkit_errors``; a screenshot is saved when the test ends, passed or failed."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.dltoolkit_errors = errors
    page.set_default_timeout(60_000)
    # a workspace of its own, reset: nothing restored from an earlier test's layout
    workspace = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    page.goto(f"{lab.url}lab/workspaces/{workspace}?reset&token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"))
    context.close()
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        save_diagnostics(lab, request.node.name, errors)


def save_diagnostics(lab: Lab, test: str, console_errors: list[str]) -> None:
    """After a failure: the server's log, every run's status and log tail, and the browser console, into
    ``artifacts/<test>-diagnostics.txt`` and onto stdout (which CI keeps when a test fails)."""
    parts = [f"== console errors\n{chr(10).join(console_errors) or '(none)'}"]
    for status in sorted(lab.runs.glob("*/status.json")):
        log = status.parent / "process.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        parts.append(f"== run {status.parent.name}: {status.read_text()}\n{tail}")
    server_log = lab.root / "lab.log"
    parts.append("== jupyter lab log (tail)\n" + server_log.read_text(errors="replace")[-4000:])
    text = "\n\n".join(parts)
    (ARTIFACTS / f"{test}-diagnostics.txt").write_text(text)
    print(text)


def shot(page: Any, name: str) -> Path:
    """Save a screenshot ``tests/ui/artifacts/<name>.png`` (and return its path)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def copy_notebook(lab: Lab, source: Path, name: str) -> str:
    """Put a notebook into the served folder; its path relative to the root."""
    shutil.copy(source, lab.root / name)
    return name
