"""The server callback with real parts: a ``jupyter server`` under ``/user/alice/`` with the
nb_oauth extension enabled by the installed config file, a real kernel started through its REST API
and driven over its websocket, the demo provider on 127.0.0.1, and headless Chromium for the
pages a user sees (SEC-5, SEC-7, SEC-8, SEC-11, SEC-17, SEC-42, SEC-44).

The kernel runs ``nb_oauth.connect`` for a datasource whose ``redirect_uri`` is the server's
``.../nb-oauth/callback``; the browser comes back to the server, which hands the query to the
kernel through the private folder under the Jupyter runtime directory.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from nb_oauth.demo import DemoProvider
from nb_oauth.handover import FOLDER_NAME, Handover, flow_key
from tests.jupyter_processes import (
    JupyterServer,
    Kernel,
    clean_env,
    jupyter_server,
)

pytestmark = pytest.mark.timeout(300)

BASE_URL = "/user/alice/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    tmp = tmp_path_factory.mktemp("server-callback")
    with jupyter_server(tmp, base_url=BASE_URL, token=secrets.token_hex(16)) as running:
        yield running


@pytest.fixture(scope="module")
def provider(server: JupyterServer) -> Iterator[DemoProvider]:
    with DemoProvider(redirect_uris=(server.callback_url,)) as running:
        yield running


@pytest.fixture(scope="module")
def kernel(server: JupyterServer, provider: DemoProvider) -> Iterator[Kernel]:
    running = Kernel(server.url, {"Authorization": f"token {server.token}"})
    try:
        running.run(
            "import nb_oauth\n"
            "nb_oauth.save(nb_oauth.Datasource("
            f"name='demo', token_url={provider.token_url!r}, "
            f"authorization_url={provider.authorization_url!r}, client_id='demo-public', "
            f"client_auth='none', scopes='profile', base_url={provider.api_url!r}, "
            f"redirect_uri={server.callback_url!r}))\n"
            "print('saved')"
        ).result()
        yield running
    finally:
        running.close()


def _authed(server: JupyterServer) -> httpx.Client:
    """The server's owner (its token), as a browser logged in to the server."""
    return httpx.Client(headers={"Authorization": f"token {server.token}"}, timeout=60)


def _approve(link: str, decision: str = "approve") -> str:
    """Press a button on the demo's consent page without following the redirect; returns the
    address the provider sends the browser to (the server's callback with code and state)."""
    with httpx.Client(timeout=30) as tab:
        assert tab.get(link).status_code == 200
        answer = tab.post(link, data={"decision": decision})
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


def _folder(server: JupyterServer) -> Path:
    return server.runtime_dir / FOLDER_NAME


def _kinds(server: JupyterServer, key: str | None = None) -> list[str]:
    """The hand-over files of one sign-in (``key``), or of all."""
    return sorted(
        kind for stem, _, kind in (p.name.partition(".") for p in _folder(server).iterdir())
        if key is None or stem == key
    )


def _message(response: httpx.Response) -> str:
    found = re.search(r"<p id='message'>(.*?)</p>", response.text)
    assert found, response.text
    return found.group(1)


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qsl(parts.query)}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return parts._replace(query=urlencode(query)).geturl()


def test_installing_nb_oauth_enables_the_server_extension(tmp_path: Path) -> None:
    # The config file the package installs into <prefix>/etc/jupyter/jupyter_server_config.d.
    shipped = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/nb_oauth.json"
    assert shipped.exists()
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(r"nb_oauth\s+enabled", output), output
    assert re.search(r"nb_oauth [0-9.]+ OK", output), output


