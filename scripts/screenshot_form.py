"""Render the datasource form in real JupyterLab in headless Chromium and save
docs/datasource-form.png (shown in the README).

Run by hand, not by the tests. Needs, besides the package with its demo extra:

    .venv/bin/pip install jupyterlab playwright
    apt-get install -y chromium            # or pass --chromium PATH; never `playwright install`
    .venv/bin/python scripts/screenshot_form.py

It starts JupyterLab on 127.0.0.1 with a throw-away notebook (in a temporary directory, with
session-only storage, so no keyring and no config file are touched) that loads the extension,
starts the demo provider to prefill its URLs, and shows the form; then it opens the notebook,
runs all cells and photographs the form's output.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

CELLS = [
    "%load_ext nb_oauth",
    "from nb_oauth.process_session import default_session\n"
    "from nb_oauth.demo import DemoProvider\n"
    "from nb_oauth.jupyter.widgets import DatasourceForm\n"
    "\n"
    "provider = DemoProvider().start()  # a real OAuth server on 127.0.0.1, for the URLs",
    "DatasourceForm(default_session(), prefill={\n"
    "    'name': 'demo',\n"
    "    'token_url': provider.token_url,\n"
    "    'authorization_url': provider.authorization_url,\n"
    "    'client_id': 'demo-basic',\n"
    "    'scopes': ['profile', 'items:read'],\n"
    "    'auth_params': {'prompt': 'consent'},\n"
    "})",
]


def notebook() -> dict[str, object]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "cells": [
            {"cell_type": "code", "id": f"cell{i}", "metadata": {}, "execution_count": None,
             "outputs": [], "source": source}
            for i, source in enumerate(CELLS)
        ],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_server(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"JupyterLab did not start: {url}")


def start_lab(work: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    config = work / "config"
    (config / "labconfig").mkdir(parents=True)
    # No "receive Jupyter news?" toast over the picture.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    ))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "NB_OAUTH_SESSION_ONLY": "1",
        "NB_OAUTH_HOME": str(work / "nb_oauth"),
        "BROWSER": "true",
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'notebooks'}",
        # Nothing fetched from the internet: no news, no extension catalogue.
        "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers; the server still listens on loopback only
    log = (work / "lab.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def photograph(url: str, output: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        form = page.locator(".jp-OutputArea-output .widget-vbox").first
        form.wait_for(timeout=60_000)
        page.get_by_text("Save and authorize").wait_for(timeout=30_000)
        time.sleep(1)  # fonts and icons settle
        form.screenshot(path=str(output))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "datasource-form.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nb_oauth-screenshot-") as tmp:
        work = Path(tmp)
        (work / "notebooks").mkdir()
        (work / "notebooks" / "form.ipynb").write_text(json.dumps(notebook()))
        port, token = free_port(), secrets.token_urlsafe(16)
        lab = start_lab(work, port, token)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_server(f"{base}/api/status?token={token}", time.monotonic() + 60)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            photograph(f"{base}/lab/tree/form.ipynb?token={token}", args.output, args.chromium)
        except BaseException:
            print((work / "lab.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            lab.terminate()
            lab.wait(timeout=30)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
