"""Discovery from the issuer (RFC 8414, OpenID Connect Discovery): against the demo provider for
the story, and against a small local server that answers what a misbehaving provider would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from IPython.core.error import UsageError

from nb_oauth.consent.flow import connect
from nb_oauth.datasource import Datasource
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ConfigError
from nb_oauth.jupyter.magics import load, unload
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock, QuietView


class MetadataServer:
    """Serves `documents[path] = (status, body)` on 127.0.0.1; anything else is a 404."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, bytes]] = {}
        self.headers: dict[str, dict[str, str]] = {}
        documents, extra = self.documents, self.headers

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def do_GET(self) -> None:  # noqa: N802
                status, body = documents.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in extra.get(self.path, {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, path: str, document: object, status: int = 200) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.documents[path] = (status, body)

    def metadata(self, **changes: object) -> dict[str, object]:
        base = self.issuer
        return {"issuer": base, "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token", "code_challenge_methods_supported": ["S256"],
                **changes}


@pytest.fixture
def metadata_server() -> Iterator[MetadataServer]:
    server = MetadataServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_datasource_with_only_an_issuer_signs_in_and_calls_the_api(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider: DemoProvider = make_provider(token_lifetime=600)
    session = Session(now=clock)
    ds = Datasource(name="demo", issuer=provider.issuer, client_id="demo-public",
                    client_auth="none", scopes="profile", base_url=provider.api_url)
    session.save(ds)
    saved = session.datasource("demo")
    assert (saved.token_url, saved.authorization_url, saved.revocation_url) == (
        provider.token_url, provider.authorization_url, provider.revocation_url)
    connect(session, "demo", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client("demo") as api:
        assert api.get("/api/me").json()["sub"] == "demo-user"


def test_openid_connect_discovery_is_the_fallback(metadata_server: MetadataServer) -> None:
    metadata_server.serve("/.well-known/openid-configuration", metadata_server.metadata())
    session = Session()
    session.save(Datasource(name="x", issuer=metadata_server.issuer, client_id="c",
                            client_auth="none"))
    assert session.datasource("x").token_url == f"{metadata_server.issuer}/token"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"issuer": "https://other.example"}, "names 'https://other.example', not"),
        ({"token_endpoint": "http://as.example/token"}, "token_endpoint that is not an https URL"),
        ({"code_challenge_methods_supported": ["plain"]}, "does not offer PKCE with S256"),
        ({"token_endpoint": None}, "has no token_endpoint"),
        (b"<html>hello</html>", "is not JSON"),
        (b"x" * (1024 * 1024 + 1), "could not be read (the body is larger than"),
    ],
)
def test_unusable_metadata_is_one_line_and_nothing_is_saved(
    metadata_server: MetadataServer, document: object, message: str
) -> None:
    body = document if isinstance(document, bytes) else metadata_server.metadata(**document)
    metadata_server.serve("/.well-known/oauth-authorization-server", body)
    session = Session()
    with pytest.raises(ConfigError) as raised:
        session.save(Datasource(name="x", issuer=metadata_server.issuer, client_id="c",
                                client_auth="none"))
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert session.names() == []


def test_no_metadata_anywhere_names_both_places(metadata_server: MetadataServer) -> None:
    with pytest.raises(ConfigError, match=r"no metadata was found at .*oauth-authorization-server"
                       r".*openid-configuration"):
        Session().save(Datasource(name="x", issuer=metadata_server.issuer, client_id="c",
                                  client_auth="none"))