def test_a_kernel_signs_in_through_the_server_callback_in_chromium(
    server: JupyterServer, provider: DemoProvider, kernel: Kernel, chromium: Any
) -> None:
    provider.reset_counters()
    cell = kernel.run(
        "result = nb_oauth.connect('demo', timeout=120)\n"
        "print(result)\n"
        "with nb_oauth.client('demo') as api:\n"
        "    print(api.get('/api/me').json()['name'])\n"
    )
    link = cell.wait_for_link("Open the sign-in page")
    (pending,) = _folder(server).glob("*.pending")
    # SEC-44 / the rule: a folder only the user can enter, files only the user can read.
    assert stat.S_IMODE(_folder(server).stat().st_mode) == 0o700
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600

    context = chromium.new_context()
    try:
        login = context.new_page()
        # Logged in to the server, as the user whose notebook this is.
        login.goto(f"{server.url}tree?token={server.token}")
        # The notebook's link: a new tab, no opener, no referrer (display.py's sign_in_html).
        login.set_content(
            f'<a id="signin" href="{link}" target="_blank" rel="noopener noreferrer">Open</a>'
        )
        with context.expect_page() as opened:
            login.click("#signin")
        tab = opened.value
        tab.wait_for_selector("#approve")
        landed: list[Any] = []
        tab.on("response", lambda r: landed.append(r) if "/nb-oauth/callback?" in r.url else None)
        # The page closes itself (its one script, allowed by the CSP's hash): Chromium lets a page
        # close a tab that a link opened.
        with tab.expect_event("close", timeout=60_000):
            tab.click("#approve")
        output = cell.result(timeout=120)
        (response,) = landed
        assert response.status == 200
        headers = response.headers
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "no-referrer"
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
        url = response.url
        query = dict(parse_qsl(urlsplit(url).query))
    finally:
        context.close()

    assert "Connected demo:" in output
    assert "signed in via the Jupyter server's callback" in output
    assert "Demo User" in output
    assert provider.counters.get("token:authorization_code", 0) == 1
    # The hand-over left nothing that could sign anyone in: no code, no token (SEC-42, SEC-44).
    _assert_no_secret_left(server, provider, query["code"])
    assert _kinds(server, flow_key(query["state"])) == ["done"]


def _assert_no_secret_left(server: JupyterServer, provider: DemoProvider, code: str) -> None:
    secrets_seen = [code]
    with provider._store.lock:
        for token in provider._store.tokens:
            secrets_seen += [token.access_token, token.refresh_token or code]
    for path in server.runtime_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not [s for s in secrets_seen if s.encode() in content], path
            if path.parent == _folder(server):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert code not in server.log.read_text()


def test_refused_callbacks_say_why_in_one_line_and_deliver_nothing(
    server: JupyterServer, provider: DemoProvider, kernel: Kernel
) -> None:
    provider.reset_counters()
    cell = kernel.run(
        "try:\n"
        "    print(nb_oauth.connect('demo', timeout=120))\n"
        "except nb_oauth.NbOAuthError as exc:\n"
        "    print('FAILED', type(exc).__name__, exc)\n"
    )
    redirect = _approve(cell.wait_for_link("Open the sign-in page"))
    assert redirect.startswith(server.callback_url + "?")
    state = dict(parse_qsl(urlsplit(redirect).query))["state"]
    key = flow_key(state)

    # Not logged in to the server: the login page, and the sign-in still waits untouched.
    with httpx.Client(timeout=60) as stranger:
        refused = stranger.get(redirect)
    assert refused.status_code in (302, 403)
    if refused.status_code == 302:
        assert "/login" in refused.headers["location"]
    assert _kinds(server, key) == ["pending"]

    with _authed(server) as browser:
        for url, status, line in [
            (_with_query(redirect, state="forged" + state[6:]), 400,
             "This response does not belong to the sign-in your notebook is waiting for, so it "
             "was ignored: finish the sign-in in the tab the notebook opened."),
            (_with_query(redirect, state=None), 400,
             "This address only takes sign-in responses, and this one carries no single state: "
             "start the sign-in from your notebook."),
            (_with_query(redirect, code=None, error="access_denied", state="forged"), 400,
             "This response does not belong to the sign-in your notebook is waiting for, so it "
             "was ignored: finish the sign-in in the tab the notebook opened."),
        ]:
            answer = browser.get(url)
            assert (answer.status_code, _message(answer)) == (status, line)
            assert answer.headers["cache-control"] == "no-store"
            assert _kinds(server, key) == ["pending"], url
        assert provider.counters.get("token:authorization_code", 0) == 0

        signed_in = browser.get(redirect)
        assert signed_in.status_code == 200, signed_in.text
        assert _message(signed_in) == (
            "Signed in to demo: go back to your notebook. You can close this tab."
        )
        # SEC-7: a static page that echoes neither code nor state, no-store, no referrer.
        assert signed_in.headers["cache-control"] == "no-store"
        assert signed_in.headers["referrer-policy"] == "no-referrer"
        assert signed_in.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in signed_in.headers["content-security-policy"]
        sent = dict(parse_qsl(urlsplit(redirect).query))
        assert sent["code"] not in signed_in.text and sent["state"] not in signed_in.text
        assert "<script>window.close();</script>" in signed_in.text
        assert "signed in via the Jupyter server's callback" in cell.result()

        # SEC-8: a replay (reload, back button) is told so and redeems nothing.
        replay = browser.get(redirect)
        assert (replay.status_code, _message(replay)) == (
            410,
            "This sign-in was already received, and nothing was done again: go back to your "
            "notebook.",
        )
        assert provider.counters.get("token:authorization_code", 0) == 1

        # Nobody waits now: a made-up response says so.
        for path in _folder(server).iterdir():
            path.unlink()
        nobody = browser.get(_with_query(redirect, state=secrets.token_urlsafe(32)))
        assert (nobody.status_code, _message(nobody)) == (
            404,
            "No sign-in is waiting on this Jupyter server: start one from your notebook "
            "(nb_oauth.connect or %datasource connect) and follow the link it shows.",
        )
    _assert_no_secret_left(server, provider, dict(parse_qsl(urlsplit(redirect).query))["code"])


