"""The datasource form and the status view, driven like a user would: set `.value`, `click()`.

No browser: the test's robot plays it (`open_url`), against the real demo provider and the real
loopback catcher; the sign-in runs in the widgets' background thread, which a test joins.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ipywidgets
import pytest
from ipywidgets.widgets.widget import _instances

from nb_oauth.datasource import Datasource
from nb_oauth.demo import DemoProvider
from nb_oauth.jupyter.magics import NbOAuthMagics, load, unload
from nb_oauth.jupyter.widgets import DatasourceForm, DatasourceStatusView, KeyValueRows
from nb_oauth.jupyter.widgets.fields import FIELDS
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock

CANARY = "CANARY-SECRET-7d1e"


@pytest.fixture
def provider(make_provider: Any) -> DemoProvider:
    return make_provider(token_lifetime=600)


@pytest.fixture
def session(clock: FakeClock) -> Session:
    return Session(now=clock)


def fill(form: DatasourceForm, provider: DemoProvider, **values: Any) -> None:
    fields = {
        "name": "demo",
        "token_url": provider.token_url,
        "authorization_url": provider.authorization_url,
        "revocation_url": provider.revocation_url,
        "base_url": provider.api_url,
        "client_id": "demo-basic",
        "client_secret": provider.clients["demo-basic"].client_secret,
        "scopes": "profile, items:read",
        **values,
    }
    for name, value in fields.items():
        form._input(name).value = value


def text_of(form: DatasourceForm | DatasourceStatusView) -> str:
    parts = [form.status._link.value]
    for output in form.status.out.outputs:
        parts.append(output.get("text") or json.dumps(output.get("data")))
    return "\n".join(parts)


def row_labels(box: ipywidgets.VBox) -> list[str]:
    return [row.spec.label for row in box.children]


def port_is_closed(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        return probe.connect_ex((parts.hostname, parts.port)) != 0


class HoldingBrowser:
    """`open_url` for a user who never finishes the first sign-in, then uses `then`."""

    def __init__(self, then: Callable[[str], bool]) -> None:
        self.then = then
        self.urls: list[str] = []
        self.opened = threading.Event()

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        self.opened.set()
        return True if len(self.urls) == 1 else self.then(url)


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Wait for the sign-in thread to reach a state (it shows the link after opening a tab)."""
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the sign-in thread never got there"
        done.wait(0.01)


def redirect_uri_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["redirect_uri"][0]


# -- the form --------------------------------------------------------------------------------------


def test_save_stores_every_field_and_the_secret(
    session: Session, provider: DemoProvider
) -> None:
    form = DatasourceForm(session)
    fill(form, provider, client_secret="  s3cret  ", token_placement="query", refresh_leeway=30.0)
    form._input("auth_params").set_pairs({"prompt": "consent"})
    form._input("token_params").set_pairs({"audience": "api"})
    form._save.click()

    ds = session.datasource("demo")
    assert (ds.token_url, ds.client_id, ds.scopes) == (
        provider.token_url, "demo-basic", ("profile", "items:read"))
    assert dict(ds.auth_params) == {"prompt": "consent"}
    assert dict(ds.token_params) == {"audience": "api"}
    assert (ds.token_placement, ds.refresh_leeway) == ("query", 30.0)
    assert session.store.load_secret("demo").reveal() == "s3cret"  # type: ignore[union-attr]
    assert form._input("client_secret").value == ""
    assert form.datasource == ds
    assert "Saved demo; its client secret is kept in this kernel's memory." in text_of(form)
    assert form._input("name").disabled  # now editing what was saved
    assert not form._save.disabled


