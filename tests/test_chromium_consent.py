"""Every consent path, once in a real browser: headless Chromium against the demo provider, with
the consent page's real CSP (docs/security.md, "Pages the user's browser shows").

The other consent tests play the browser with httpx, which ignores what browsers enforce; these
are the ones that would have seen the consent page's ``form-action`` blocking its own redirect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nb_oauth.consent.flow import ConnectResult, connect
from nb_oauth.datasource import Datasource
from nb_oauth.demo import DemoProvider
from nb_oauth.jupyter.widgets import DatasourceForm, DatasourceStatusView
from nb_oauth.session import Session
from tests.chromium import QueuedBrowser, press
from tests.conftest import FakeClock, QuietView
from tests.test_widgets import fill

T = TypeVar("T")


@pytest.fixture
def provider(make_provider: Any) -> DemoProvider:
    return make_provider(token_lifetime=600)


@pytest.fixture
def session(clock: FakeClock, provider: DemoProvider) -> Session:
    session = Session(now=clock)
    ds = Datasource(
        name="demo",
        token_url=provider.token_url,
        authorization_url=provider.authorization_url,
        client_id="demo-basic",
        scopes="profile items:read",
        base_url=provider.api_url,
    )
    session.save(ds, client_secret=provider.clients["demo-basic"].client_secret)
    return session


@pytest.fixture
def in_background() -> Iterator[Callable[[Callable[[], T]], Future[T]]]:
    """Run the kernel side of a sign-in in a thread; the test thread plays the browser."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit


def test_the_consent_page_lets_its_form_reach_the_redirect_uri_and_nothing_else(
    provider: DemoProvider,
) -> None:
    redirect_uri = "http://127.0.0.1:43123/callback"
    params = {
        "response_type": "code",
        "client_id": "demo-public",
        "redirect_uri": redirect_uri,
        "scope": "profile",
        "state": "s" * 22,
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    page = httpx.get(provider.authorization_url, params=params)
    assert page.status_code == 200
    policy = [p.strip() for p in page.headers["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in policy
    assert "form-action 'self' http://127.0.0.1:43123" in policy
    assert not any("*" in directive for directive in policy)


def test_approve_in_chromium_reaches_the_loopback_catcher(
    session: Session, provider: DemoProvider, page: Any, in_background: Any
) -> None:
    tab = QueuedBrowser()
    sign_in: Future[ConnectResult] = in_background(
        lambda: connect(session, "demo", view=QuietView(), open_url=tab, timeout=30)
    )
    response = press(page, tab.next_url())

    assert response.status == 200
    assert page.title() == "Signed in"
    assert "received the sign-in for demo" in page.inner_text("body")
    result = sign_in.result(timeout=30)
    assert result.has_refresh_token
    assert session.store.load_tokens("demo") is not None
    assert provider.counters["token:authorization_code"] == 1


def test_deny_in_chromium_ends_the_sign_in_with_the_providers_answer(
    session: Session, page: Any, in_background: Any
) -> None:
    tab = QueuedBrowser()
    sign_in = in_background(
        lambda: connect(session, "demo", view=QuietView(), open_url=tab, timeout=30)
    )
    press(page, tab.next_url(), "#deny")

    assert page.title() == "Sign-in failed"
    with pytest.raises(Exception, match="access_denied"):
        sign_in.result(timeout=30)
    assert session.store.load_tokens("demo") is None


def test_paste_path_with_the_address_chromium_shows(
    session: Session, page: Any, in_background: Any
) -> None:
    """A remote kernel: the browser cannot reach the catcher, so the user copies the address
    the provider redirected to from the address bar and pastes it."""
    tab = QueuedBrowser()
    pasted: list[str] = []
    address_bar = threading.Event()

    def read_redirect(prompt: str) -> str:
        assert address_bar.wait(30)
        return pasted[0]

    sign_in = in_background(
        lambda: connect(session, "demo", view=QuietView(), paste=True, open_url=tab,
                        read_redirect=read_redirect, timeout=30)
    )
    url = tab.next_url()
    redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]

    def unreachable(route: Any) -> None:
        # The kernel's 127.0.0.1 is another machine's: the connection is refused.
        route.abort("connectionrefused")

    page.route(f"{redirect_uri}**", unreachable)
    page.goto(url)
    with page.expect_request(f"{redirect_uri}**") as redirected:
        page.click("#approve")
    page.wait_for_load_state()
    pasted.append(page.url if page.url.startswith(redirect_uri) else redirected.value.url)
    address_bar.set()

    assert "code=" in pasted[0]
    result = sign_in.result(timeout=30)
    assert result.datasource == "demo"
    assert session.store.load_tokens("demo") is not None


def test_the_forms_save_and_authorize_in_chromium(
    clock: FakeClock, provider: DemoProvider, page: Any
) -> None:
    session = Session(now=clock)
    tab = QueuedBrowser()
    form = DatasourceForm(session, open_url=tab, timeout=30)
    fill(form, provider)
    form._authorize.click()
    press(page, tab.next_url())
    form.status.join(30)

    assert page.title() == "Signed in"
    assert form.status.consent == "connected"
    assert session.store.load_tokens("demo") is not None


def test_the_status_views_reconnect_in_chromium(session: Session, page: Any) -> None:
    tab = QueuedBrowser()
    view = DatasourceStatusView(session, "demo", open_url=tab, timeout=30)
    assert not view.connected
    view._reconnect.click()
    press(page, tab.next_url())
    view.status.join(30)

    assert page.title() == "Signed in"
    assert view.status.consent == "connected"
    assert view.connected