def test_access_denied_reaches_the_kernel_and_the_page_says_so(
    server: JupyterServer, provider: DemoProvider, kernel: Kernel
) -> None:
    cell = kernel.run(
        "try:\n"
        "    nb_oauth.connect('demo', timeout=120)\n"
        "except nb_oauth.AuthorizationDenied as exc:\n"
        "    print('DENIED', exc)\n"
    )
    redirect = _approve(cell.wait_for_link("Open the sign-in page"), decision="deny")
    assert "error=access_denied" in redirect
    with _authed(server) as browser:
        answer = browser.get(redirect)
        output = cell.result()
        assert answer.status_code == 400
        line = _message(answer)
        assert "\n" not in line and "access_denied" in line, line
        assert "DENIED" in output
        again = browser.get(redirect)
        assert again.status_code == 410


def test_an_expired_sign_in_is_refused(
    server: JupyterServer, provider: DemoProvider, kernel: Kernel
) -> None:
    # The kernel's own deadline passes (a short timeout), then the browser comes back.
    cell = kernel.run(
        "try:\n"
        "    nb_oauth.connect('demo', timeout=2)\n"
        "except nb_oauth.CallbackTimeout as exc:\n"
        "    print('TIMEOUT', exc)\n"
    )
    redirect = _approve(cell.wait_for_link("Open the sign-in page"))
    output = cell.result()
    assert "TIMEOUT No authorization response reached the Jupyter server's callback" in output
    expired_line = (
        "This sign-in ended before the browser came back (it timed out): start it again from "
        "your notebook."
    )
    with _authed(server) as browser:
        answer = browser.get(redirect)
        assert (answer.status_code, _message(answer)) == (410, expired_line)

        # A kernel that died mid-sign-in leaves its pending file; past its expiry it is refused.
        state = secrets.token_urlsafe(32)
        handover = Handover(_folder(server))
        handover.register(state, "demo", expires_at=1.0)
        stale = browser.get(_with_query(redirect, state=state))
        assert (stale.status_code, _message(stale)) == (410, expired_line)
        assert not (_folder(server) / f"{flow_key(state)}.pending").exists()


def test_a_group_readable_folder_is_refused(server: JupyterServer) -> None:
    folder = _folder(server)
    folder.chmod(0o750)
    try:
        with _authed(server) as browser:
            answer = browser.get(server.callback_url + "?state=x&code=y")
        assert answer.status_code == 500
        assert "is open to others (mode 750)" in _message(answer)
    finally:
        folder.chmod(0o700)
    assert os.stat(folder).st_mode & 0o077 == 0