def test_grant_type_switches_between_the_seed_field_sets(session: Session) -> None:
    form = DatasourceForm(session)
    # The seed's field sets, after the provider preset that can fill them.
    assert row_labels(form._main) == [
        "Name", "Provider", "Provider Options", "Grant Type", "Add Access Token To",
        "Header Prefix", "Access Token URL", "Client ID", "Client Secret", "Scope(s)",
        "Authorization URL", "Custom Authentication Parameters", "Client Authentication",
    ]
    form._input("grant").value = "client_credentials"
    assert row_labels(form._main) == [
        "Name", "Provider", "Provider Options", "Grant Type", "Add Access Token To",
        "Access Token URL", "Client ID", "Client Secret", "Scope(s)",
    ]
    more = row_labels(form._more)
    assert "Header Prefix" in more and "Client Authentication" in more
    assert "Authorization URL" not in more + row_labels(form._main)
    assert form._authorize.layout.display == "none"  # no consent in client credentials


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"token_url": "not a url"}, "token_url", "contains spaces"),
        ({"token_url": "http://as.example/token"}, "token_url", "use https://"),
        ({"client_id": ""}, "client_id", "is empty"),
        ({"issuer": "https://as.example/?q=1"}, "issuer", "query component"),
    ],
)
def test_validation_errors_are_shown_next_to_their_field_and_nothing_is_saved(
    session: Session, provider: DemoProvider, values: dict[str, Any], field: str, message: str
) -> None:
    form = DatasourceForm(session)
    fill(form, provider, client_secret=CANARY, **values)
    form._authorize.click()

    assert message in form.field_error(field)
    assert [name for name in ("token_url", "client_id", "issuer") if form.field_error(name)] == [
        field]
    assert f"Not saved: {field}:" in text_of(form)
    assert session.names() == []
    assert form.status.consent == "idle"
    assert form._input("client_secret").value == ""  # read once, even when nothing is saved
    # A field under "More settings" is unfolded, never hidden from the user who must fix it.
    assert form._accordion.selected_index == (0 if field == "issuer" else None)


def test_reserved_custom_parameter_is_shown_next_to_the_rows(
    session: Session, provider: DemoProvider
) -> None:
    form = DatasourceForm(session)
    fill(form, provider)
    form._input("auth_params").set_pairs({"state": "x"})
    form._save.click()
    assert "may not set the protocol parameter 'state'" in form.field_error("auth_params")
    assert session.names() == []


def test_after_a_fix_the_secret_typed_before_is_saved(
    session: Session, provider: DemoProvider
) -> None:
    form = DatasourceForm(session)
    fill(form, provider, client_id="", client_secret=CANARY)
    form._save.click()
    assert form._input("client_secret").placeholder.startswith("Entered")
    form._input("client_id").value = "demo-basic"
    form._save.click()
    assert form.field_error("client_id") == ""
    assert session.store.load_secret("demo").reveal() == CANARY  # type: ignore[union-attr]
    assert form._input("client_secret").placeholder == "Leave blank to keep the stored secret"


def test_a_name_in_use_and_a_missing_client_credentials_secret_are_refused(
    session: Session, provider: DemoProvider
) -> None:
    form = DatasourceForm(session)
    fill(form, provider)
    form._save.click()
    second = DatasourceForm(session)
    fill(second, provider)
    second._save.click()
    assert "exists" in second.field_error("name")

    third = DatasourceForm(session)
    fill(third, provider, name="machine", grant="client_credentials", client_secret="")
    third._save.click()
    assert "client credentials need the secret" in third.field_error("client_secret")
    assert session.names() == ["demo"]


def test_edit_shows_the_secret_blank_and_blank_keeps_the_stored_one(
    session: Session, provider: DemoProvider
) -> None:
    first = DatasourceForm(session)
    fill(first, provider, client_secret=CANARY)
    first._save.click()

    form = DatasourceForm(session, edit="demo")
    secret = form._input("client_secret")
    assert secret.value == "" and secret.placeholder == "Leave blank to keep the stored secret"
    assert form._input("scopes").value == "profile, items:read"
    assert form._input("name").value == "demo" and form._input("name").disabled
    form._input("scopes").value = "profile"
    form._save.click()
    assert session.datasource("demo").scopes == ("profile",)
    assert session.store.load_secret("demo").reveal() == CANARY  # type: ignore[union-attr]


def test_key_value_rows_add_and_remove() -> None:
    rows = KeyValueRows({"prompt": "consent"})
    rows._add.click()
    name, value, _ = rows._rows[-1].children
    name.value, value.value = "access_type", "offline"
    assert rows.value == {"prompt": "consent", "access_type": "offline"}
    rows._rows[0].children[2].click()
    assert rows.value == {"access_type": "offline"}
    assert len(rows.children) == 2  # one row and the Add button


# -- consent from a button -----------------------------------------------------------------------


