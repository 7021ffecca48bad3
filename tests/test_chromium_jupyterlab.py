"""The quickstart as a new user runs it: a real JupyterLab on 127.0.0.1, the notebook opened and
run through the UI in headless Chromium, the consent approved in the tab the notebook's link
opens (the kernel has no browser of its own here, as on most servers).

Asserts what the user sees: the form, "Connected", the JSON view of /api/me, the status view, and
no "Traceback" anywhere, on the page or in the saved notebook.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jupyter_processes import free_port, user_env

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "notebooks" / "quickstart.ipynb"

#: Lab settings for the test: every cell rendered (no virtual scrolling, so the page holds every
#: output), and no calls to the outside world for news or updates.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on 127.0.0.1 serving a copy of the quickstart; yields (URL, root)."""
    root = tmp_path / "work"
    root.mkdir()
    shutil.copy(QUICKSTART, root / QUICKSTART.name)
    settings = tmp_path / "lab-settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token = secrets.token_hex(16)
    port = free_port()
    env = user_env()
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
            "NB_OAUTH_HOME": str(tmp_path / "nb_oauth_home"),
            # As on a headless server: no keyring; the quickstart keeps everything in memory.
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
    )
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "jupyterlab.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/api/status", params={"token": token}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
            time.sleep(0.2)
        yield f"{base}/lab/tree/{QUICKSTART.name}?token={token}", root
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_quickstart_runs_top_to_bottom_in_jupyterlab_with_chromium(
    jupyterlab: tuple[str, Path], chromium: Any
) -> None:
    url, root = jupyterlab
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        # The kernel is started and connected: before that, "Run All" runs nothing.
        page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle$")).wait_for()

        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        # The kernel can open no browser here, so the user clicks the link in the output.
        link = page.get_by_role("link", name="Open the sign-in page")
        try:
            link.wait_for()
        except Exception:
            page.screenshot(path=str(root / "failed.png"), full_page=True)
            raise AssertionError(
                "no sign-in link; the page shows:\n" + page.inner_text(".jp-Notebook")[-3000:]
            ) from None
        with context.expect_page() as opened:
            link.click()
        consent = opened.value
        consent.wait_for_selector("#approve")
        consent.click("#approve")
        consent.wait_for_load_state()
        assert consent.title() == "Signed in"

        last = page.get_by_text("Disconnected demo")
        last.wait_for(timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")

        text = page.inner_text(".jp-Notebook")
        assert "Connected demo" in text
        assert "renewed with the refresh token: True" in text
        assert page.locator(".jp-RenderedJSON").count() >= 2  # /api/me, twice
        assert "Demo User" in page.inner_text(".jp-RenderedJSON >> nth=0")
        # The form (%datasource edit) and the status view (%datasource show) rendered as widgets.
        assert page.get_by_role("button", name="Save and authorize").count() == 1
        assert page.get_by_role("button", name="Reconnect").count() == 1
        assert "Traceback" not in text
        stderr = "[data-mime-type='application/vnd.jupyter.stderr']"
        assert page.locator(f".jp-OutputArea-output{stderr}").count() == 0

        page.keyboard.press("Control+s")
        saved = root / QUICKSTART.name
        deadline = time.monotonic() + 30
        while "Connected demo" not in saved.read_text():
            assert time.monotonic() < deadline, "the notebook was not saved"
            time.sleep(0.2)
    finally:
        context.close()

    notebook = json.loads(saved.read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert "Traceback" not in saved.read_text()
