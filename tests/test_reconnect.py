"""Reconnect where the error is (SPEC section 11, issue 16 item 6): a cell whose call needs a new
sign-in shows one line and a Reconnect button that signs in without blocking the kernel, then
says to run the cell again. Against the demo provider, with its refresh token really revoked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError

from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ReauthRequired
from nb_oauth.jupyter.magics import NbOAuthMagics, load, unload
from nb_oauth.jupyter.widgets.reconnect import ReconnectButton
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock
from tests.test_magics import SECRET, add_line


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the Reconnect code displays (IPython's display needs a front end)."""
    displayed: list[Any] = []
    monkeypatch.setattr("nb_oauth.jupyter.reconnect.display", displayed.append)
    return displayed


@pytest.fixture
def kernel_shell(ip: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # A Jupyter kernel's shell has `kernel`; widgets can only be clicked there.
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    return ip


@pytest.fixture
def magics(kernel_shell: Any, clock: FakeClock) -> Iterator[NbOAuthMagics]:
    registered = load(kernel_shell, session=Session(now=clock))
    yield registered
    unload(kernel_shell)


@pytest.fixture
def provider(make_provider: Any) -> DemoProvider:
    return make_provider(token_lifetime=600)


@pytest.fixture
def revoked(
    kernel_shell: Any, magics: NbOAuthMagics, provider: DemoProvider, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch, browser: BrowserRobot,
) -> BrowserRobot:
    """`demo` connected, then its refresh token revoked at the provider and its access token
    expired: the next call needs a new sign-in."""
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: browser(url))
    kernel_shell.run_line_magic("datasource", add_line(provider))
    kernel_shell.run_line_magic("datasource", "connect demo")
    tokens = magics.context.session.store.load_tokens("demo")
    assert tokens is not None and tokens.refresh_token is not None
    httpx.post(provider.revocation_url, data={"token": tokens.refresh_token.reveal()},
               auth=("demo-basic", SECRET))
    clock.advance(601)
    return browser


def click_and_wait(button: ReconnectButton) -> None:
    button.button.click()
    button.status.join(30)


def test_api_cell_shows_the_line_and_a_button_that_reconnects(
    kernel_shell: Any, revoked: BrowserRobot, shown: list[Any], provider: DemoProvider
) -> None:
    with pytest.raises(UsageError, match="Reconnect needed.*%datasource connect demo"):
        kernel_shell.run_cell_magic("api", "demo", "GET /api/me")
    [button] = shown
    assert isinstance(button, ReconnectButton)
    assert button.button.description == "Reconnect demo"

    click_and_wait(button)

    assert button.status.consent == "connected"
    said = "".join(o.get("text", "") for o in button.status.out.outputs)
    assert "Run the cell again: demo is connected." in said
    assert button.button.layout.display == "none"
    # The cell works when run again.
    assert kernel_shell.run_cell_magic("api", "demo", "GET /api/me")["sub"] == "demo-user"


def test_a_python_cell_shows_one_line_and_the_button_not_a_traceback(
    kernel_shell: Any, magics: NbOAuthMagics, revoked: BrowserRobot, shown: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    kernel_shell.user_ns["session"] = magics.context.session
    # The testing shell re-raises a cell's error: the cell failed, so Run All stops here.
    with pytest.raises(ReauthRequired):
        kernel_shell.run_cell("with session.client('demo') as c:\n    c.get('/api/me')\n")
    err = capsys.readouterr().err
    assert err.startswith("ReauthRequired: Token request failed (HTTP 400): invalid_grant")
    assert "Traceback" not in err and "httpx" not in err
    assert len(err.strip().splitlines()) == 1
    [button] = shown
    click_and_wait(button)
    assert button.status.consent == "connected"


def test_never_connected_offers_the_button_too(
    kernel_shell: Any, magics: NbOAuthMagics, provider: DemoProvider, shown: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    kernel_shell.run_line_magic("datasource", add_line(provider))
    with pytest.raises(UsageError, match="'demo' is not connected"):
        kernel_shell.run_cell_magic("api", "demo", "GET /api/me")
    assert [type(b) for b in shown] == [ReconnectButton]


def test_no_button_when_nobody_can_click_it(
    kernel_shell: Any, revoked: BrowserRobot, shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NB_OAUTH_NONINTERACTIVE", "1")
    with pytest.raises(UsageError, match="Reconnect needed"):
        kernel_shell.run_cell_magic("api", "demo", "GET /api/me")
    assert shown == []


def test_a_terminal_ipython_gets_the_line_only(
    ip: Any, clock: FakeClock, provider: DemoProvider, shown: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load(ip, session=Session(now=clock))
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    ip.run_line_magic("datasource", add_line(provider))
    with pytest.raises(UsageError, match="not connected"):
        ip.run_cell_magic("api", "demo", "GET /api/me")
    assert shown == []
    unload(ip)


def test_the_users_own_exception_handler_is_kept(ip: Any, clock: FakeClock) -> None:
    def mine(shell: Any, etype: Any, value: Any, tb: Any, tb_offset: Any = None) -> list[str]:
        return []

    ip.set_custom_exc((ValueError,), mine)
    load(ip, session=Session(now=clock))
    ip.run_cell("import nb_oauth.errors")  # the handler would be installed before the next cell
    ip.run_cell("1")
    assert ip.custom_exceptions == (ValueError,)
    unload(ip)
    assert ip.custom_exceptions == (ValueError,)


def test_unload_removes_the_handler(ip: Any, clock: FakeClock) -> None:
    load(ip, session=Session(now=clock))
    ip.run_cell("import nb_oauth.errors")
    ip.run_cell("1")
    assert ip.custom_exceptions == (ReauthRequired,)
    unload(ip)
    assert ip.custom_exceptions == ()


def test_all_shows_the_line_and_the_button_when_the_pull_needs_a_sign_in(
    kernel_shell: Any, revoked: BrowserRobot, shown: list[Any]
) -> None:
    # Issue 17: %%api --all meets the same sign-in error on its first page.
    with pytest.raises(UsageError, match="Reconnect needed.*%datasource connect demo"):
        kernel_shell.run_cell_magic("api", "demo --all", "GET /api/records/link")
    [button] = shown
    assert isinstance(button, ReconnectButton)