def test_save_and_authorize_completes_consent_in_the_background(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    form = DatasourceForm(session, open_url=browser, timeout=30)
    fill(form, provider)
    form._authorize.click()
    assert not form._authorize.disabled  # the handler returned while the sign-in runs
    form.status.join(30)
    browser.join()

    assert form.status.consent == "connected"
    tokens = session.store.load_tokens("demo")
    assert tokens is not None and tokens.refresh_token is not None
    shown = text_of(form)
    assert "Connected demo" in shown and "access token expires in 10 min" in shown
    assert "href" not in form.status._link.value  # the link is replaced by the outcome
    assert form.status._waiting.layout.display == "none"
    assert provider.counters["token:authorization_code"] == 1


def test_a_second_click_while_waiting_cancels_the_first_sign_in(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    holding = HoldingBrowser(then=browser)
    form = DatasourceForm(session, open_url=holding, timeout=30)
    fill(form, provider)
    form._authorize.click()
    assert holding.opened.wait(10)
    wait_until(lambda: "href" in form.status._link.value)
    assert "left" in form.status._countdown.value

    form._authorize.click()  # the user closed the tab and asks again
    form.status.join(30)
    browser.join()

    first, second = holding.urls
    assert port_is_closed(redirect_uri_of(first))
    assert form.status.consent == "connected"
    assert provider.counters["token:authorization_code"] == 1
    assert session.store.load_tokens("demo") is not None


def test_cancel_ends_the_wait_closes_the_port_and_stores_nothing(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    holding = HoldingBrowser(then=browser)
    form = DatasourceForm(session, open_url=holding, timeout=30)
    fill(form, provider)
    form._authorize.click()
    assert holding.opened.wait(10)
    wait_until(lambda: "href" in form.status._link.value)
    form.status._cancel.click()

    assert form.status.consent == "cancelled"
    assert "cancelled; nothing was stored" in text_of(form)
    assert "href" not in form.status._link.value  # the link and the countdown are gone
    assert form.status._waiting.layout.display == "none"
    assert port_is_closed(redirect_uri_of(holding.urls[0]))
    assert session.store.load_tokens("demo") is None


def test_errors_in_the_sign_in_thread_are_shown_not_lost(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    form = DatasourceForm(session, open_url=browser, timeout=30)
    fill(form, provider, client_secret="wrong-secret")
    form._authorize.click()
    form.status.join(30)
    browser.join()
    assert form.status.consent == "failed"
    assert "invalid_client" in text_of(form)  # raised by the code redemption, after the wait

    def broken_browser(url: str) -> bool:
        raise RuntimeError("no display")

    other = DatasourceForm(session, edit="demo", open_url=broken_browser, timeout=30)
    other._authorize.click()
    other.status.join(30)
    assert other.status.consent == "failed"
    assert "RuntimeError: no display" in text_of(other)


# -- no secret in widget state (SEC-44) ----------------------------------------------------------


def test_canary_secret_never_sits_in_widget_state_after_save(
    session: Session, provider: DemoProvider
) -> None:
    form = DatasourceForm(session)
    fill(form, provider, client_id="", client_secret=CANARY)
    form._save.click()  # refused: missing client id
    form._input("client_id").value = "demo-basic"
    form._save.click()
    assert session.store.load_secret("demo").reveal() == CANARY  # type: ignore[union-attr]

    view = DatasourceStatusView(session, "demo")
    assert form._input("client_secret").value == ""
    assert form._input("client_secret").model_id in _instances  # the registry is the live one
    manager_state = json.dumps(ipywidgets.Widget.get_manager_state(), default=str)
    assert CANARY not in manager_state
    # Every live widget (the registry behind the deprecated `Widget.widgets`).
    for widget in list(_instances.values()):
        assert CANARY not in json.dumps(widget.get_state(), default=str)
        assert CANARY not in repr(widget)
    assert CANARY not in text_of(form) + text_of(view) + repr(form.datasource)


# -- the status view -----------------------------------------------------------------------------


def test_status_view_reconnects_and_disconnects(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    form = DatasourceForm(session)
    fill(form, provider, scopes="profile items:read items:write")
    form._save.click()
    view = DatasourceStatusView(session, "demo", open_url=browser, timeout=30)
    assert not view.connected and "not connected" in view._table.value

    view._reconnect.click()
    view.status.join(30)
    browser.join()
    assert view.connected
    table = view._table.value
    assert "expires in 10 min" in table
    assert "<th style='text-align:left;padding-right:1em'>refresh token</th>" in table
    assert "granted scopes" in table and "requested scopes" in table

    view._disconnect.click()
    assert not view.connected
    assert "Disconnected demo: tokens revoked at the provider" in text_of(view)


# -- the magics in a notebook --------------------------------------------------------------------


@pytest.fixture
def notebook_magics(ip: Any, session: Session) -> Any:
    magics: NbOAuthMagics = load(ip, session=session)
    magics.context.widgets = True  # what a Jupyter kernel decides by itself
    yield magics
    unload(ip)


def test_datasource_magic_shows_the_form_edit_and_the_status_view(
    ip: Any, notebook_magics: NbOAuthMagics, session: Session, provider: DemoProvider
) -> None:
    form = ip.run_line_magic("datasource", "")
    assert isinstance(form, DatasourceForm)
    fill(form, provider)
    form._save.click()

    edit = ip.run_line_magic("datasource", "edit demo")
    assert isinstance(edit, DatasourceForm) and edit._input("client_secret").value == ""
    assert edit._input("token_url").value == provider.token_url
    shown = ip.run_line_magic("datasource", "show demo")
    assert isinstance(shown, DatasourceStatusView)
    ip.run_line_magic("datasource", "edit demo --scopes profile")  # options: no form
    assert session.datasource("demo").scopes == ("profile",)


def test_unloading_the_extension_cancels_a_waiting_sign_in(
    ip: Any,
    notebook_magics: NbOAuthMagics,
    provider: DemoProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 6: "unloading closes clients and stops any waiting catcher".
    holding = HoldingBrowser(then=lambda url: True)
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: holding(url))
    form = ip.run_line_magic("datasource", "")
    fill(form, provider)
    form._authorize.click()
    assert holding.opened.wait(10)
    assert form.status.consent == "waiting"

    unload(ip)

    assert form.status.consent == "cancelled"
    assert port_is_closed(redirect_uri_of(holding.urls[0]))


# -- what the form and the views say -------------------------------------------------------------


def test_every_invalid_field_is_reported_at_once_in_the_forms_order(
    session: Session, provider: DemoProvider
) -> None:
    form = DatasourceForm(session)
    # Three mistakes, one of them under "More settings", plus a client-credentials secret.
    fill(form, provider, grant="client_credentials", token_url="ftp://x", client_id="",
         client_secret="", issuer="https://as.example/?q=1")
    form._save.click()

    marked = [spec.name for spec in FIELDS if form.field_error(spec.name)]
    assert set(marked) == {"token_url", "client_id", "client_secret", "issuer"}
    errors = [line for line in text_of(form).splitlines() if line.startswith("Not saved: ")]
    assert [line.split(":")[1].strip() for line in errors] == marked  # the form's own order
    assert session.names() == []


@pytest.mark.parametrize(("kind", "where"), [
    ("memory", "this kernel's memory"),
    ("keyring", "the system keyring"),
])
def test_the_saved_message_says_where_the_secret_is_kept(
    clock: FakeClock, provider: DemoProvider, kind: str, where: str, request: Any
) -> None:
    if kind == "keyring":
        request.getfixturevalue("memory_keyring")
        request.getfixturevalue("nb_oauth_home")
        from nb_oauth.store.keyring_store import KeyringStore

        session = Session(KeyringStore(), now=clock)
    else:
        session = Session(now=clock)
    form = DatasourceForm(session)
    fill(form, provider, base_url="")
    form._save.click()
    shown = text_of(form)
    assert f"Saved demo; its client secret is kept in {where}." in shown
    # No base URL: the form says now that API calls need one, not at the first call.
    assert "has no base URL" in shown


def test_the_sign_in_link_looks_like_a_link_and_the_no_browser_note_goes_with_it(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    shown: list[str] = []

    def no_browser(url: str) -> bool:
        browser(url)  # the user clicks the link by hand
        return False

    form = DatasourceForm(session, open_url=no_browser, timeout=30)
    fill(form, provider)
    form.status.observe(lambda change: shown.append(change["new"]), names="consent")
    link_values: list[str] = []
    form.status._link.observe(lambda change: link_values.append(change["new"]), names="value")
    form._authorize.click()
    form.status.join(30)
    browser.join()

    link = next(value for value in link_values if "href" in value)
    assert "color:var(--jp-content-link-color" in link and "text-decoration:underline" in link
    assert "could not open a browser" in link
    assert form.status.consent == "connected"
    final = form.status._link.value + text_of(form)
    assert "could not open a browser" not in final  # replaced with the outcome


def test_the_notebook_link_and_its_no_browser_note_are_replaced_together(ip: Any) -> None:
    from IPython.utils.capture import capture_output

    from nb_oauth.consent.flow import SignInLink
    from nb_oauth.jupyter.display import NotebookConsentView

    view = NotebookConsentView()
    with capture_output() as captured:
        view.waiting(SignInLink("demo", "https://as.example/a", "http://127.0.0.1:5/callback",
                                60, False, False))
        view.ended()
    assert captured.stdout == ""  # nothing printed beside the replaceable display
    shown, replaced = (output.data["text/html"] for output in captured.outputs)
    assert "could not open a browser" in shown and "%datasource connect demo --paste" in shown
    assert replaced == ""


def test_the_demo_providers_repr_keeps_its_urls_apart_from_punctuation(
    provider: DemoProvider,
) -> None:
    text = repr(provider)
    for url in (provider.issuer, provider.api_url):
        assert f" {url} " in text  # a front end's autolinker takes exactly the URL
    assert f"href='{provider.api_url}'" in provider._repr_html_()


def test_a_failed_redemption_takes_the_link_and_the_countdown_away(
    session: Session, provider: DemoProvider, browser: BrowserRobot
) -> None:
    with socket.socket() as probe:  # a token endpoint that refuses connections
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/token"
    form = DatasourceForm(session, open_url=browser, timeout=30)
    fill(form, provider, token_url=dead)
    form._authorize.click()
    form.status.join(30)
    browser.join()

    assert form.status.consent == "failed"
    assert form.status._link.value == ""
    assert form.status._waiting.layout.display == "none"
    errors = [o["text"] for o in form.status.out.outputs if o.get("name") == "stderr"]
    assert len(errors) == 1 and "could not be reached" in errors[0]
    assert "Traceback" not in errors[0] and errors[0].count("\n") == 1


def test_choosing_a_provider_fills_and_greys_its_fields_and_says_where_to_register(
    session: Session,
) -> None:
    form = DatasourceForm(session)
    form._input("provider").value = "keycloak"
    assert dict(form._input("provider_options").value) == {"host": "", "realm": ""}
    assert form._input("token_url").value == ""  # required options first
    form._input("provider_options").set_pairs({"host": "sso.example.org", "realm": "lab"})
    token_url = form._input("token_url")
    assert token_url.value == "https://sso.example.org/realms/lab/protocol/openid-connect/token"
    assert token_url.disabled
    help_line = form._rows["provider"]._help.value
    assert "https://sso.example.org/admin/master/console/" in help_line
    assert "http://127.0.0.1/callback" in help_line

    for name, value in {"name": "kc", "client_id": "cid", "client_secret": CANARY}.items():
        form._input(name).value = value
    form._save.click()
    # Only what the user gave is kept: the preset's fields follow the preset.
    assert session.datasource("kc").to_config() == {
        "name": "kc", "provider": "keycloak", "client_id": "cid",
        "provider_options": {"host": "sso.example.org", "realm": "lab"},
    }
    form._input("provider").value = ""  # no preset: the fields are the user's again
    assert not token_url.disabled


def test_editing_a_preset_datasource_keeps_it_following_the_preset(session: Session) -> None:
    session.save(Datasource(name="gl", provider="gitlab", client_id="cid"),
                 client_secret=CANARY)
    form = DatasourceForm(session, edit="gl")
    assert form._input("token_url").value == "https://gitlab.com/oauth/token"
    assert form._input("token_url").disabled
    form._input("scopes").value = "read_api"
    form._save.click()
    assert session.datasource("gl").to_config() == {
        "name": "gl", "provider": "gitlab", "provider_options": {},  # the default host stays
        "client_id": "cid", "scopes": ["read_api"],                  # the preset's default
    }
