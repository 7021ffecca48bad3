"""The server callback on a real JupyterHub: DummyAuthenticator, SimpleLocalProcessSpawner (each
user's server a local process with its own home), configurable-http-proxy from npm
(``scripts/test`` installs it into ``.ci/node``), everything on 127.0.0.1 in a temporary folder.

Alice logs in with Chromium, her server starts, a kernel there connects a datasource whose
``redirect_uri`` is the Hub's ``/hub/user-redirect/nb-oauth/callback``; the browser cannot reach
any loopback catcher (its requests to one are aborted, and the kernel refuses to open one), so the
sign-in can only come back through the Hub and Alice's server. While it waits, a visitor who is
not logged in, Bob (another Hub user, with his own server), and a wrong ``state`` each get a
refusal, and nothing reaches Alice's kernel; then Alice's own redirect signs her in, the kernel's
API call succeeds, and a replay is refused (SEC-5, SEC-8, SEC-11, SEC-17).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from nb_oauth.demo import DemoProvider
from nb_oauth.handover import FOLDER_NAME, flow_key
from tests.jupyter_processes import Kernel, free_port, stop, user_env, wait_until

ROOT = Path(__file__).resolve().parent.parent
#: Where scripts/test installs the proxy (npm), else the PATH.
PROXY = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"

pytestmark = [pytest.mark.jupyterhub, pytest.mark.timeout(600)]


@dataclass
class Hub:
    url: str  # http://127.0.0.1:PORT/
    service_token: str
    homes: Path
    log: Path

    @property
    def redirect_uri(self) -> str:
        return self.url + "hub/user-redirect/nb-oauth/callback"

    def folder(self, user: str) -> Path:
        """The user's hand-over folder (their server's runtime directory, under their home)."""
        return self.homes / user / ".local/share/jupyter/runtime" / FOLDER_NAME


def _proxy_command() -> str:
    if PROXY.exists():
        return str(PROXY)
    found = shutil.which("configurable-http-proxy")
    if found is None:
        pytest.fail(
            "configurable-http-proxy is missing: scripts/test installs it with npm into "
            ".ci/node (npm install --prefix .ci/node configurable-http-proxy@5)"
        )
    return found


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("jupyterhub")
    port, hub_port, proxy_api = free_port(), free_port(), free_port()
    token = secrets.token_hex(32)
    homes = tmp / "home"
    homes.mkdir()
    url = f"http://127.0.0.1:{port}/"
    single_user_args = ["--allow-root"] if os.geteuid() == 0 else []
    config = tmp / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa\n"
        f"c.JupyterHub.ip = '127.0.0.1'\n"
        f"c.JupyterHub.port = {port}\n"
        f"c.JupyterHub.public_url = {url!r}\n"
        f"c.JupyterHub.hub_ip = '127.0.0.1'\n"
        f"c.JupyterHub.hub_port = {hub_port}\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_api}'\n"
        f"c.ConfigurableHTTPProxy.command = [{_proxy_command()!r}]\n"
        f"c.ConfigurableHTTPProxy.pid_file = {str(tmp / 'proxy.pid')!r}\n"
        f"c.JupyterHub.db_url = 'sqlite:///{tmp / 'jupyterhub.sqlite'}'\n"
        f"c.JupyterHub.cookie_secret_file = {str(tmp / 'cookie_secret')!r}\n"
        f"c.JupyterHub.pid_file = {str(tmp / 'hub.pid')!r}\n"
        "c.JupyterHub.authenticator_class = 'dummy'\n"
        "c.Authenticator.allow_all = True\n"
        "c.JupyterHub.spawner_class = 'simple'\n"
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(homes / '{username}')!r}\n"
        f"c.Spawner.cmd = [{sys.executable!r}, '-m', 'jupyterhub.singleuser']\n"
        f"c.Spawner.args = {single_user_args!r}\n"
        # Where a user lands after the spawn: the callback itself (a light page, no sign-in).
        "c.Spawner.default_url = '/nb-oauth/callback'\n"
        "c.Spawner.start_timeout = 180\n"
        "c.Spawner.http_timeout = 180\n"
        "c.Spawner.environment = {\n"
        "    'NB_OAUTH_SESSION_ONLY': '1',\n"
        "    'PYTHON_KEYRING_BACKEND': 'keyring.backends.fail.Keyring',\n"
        "}\n"
        f"c.JupyterHub.services = [{{'name': 'tester', 'api_token': {token!r}}}]\n"
        "c.JupyterHub.load_roles = [{'name': 'tester', 'services': ['tester'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'access:servers']}]\n"
    )
    env = user_env()
    env["HOME"] = str(tmp)
    log = tmp / "jupyterhub.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: httpx.get(url + "hub/api/").status_code == 200,
            "JupyterHub started", process, log,
        )
        yield Hub(url, token, homes, log)
    finally:
        stop(process)
        # The spawned servers are the Hub's children; it stops them, and the proxy, on exit.


@pytest.fixture(scope="module")
def provider(hub: Hub) -> Iterator[DemoProvider]:
    with DemoProvider(redirect_uris=(hub.redirect_uri,)) as running:
        yield running


def _log_in(context: Any, hub: Hub, user: str) -> Any:
    """Log ``user`` in through the Hub's form; their server starts and the browser lands on it."""
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(hub.url + "hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", "any password")
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{user}/nb-oauth/callback"), timeout=240_000)
    # Their server runs, with the extension loaded and behind the Hub's login.
    assert _line(page).startswith("This address only takes sign-in responses")
    return page