def test_the_magics_add_with_an_issuer_and_discover_again(
    ip: Any, clock: FakeClock, make_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider: DemoProvider = make_provider()
    magics = load(ip, session=Session(now=clock))
    ip.run_line_magic("datasource", f"add demo --issuer {provider.issuer} --client-id demo-public"
                      f" --client-auth none --base-url {provider.api_url} --no-client-secret")
    assert magics.context.session.datasource("demo").token_url == provider.token_url
    ip.run_line_magic("datasource", "discover demo")
    monkeypatch.setenv("DEMO_SECRET", "demo-basic-secret")
    ip.run_line_magic("datasource", f"add plain --token-url {provider.token_url} --grant "
                      "client_credentials --client-id demo-basic --client-secret-env DEMO_SECRET "
                      f"--base-url {provider.api_url}")
    with pytest.raises(UsageError, match="'plain' has no issuer to discover from"):
        ip.run_line_magic("datasource", "discover plain")
    unload(ip)


# -- discovery from the API (RFC 9728) -----------------------------------------------------------


def test_a_datasource_with_only_the_api_url_signs_in_and_calls_the_api(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider: DemoProvider = make_provider(token_lifetime=600)
    session = Session(now=clock)
    session.save(Datasource(name="api", base_url=provider.api_url, client_id="demo-public",
                            client_auth="none", scopes="profile"))
    saved = session.datasource("api")
    assert saved.issuer == provider.issuer and saved.resource == provider.api_url
    assert saved.token_url == provider.token_url
    connect(session, "api", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    (url,) = browser.opened
    assert "resource=" in url  # RFC 8707: the token is asked for this API
    with session.client("api") as api:
        assert api.get("/api/me").json()["sub"] == "demo-user"


def test_the_metadata_a_401_names_is_the_fallback(
    metadata_server: MetadataServer, make_provider: Any
) -> None:
    provider: DemoProvider = make_provider()
    api = metadata_server.issuer  # this server plays the API; the demo is the issuer
    named = f"{api}/meta/resource"
    metadata_server.serve("/", {"error": "unauthorized"}, status=401)
    metadata_server.headers["/"] = {"WWW-Authenticate": f'Bearer resource_metadata="{named}"'}
    metadata_server.serve("/meta/resource", {"resource": api,
                                             "authorization_servers": [provider.issuer]})
    session = Session()
    session.save(Datasource(name="x", base_url=api, client_id="demo-public", client_auth="none"))
    assert session.datasource("x").issuer == provider.issuer


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"resource": "https://other.example", "authorization_servers": ["x"]},
         "is for 'https://other.example', not"),
        ({"authorization_servers": []}, "is for 'no resource'"),
        ("RESOURCE", "names no authorization server"),
    ],
)
def test_unusable_resource_metadata_is_one_line_and_nothing_is_saved(
    metadata_server: MetadataServer, document: object, message: str
) -> None:
    api = metadata_server.issuer
    if document == "RESOURCE":
        document = {"resource": api, "authorization_servers": []}
    metadata_server.serve("/.well-known/oauth-protected-resource", document)
    session = Session()
    with pytest.raises(ConfigError) as raised:
        session.save(Datasource(name="x", base_url=api, client_id="c", client_auth="none"))
    assert message in str(raised.value) and raised.value.field == "base_url"
    assert session.names() == []


def test_an_api_without_metadata_says_what_to_give(metadata_server: MetadataServer) -> None:
    with pytest.raises(ConfigError, match="publishes no protected resource metadata.*give "
                       "token_url and authorization_url, or the issuer, or a provider preset"):
        Session().save(Datasource(name="x", base_url=metadata_server.issuer, client_id="c",
                                  client_auth="none"))


# -- dynamic client registration (RFC 7591) ------------------------------------------------------


