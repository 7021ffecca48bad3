"""%datasource, %%api and %api in a test shell, against the demo provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from nb_oauth.demo import DemoProvider
from nb_oauth.jupyter.magics import NbOAuthMagics, load, unload
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock

SECRET = "demo-basic-secret"


@pytest.fixture
def provider(make_provider: Any) -> DemoProvider:
    return make_provider(token_lifetime=600)


@pytest.fixture
def magics(ip: Any, clock: FakeClock) -> Iterator[NbOAuthMagics]:
    registered = load(ip, session=Session(now=clock))
    yield registered
    unload(ip)


def add_line(provider: DemoProvider, name: str = "demo", **extra: str) -> str:
    options = {
        "--token-url": provider.token_url,
        "--authorization-url": provider.authorization_url,
        "--revocation-url": provider.revocation_url,
        "--client-id": "demo-basic",
        "--scopes": "profile,items:read,items:write",
        "--base-url": provider.api_url,
        "--client-secret-env": "DEMO_SECRET",
        **extra,
    }
    return f"add {name} " + " ".join(f'{k} "{v}"' for k, v in options.items())


@pytest.fixture
def added(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, monkeypatch: pytest.MonkeyPatch
) -> NbOAuthMagics:
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    ip.run_line_magic("datasource", add_line(provider))
    return magics


@pytest.fixture
def connected(
    ip: Any, added: NbOAuthMagics, monkeypatch: pytest.MonkeyPatch, browser: BrowserRobot
) -> NbOAuthMagics:
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: browser(url))
    ip.run_line_magic("datasource", "connect demo --timeout 30")
    browser.join()
    return added


# -- %datasource ----------------------------------------------------------------------------------


def test_add_reads_the_secret_from_the_environment_and_stores_it(
    added: NbOAuthMagics,
) -> None:
    store = added.context.session.store
    assert store.load_secret("demo").reveal() == SECRET  # type: ignore[union-attr]
    ds = store.load_datasource("demo")
    assert ds is not None and ds.scopes == ("profile", "items:read", "items:write")


def test_add_prompts_for_the_secret_when_no_variable_is_named(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or SECRET)
    line = add_line(provider).replace('--client-secret-env "DEMO_SECRET"', "")
    ip.run_line_magic("datasource", line)
    assert prompts and "hidden" in prompts[0]
    assert magics.context.session.store.load_secret("demo").reveal() == SECRET  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "option",
    ["--client-secret CANARY-9f3", "--client-secret=CANARY-9f3", "--client-secret-e CANARY-9f3"],
)
def test_a_literal_secret_on_the_line_is_refused_without_echoing_it(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, option: str
) -> None:
    # SEC-44; the last case is argparse's abbreviation trap (--client-secret-env).
    with pytest.raises(UsageError) as raised:
        ip.run_line_magic("datasource", add_line(provider) + " " + option)
    message = str(raised.value)
    assert "never taken on the magic line" in message
    # What it means for the user: the secret is in the cell and in the history; rotate it.
    assert "in this cell and in IPython's history" in message and "rotate" in message
    assert "CANARY-9f3" not in str(raised.value)
    assert magics.context.session.store.names() == []


def test_list_and_show_describe_without_secrets(
    ip: Any, connected: NbOAuthMagics, clock: FakeClock
) -> None:
    listing = str(ip.run_line_magic("datasource", "list"))
    assert "demo" in listing and "connected" in listing
    status = ip.run_line_magic("datasource", "show demo")
    text, markup = str(status), status._repr_html_()
    assert "access token expires in 10 min" in text
    assert "refresh token  " in text or "refresh token" in text
    assert "granted scopes" in text and "profile items:read items:write" in text
    assert "http://127.0.0.1/callback" in text  # the redirect URI to register
    tokens = connected.context.session.store.load_tokens("demo")
    assert tokens is not None and tokens.refresh_token is not None
    for secret in (SECRET, tokens.access_token.reveal(), tokens.refresh_token.reveal()):
        assert secret not in text and secret not in markup


def test_connect_then_disconnect_and_remove(
    ip: Any, connected: NbOAuthMagics, provider: DemoProvider, capsys: Any
) -> None:
    assert provider.counters["token:authorization_code"] == 1
    ip.run_line_magic("datasource", "disconnect demo")
    assert "revoked at the provider" in capsys.readouterr().out
    assert connected.context.session.store.load_tokens("demo") is None
    ip.run_line_magic("datasource", "remove demo")
    assert connected.context.session.store.names() == []


def test_edit_changes_a_field_and_keeps_the_secret(
    ip: Any, added: NbOAuthMagics
) -> None:
    ip.run_line_magic("datasource", "edit demo --scopes profile --refresh-leeway 30")
    ds = added.context.session.store.load_datasource("demo")
    assert ds is not None and ds.scopes == ("profile",) and ds.refresh_leeway == 30
    assert added.context.session.store.load_secret("demo") is not None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frobnicate", "unknown subcommand 'frobnicate'"),
        ("show nope", "no datasource named 'nope' (known: demo)"),
        ("connect nope", "known: demo"),
        ("edit demo --token-placement cookie", "--token-placement"),
        ("edit demo --token-url http://example.com/token", "token_url"),
        ("edit demo --redirect-port abc", "--redirect-port"),
        ("add other --token-url https://as.example/t", "missing --client-id"),
        ('show "unclosed', "check the quotes"),
    ],
)
def test_bad_input_is_one_usage_error_line(
    ip: Any, added: NbOAuthMagics, line: str, message: str
) -> None:
    with pytest.raises(UsageError) as raised:
        ip.run_line_magic("datasource", line)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_no_arguments_prints_the_usage(ip: Any, magics: NbOAuthMagics, capsys: Any) -> None:
    ip.run_line_magic("datasource", "")
    out = capsys.readouterr().out
    for command in ("add", "list", "show", "edit", "connect", "disconnect", "remove", "use"):
        assert f"%datasource {command}" in out


def test_help_is_complete(ip: Any, magics: NbOAuthMagics) -> None:
    datasource_help = ip.find_line_magic("datasource").__doc__
    api_help = ip.find_cell_magic("api").__doc__
    for word in ("--client-secret-env", "connect", "--paste", "remove", "use"):
        assert word in datasource_help
    for word in ("{{ name }}", "-o VAR", "--response", "%api [NAME] METHOD URL"):
        assert word in api_help


def completions_of(ip: Any, line: str) -> list[str]:
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(line, len(line))]


def test_tab_completion_offers_subcommands_options_then_names(
    ip: Any, added: NbOAuthMagics
) -> None:
    # Nothing typed yet: the subcommands, and no Python keywords before them.
    assert completions_of(ip, "%datasource ") == [
        "add", "connect", "disconnect", "discover", "edit", "list", "providers", "remove", "show",
        "storage", "use",
    ]
    assert "github" in completions_of(ip, "%datasource add gh --provider ")
    assert "microsoft" in completions_of(ip, "%datasource providers ")
    assert completions_of(ip, "%datasource con") == ["connect"]
    assert completions_of(ip, "%datasource show ") == ["demo"]
    assert completions_of(ip, "%datasource show de") == ["demo"]
    assert completions_of(ip, "%datasource add x --tok") == [
        "--token-param", "--token-placement", "--token-url"
    ]
    assert completions_of(ip, "%datasource connect demo --pa") == ["--paste"]
    assert completions_of(ip, "%api ") == ["demo"]
    assert completions_of(ip, "%%api demo --res") == ["--response"]


def test_reloading_adds_nothing_twice_and_unloading_removes_what_loading_added(
    ip: Any, clock: FakeClock
) -> None:
    before = list(ip.Completer.custom_matchers)
    load(ip, session=Session(now=clock))
    load(ip, session=Session(now=clock))  # %reload_ext
    added = [m for m in ip.Completer.custom_matchers if m not in before]
    assert len(added) == 1
    assert ip.find_line_magic("datasource") is not None

    unload(ip)
    assert ip.Completer.custom_matchers == before
    assert ip.find_line_magic("datasource") is None
    assert ip.find_cell_magic("api") is None and ip.find_line_magic("api") is None


# -- %%api -----------------------------------------------------------------------------------------


def test_api_get_returns_json_data_shown_as_a_json_tree(ip: Any, connected: NbOAuthMagics) -> None:
    data = ip.run_cell_magic("api", "", "GET /api/me")
    assert data["client_id"] == "demo-basic"
    assert data._repr_mimebundle_()["application/json"]["sub"] == "demo-user"


def test_api_post_with_headers_body_and_placeholders(
    ip: Any, connected: NbOAuthMagics
) -> None:
    ip.user_ns["item_name"] = "widget & co"
    ip.user_ns["meta"] = {"tags": ["a", "b"]}
    cell = (
        "# create an item\n"
        "POST /api/items\n"
        "Content-Type: application/json\n"
        "X-Note: {{ item_name }}\n"
        "\n"
        '{"name": "{{ item_name }}", "meta": {{ meta }}}\n'
    )
    created = ip.run_cell_magic("api", "demo -o created", cell)
    assert created["name"] == "widget & co"
    assert ip.user_ns["created"] == dict(created)
    assert type(ip.user_ns["created"]) is dict


def test_api_placeholders_are_percent_encoded_in_the_url(
    ip: Any, connected: NbOAuthMagics
) -> None:
    ip.user_ns["per_page"] = "2&page=9"
    page = ip.run_cell_magic("api", "", "GET /api/items?per_page={{ per_page }}")
    # "2&page=9" arrived as one (unusable) per_page value, not as a second parameter.
    assert page["page"] == 1 and page["per_page"] == 10
    ip.user_ns["per_page"] = 2
    page = ip.run_cell_magic("api", "", "GET /api/items?per_page={{ per_page }}")
    assert page["per_page"] == 2 and len(page["items"]) == 2


def test_api_response_option_returns_the_httpx_response(
    ip: Any, connected: NbOAuthMagics
) -> None:
    response = ip.run_cell_magic("api", "--response -o raw", "GET /api/me")
    assert isinstance(response, httpx.Response)
    assert ip.user_ns["raw"] is response and response.status_code == 200


def test_line_form_calls_the_api(ip: Any, connected: NbOAuthMagics) -> None:
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    assert ip.run_line_magic("api", "GET /api/items?per_page=1")["per_page"] == 1
    assert ip.run_line_magic("api", "demo /api/me")["sub"] == "demo-user"


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_one_block_not_a_traceback(
    ip: Any, connected: NbOAuthMagics, status: int
) -> None:
    with capture_output() as captured:
        value = ip.run_cell_magic("api", "", f"GET /api/status/{status}")
    assert value is None
    (shown,) = captured.outputs
    text = shown.data["text/plain"]
    assert text.startswith(f"HTTP {status} ")
    assert "/api/status/" in text and "demo_error" in text
    assert "Traceback" not in text


def test_unknown_datasource_and_missing_default_are_usage_errors(
    ip: Any, connected: NbOAuthMagics, provider: DemoProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="known: demo"):
        ip.run_cell_magic("api", "nope", "GET /api/me")
    ip.run_line_magic("datasource", add_line(provider, "second"))
    with pytest.raises(UsageError, match="%datasource use NAME"):
        ip.run_cell_magic("api", "", "GET /api/me")
    ip.run_line_magic("datasource", "use second")
    with pytest.raises(UsageError, match="'second' is not connected"):
        ip.run_cell_magic("api", "", "GET /api/me")  # the default was used


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("\n# only a comment\n", "the cell is empty"),
        ("FETCH /api/me", "expected 'METHOD URL'"),
        ("GET /api/me\nnot a header", "line 2"),
        ("GET /api/{{ missing }}", "no variable named 'missing'"),
    ],
)
def test_malformed_cells_are_usage_errors(
    ip: Any, connected: NbOAuthMagics, cell: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("api", "", cell)


def test_expired_connection_is_a_one_line_reconnect_error(
    ip: Any, connected: NbOAuthMagics, provider: DemoProvider
) -> None:
    ip.run_line_magic("datasource", "disconnect demo")
    with pytest.raises(UsageError, match="not connected; run nb_oauth.connect"):
        ip.run_cell_magic("api", "", "GET /api/me")


def test_unload_closes_the_magics_clients(ip: Any, connected: NbOAuthMagics) -> None:
    ip.run_cell_magic("api", "", "GET /api/me")
    (client,) = connected._clients.values()
    unload(ip)
    assert client.is_closed
    assert connected._clients == {}


# -- no secret anywhere (SEC-41..44) -------------------------------------------------------------


def test_no_secret_reaches_history_outputs_or_display_data(
    tmp_path: Any,
    provider: DemoProvider,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    browser: BrowserRobot,
) -> None:
    from tests.conftest import testing_shell

    history = tmp_path / "history.sqlite"
    shell = testing_shell(history)
    try:
        magics = load(shell, session=Session(now=clock))
        monkeypatch.setenv("DEMO_SECRET", SECRET)
        monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: browser(url))
        cells = [
            f"%datasource {add_line(provider)}",
            "%datasource connect demo --timeout 30",
            "%datasource show demo",
            "%datasource list",
            "%%api demo -o me\nGET /api/me",
            "%%api --response\nGET /api/items?per_page=2",
            "%api GET /api/status/500",
        ]
        with capture_output() as captured:
            for cell in cells:
                shell.run_cell(cell, store_history=True)
        browser.join()
        tokens = magics.context.session.store.load_tokens("demo")
        assert tokens is not None and tokens.refresh_token is not None
        canaries = [SECRET, tokens.access_token.reveal(), tokens.refresh_token.reveal()]
        shell.history_manager.writeout_cache()
        assert shell.history_manager.get_range_by_str("1-7")  # history was written
        shown = captured.stdout + captured.stderr + "".join(
            str(output.data) for output in captured.outputs
        )
        outs = "".join(repr(v) for v in shell.user_ns["Out"].values())
        assert "demo-user" in shown and "HTTP 500" in shown  # the outputs were captured
        unload(shell)
        shell.history_manager.end_session()
        database = history.read_bytes()
        assert b"datasource connect demo" in database
        for canary in canaries:
            assert canary not in shown
            assert canary not in outs
            assert canary.encode() not in database
    finally:
        shell.cleanup()
        type(shell).clear_instance()


def test_session_only_add_says_so_and_keeps_nothing_on_disk(
    ip: Any,
    provider: DemoProvider,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    nb_oauth_home: Any,
    memory_keyring: Any,
    capsys: Any,
) -> None:
    # SEC-38 through the magic: the keyring-backed store, but this datasource stays in memory.
    from nb_oauth.store.keyring_store import KeyringStore

    magics = load(ip, session=Session(KeyringStore(), now=clock))
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    ip.run_line_magic("datasource", add_line(provider) + " --session-only")
    assert "memory only" in capsys.readouterr().out
    assert magics.context.session.store.load_secret("demo").reveal() == SECRET  # type: ignore[union-attr]
    assert memory_keyring.entries == {}
    files = [p for p in nb_oauth_home.rglob("*") if p.is_file()]
    assert all(SECRET.encode() not in p.read_bytes() for p in files)
    unload(ip)


def test_datasource_line_takes_placeholders_from_the_notebook(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    ip.user_ns["provider"] = provider
    ip.user_ns["scopes"] = "profile items:read"  # a space: stays one option value
    ip.run_line_magic(
        "datasource",
        "add demo --token-url {{ provider.token_url }} --client-id demo-basic --grant"
        " client_credentials --scopes {{ scopes }} --base-url {{provider.api_url}}"
        " --client-secret-env DEMO_SECRET",
    )
    ds = magics.context.session.datasource("demo")
    assert ds.token_url == provider.token_url and ds.base_url == provider.api_url
    assert ds.scopes == ("profile", "items:read")
    with pytest.raises(UsageError, match="no variable named 'nope'"):
        ip.run_line_magic("datasource", "show {{ nope }}")


# -- what a user sees: one line, never a traceback ---------------------------------------------


def as_user(ip: Any, cell: str) -> str:
    """Run ``cell`` as a Jupyter kernel does (errors are shown, not raised) and return all that
    the user would see: stdout, stderr and displayed data."""
    from IPython.core.interactiveshell import InteractiveShell

    with capture_output() as captured:
        InteractiveShell.run_cell(ip, cell)
    return captured.stdout + captured.stderr + "".join(str(o.data) for o in captured.outputs)


def test_api_on_a_datasource_without_base_url_is_one_line(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    line = add_line(provider).replace(f'--base-url "{provider.api_url}"', "")
    added = as_user(ip, f"%datasource {line}")
    # Saving says at once that calls need a base URL, and how to set it.
    assert "has no base URL" in added and "%datasource edit demo --base-url URL" in added

    shown = as_user(ip, f"%%api demo\nGET {provider.api_url}/api/me")
    assert "Traceback" not in shown
    assert "UsageError: %%api: demo has no base_url" in shown
    assert "%datasource edit demo --base-url URL" in shown


def test_interrupting_a_waiting_connect_is_one_line_and_closes_the_port(
    ip: Any, added: NbOAuthMagics, monkeypatch: pytest.MonkeyPatch
) -> None:
    import _thread
    import socket
    import threading
    from urllib.parse import parse_qs, urlsplit

    opened: list[str] = []

    def open_then_interrupt(url: str, new: int = 0, autoraise: bool = True) -> bool:
        opened.append(url)
        # The user presses "interrupt the kernel" while the sign-in waits.
        threading.Timer(0.3, _thread.interrupt_main).start()
        return True

    monkeypatch.setattr("webbrowser.open", open_then_interrupt)
    shown = as_user(ip, "%datasource connect demo --timeout 30")

    assert "Sign-in for demo was interrupted; nothing was stored" in shown
    assert "Traceback" not in shown and "KeyboardInterrupt" not in shown
    assert shown.count("was interrupted") == 1
    redirect = urlsplit(parse_qs(urlsplit(opened[0]).query)["redirect_uri"][0])
    with socket.socket() as probe:
        assert probe.connect_ex((redirect.hostname, redirect.port)) != 0
    assert added.context.session.store.load_tokens("demo") is None


def test_a_timeout_is_reported_once(
    ip: Any, added: NbOAuthMagics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: True)
    shown = as_user(ip, "%datasource connect demo --timeout 0.2")
    assert shown.count("No authorization response arrived") == 1
    assert "Traceback" not in shown


def test_add_checks_the_keyring_before_asking_for_the_secret(
    ip: Any, provider: DemoProvider, clock: FakeClock, nb_oauth_home: Any
) -> None:
    import keyring.backends.fail

    from nb_oauth.store.keyring_store import KeyringStore

    store = KeyringStore(backend=keyring.backends.fail.Keyring(), store="keyring")
    magics = load(ip, session=Session(store, now=clock))
    prompts: list[str] = []
    magics.context.prompt_secret = lambda prompt: prompts.append(prompt) or "typed-for-nothing"
    line = add_line(provider).replace(' --client-secret-env "DEMO_SECRET"', "")
    with pytest.raises(UsageError, match="keyring"):
        ip.run_line_magic("datasource", line)
    assert prompts == []  # refused before the user typed the secret
    unload(ip)


def test_saving_says_where_the_secret_is_kept(
    ip: Any, added: NbOAuthMagics, capsys: Any
) -> None:
    ip.run_line_magic("datasource", "show demo")
    shown = str(ip.run_line_magic("datasource", "show demo"))
    assert "client secret" in shown and "stored in this kernel's memory" in shown


def test_insufficient_scope_is_the_same_error_block_as_other_statuses(
    ip: Any, added: NbOAuthMagics, provider: DemoProvider, browser: BrowserRobot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: browser(url))
    ip.run_line_magic("datasource", add_line(provider, "reader", **{"--scopes": "items:read"}))
    ip.run_line_magic("datasource", "connect reader --timeout 30")
    browser.join()
    # Granted items:read only; POST needs items:write.
    with capture_output() as captured:
        value = ip.run_cell_magic(
            "api", "reader", 'POST /api/items\nContent-Type: application/json\n\n{"name": "x"}'
        )
    assert value is None
    (shown,) = captured.outputs
    text = shown.data["text/plain"]
    assert text.startswith("HTTP 403 Forbidden") and "POST" in text
    assert "insufficient_scope" in text
    assert "border-left" in shown.data["text/html"]  # the look of every other HTTP error


def test_a_token_endpoint_that_refuses_connections_is_one_line_at_connect(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider, browser: BrowserRobot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("DEMO_SECRET", SECRET)
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: browser(url))
    ip.run_line_magic("datasource", add_line(provider, **{"--token-url": f"{dead}/token"}))

    shown = as_user(ip, "%datasource connect demo --timeout 30")
    browser.join()
    assert "Traceback" not in shown
    (error,) = [line for line in shown.splitlines() if line.startswith("UsageError")]
    assert "Sign-in for demo failed" in error and f"token endpoint at {dead}" in error
    assert "Open the sign-in page" not in shown.split("UsageError")[-1]
    assert magics.context.session.store.load_tokens("demo") is None


def test_client_credentials_without_a_secret_is_refused_by_every_entry_point(
    ip: Any, magics: NbOAuthMagics, provider: DemoProvider
) -> None:
    import nb_oauth

    line = (
        f"add m2m --grant client_credentials --token-url {provider.token_url} "
        f"--client-id demo-basic --base-url {provider.api_url} --no-client-secret"
    )
    with pytest.raises(UsageError) as from_magic:
        ip.run_line_magic("datasource", line)
    ds = nb_oauth.Datasource(name="m2m", grant="client_credentials", token_url=provider.token_url,
                             client_id="demo-basic", base_url=provider.api_url)
    with pytest.raises(nb_oauth.ConfigError) as from_python:
        nb_oauth.save(ds, session=magics.context.session)
    assert str(from_magic.value) == str(from_python.value)  # the same line, from one place
    assert "client credentials need the secret" in str(from_python.value)
    assert magics.context.session.names() == []


def test_help_is_shown_and_is_not_an_error(ip: Any, magics: NbOAuthMagics) -> None:
    shown = as_user(ip, "%datasource add --help")
    assert "--token-url" in shown and "--client-secret-env" in shown
    assert "UsageError" not in shown and "Error" not in shown