def _with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["state"] = state
    return parts._replace(query=urlencode(query)).geturl()


def _line(page: Any) -> str:
    return str(page.inner_text("#message"))


def test_a_hub_user_signs_in_through_the_hub_and_only_she_can(
    hub: Hub, provider: DemoProvider, chromium: Any
) -> None:
    started = time.monotonic()
    alice_browser = chromium.new_context()
    bob_browser = chromium.new_context()
    # The browser cannot reach the kernel's loopback address: any request to a loopback catcher
    # is aborted (the kernel below also refuses to open one).
    for context in (alice_browser, bob_browser):
        context.route(re.compile(r"^http://(127\.0\.0\.1|\[::1\]):\d+/callback"),
                      lambda route: route.abort())
    kernel: Kernel | None = None
    try:
        _log_in(alice_browser, hub, "alice")
        bob_page = _log_in(bob_browser, hub, "bob")

        kernel = Kernel(hub.url + "user/alice/", {"Authorization": f"token {hub.service_token}"})
        setup = kernel.run(
            "import nb_oauth, nb_oauth.consent.catcher as catcher\n"
            "from nb_oauth.consent.server_callback import redirect_advice\n"
            "def no_catcher(self):\n"
            "    raise AssertionError('a loopback catcher was opened')\n"
            "catcher.LoopbackCatcher.__enter__ = no_catcher\n"
            "fields = dict("
            f"name='demo', token_url={provider.token_url!r}, "
            f"authorization_url={provider.authorization_url!r}, client_id='demo-public', "
            f"client_auth='none', scopes='profile', base_url={provider.api_url!r})\n"
            "print('SUGGESTED', redirect_advice(nb_oauth.Datasource(**fields)).suggested)\n"
            f"nb_oauth.save(nb_oauth.Datasource(**fields, redirect_uri={hub.redirect_uri!r}))\n"
        ).result()
        # What `%datasource show` suggests on this Hub is the URI the provider has registered.
        assert f"SUGGESTED {hub.redirect_uri}" in setup

        provider.reset_counters()
        cell = kernel.run(
            "result = nb_oauth.connect('demo', timeout=300)\n"
            "print(result)\n"
            "with nb_oauth.client('demo') as api:\n"
            "    print('API says', api.get('/api/me').json()['name'])\n"
        )
        link = cell.wait_for_link("Open the sign-in page", timeout=120)

        # Alice approves in her browser; the provider's redirect is held for a moment, so that
        # others can try it first.
        tab = alice_browser.new_page()
        tab.set_default_timeout(120_000)
        held: list[str] = []

        def hold(route: Any) -> None:
            if route.request.method != "POST":
                route.continue_()
                return
            answer = route.fetch(max_redirects=0)
            held.append(answer.headers["location"])
            route.fulfill(status=200, content_type="text/plain", body="held by the test")

        tab.route(re.compile(r"/authorize"), hold)
        tab.goto(link)
        tab.click("#approve")
        tab.wait_for_load_state()
        (redirect,) = held
        assert redirect.startswith(hub.redirect_uri + "?")
        key = flow_key(dict(parse_qsl(urlsplit(redirect).query))["state"])
        pending = hub.folder("alice") / f"{key}.pending"
        assert pending.exists()

        def nothing_delivered() -> None:
            assert pending.exists()
            assert not (hub.folder("alice") / f"{key}.response").exists()
            assert provider.counters.get("token:authorization_code", 0) == 0

        # Not logged in: the Hub sends the visitor to its login page.
        with httpx.Client(timeout=60) as stranger:
            for url in (redirect, hub.url + "user/alice/nb-oauth/callback?" +
                        urlsplit(redirect).query):
                answer = stranger.get(url)
                assert answer.status_code in (302, 403), url
                if answer.status_code == 302:
                    assert "/hub/" in answer.headers["location"] and (
                        "login" in answer.headers["location"]
                        or "oauth2/authorize" in answer.headers["location"]
                    )
        nothing_delivered()

        # Bob, logged in to the same Hub: the user-redirect takes him to his own server, which
        # has no sign-in waiting; Alice's server itself does not let him in.
        bob_page.goto(redirect)
        assert re.search(r"/user/bob/nb-oauth/callback", bob_page.url)
        assert _line(bob_page).startswith("No sign-in is waiting on this Jupyter server")
        denied = bob_page.goto(hub.url + "user/alice/nb-oauth/callback?" +
                               urlsplit(redirect).query)
        assert denied is not None and denied.status == 403
        nothing_delivered()

        # Alice with a forged state: refused, the sign-in keeps waiting.
        tab.goto(_with_state(redirect, secrets.token_urlsafe(32)))
        assert _line(tab).startswith(
            "This response does not belong to the sign-in your notebook is waiting for"
        )
        nothing_delivered()

        # Alice's own redirect: through the Hub to her server, into her kernel.
        landed = tab.goto(redirect)
        assert landed is not None and landed.status == 200
        # This tab has a history (the consent page, the refusals), so Chromium does not let the
        # page close it: it shows its line.
        assert _line(tab) == "Signed in to demo: go back to your notebook. You can close this tab."
        output = cell.result(timeout=180)
        assert "Connected demo:" in output
        assert "signed in via the Jupyter server's callback" in output
        assert "API says Demo User" in output
        assert provider.counters["token:authorization_code"] == 1

        # A replay: refused, and no second redemption.
        again = alice_browser.new_page()
        again.goto(redirect)
        assert _line(again).startswith("This sign-in was already received")
        assert provider.counters["token:authorization_code"] == 1
        code = dict(parse_qsl(urlsplit(redirect).query))["code"]
        for path in hub.folder("alice").iterdir():
            assert code.encode() not in path.read_bytes()
        # The Hub logs its own redirects' `next` parameter whole, code included (a single-use
        # code, useless without the verifier that never left the kernel); nothing else may.
        # docs/security.md#the-server-callback says so.
        outside_next = re.sub(r"next=\S+", "next=...", hub.log.read_text())
        assert code not in outside_next
    finally:
        if kernel is not None:
            kernel.close()
        alice_browser.close()
        bob_browser.close()
    print(f"JupyterHub sign-in test body: {time.monotonic() - started:.1f} s")