def test_without_a_client_id_one_is_registered_once_and_the_story_runs(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    provider: DemoProvider = make_provider(token_lifetime=600)
    session = Session(now=clock)
    session.save(Datasource(name="reg", base_url=provider.api_url, scopes="profile"))
    saved = session.datasource("reg")
    assert saved.client_id and saved.client_auth == "none"
    assert saved.client_id in provider.clients  # registered at the demo provider
    assert session.store.load_secret("reg") is None  # a public client: nothing secret kept
    assert provider.counters["registrations"] == 1
    connect(session, "reg", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client("reg") as api:
        assert api.get("/api/me").json()["client_id"] == saved.client_id
    session.save(saved.replace(scopes="profile items:read"))  # edits never register again
    assert provider.counters["registrations"] == 1


def test_a_refused_or_missing_registration_is_one_line_and_nothing_is_saved(
    metadata_server: MetadataServer,
) -> None:
    base = metadata_server.issuer
    metadata_server.serve("/.well-known/oauth-authorization-server", metadata_server.metadata())
    session = Session()
    with pytest.raises(ConfigError, match="offers no dynamic registration.*redirect URI "
                       r"http://127\.0\.0\.1/callback"):
        session.save(Datasource(name="x", issuer=base))
    metadata_server.serve("/.well-known/oauth-authorization-server",
                          metadata_server.metadata(registration_endpoint=f"{base}/register"))
    with pytest.raises(ConfigError, match=r"refused to register 'x' \(HTTP 404\)"):
        session.save(Datasource(name="x", issuer=base))
    metadata_server.serve("/register", {"error": "invalid_client_metadata",
                                        "error_description": "loopback not allowed"}, status=400)
    with pytest.raises(ConfigError, match=r"refused to register 'x' \(loopback not allowed\)"):
        session.save(Datasource(name="x", issuer=base))
    assert session.names() == []


def test_the_magic_adds_with_only_the_api_url(
    ip: Any, clock: FakeClock, make_provider: Any
) -> None:
    provider: DemoProvider = make_provider()
    magics = load(ip, session=Session(now=clock))
    prompts: list[str] = []
    magics.context.prompt_secret = lambda prompt: prompts.append(prompt) or ""
    ip.run_line_magic("datasource", f"add tools --base-url {provider.api_url}")
    ds = magics.context.session.datasource("tools")
    assert ds.issuer == provider.issuer and ds.client_id in provider.clients
    assert prompts == []  # a registered public client has no secret to ask for
    unload(ip)


def test_a_discovery_failure_names_the_datasource(metadata_server: MetadataServer) -> None:
    with pytest.raises(ConfigError, match=r"^corp: issuer: no metadata was found"):
        Session().save(Datasource(name="corp", issuer=metadata_server.issuer, client_id="c",
                                  client_auth="none"))


def test_the_demo_provider_answers_openid_connect_discovery_too(make_provider: Any) -> None:
    from nb_oauth.discovery import discover

    provider: DemoProvider = make_provider()
    import httpx

    document = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    assert document["issuer"] == provider.issuer
    assert discover(provider.issuer, authorization_code=True).token_endpoint == provider.token_url


# -- the metadata, fetched again when an endpoint moved ----------------------------------------


def test_the_fetch_time_is_kept_and_shown(make_provider: Any, clock: FakeClock) -> None:
    from nb_oauth.jupyter.display import DatasourceStatus

    provider: DemoProvider = make_provider()
    session = Session(now=clock)
    session.save(Datasource(name="d", issuer=provider.issuer, client_id="demo-public",
                            client_auth="none", base_url=provider.api_url))
    assert session.datasource("d").metadata_fetched_at == clock()
    assert session.datasource("d").to_config()["metadata_fetched_at"] == clock()
    clock.advance(7200)
    assert "from the metadata, fetched 2.0 h ago" in str(DatasourceStatus.of(session, "d"))


def test_a_token_endpoint_that_moved_is_found_again_at_sign_in_and_at_refresh(
    metadata_server: MetadataServer, clock: FakeClock, browser: BrowserRobot
) -> None:
    from nb_oauth.demo.emulation import Emulation, Profile

    with Emulation(Profile(client_auth="none"), clock) as emulation:
        issuer = metadata_server.issuer
        path = "/.well-known/oauth-authorization-server"

        def publish(token_endpoint: str) -> None:
            metadata_server.serve(path, metadata_server.metadata(
                authorization_endpoint=f"{emulation.base}/authorize",
                token_endpoint=token_endpoint))

        publish(f"{issuer}/old-token")  # gone: this server answers 404 there
        session = Session(now=clock)
        session.save(Datasource(name="m", issuer=issuer, client_id=emulation.client_id,
                                client_auth="none", base_url=emulation.base))
        publish(f"{emulation.base}/token")  # where it is now
        connect(session, "m", view=QuietView(), open_url=browser, timeout=30)
        browser.join()
        assert session.datasource("m").token_url == f"{emulation.base}/token"
        assert session.store.load_tokens("m") is not None  # the code went to the new endpoint

        publish(f"{issuer}/old-token")  # moved back while the kernel runs
        session.discover("m")
        publish(f"{emulation.base}/token")
        with session.client("m") as api:
            clock.advance(3600)  # expired: the refresh meets the 404, then the new endpoint
            assert api.get("/v1/me").status_code == 200
        assert len([r for r in emulation.requests("/token")
                    if r.form.get("grant_type") == "refresh_token"]) == 1
