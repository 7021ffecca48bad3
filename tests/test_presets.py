"""Provider presets (SPEC section 10): data that fills a datasource's defaults, options checked,
the user's fields win, and the config file keeps only what the user gave."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import nb_oauth
from nb_oauth import presets
from nb_oauth.consent.flow import connect
from nb_oauth.datasource import Datasource
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ConfigError
from nb_oauth.jupyter.magics import load, unload
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock, QuietView


def test_providers_lists_every_preset_with_a_description_and_its_sources() -> None:
    listed = nb_oauth.providers()
    assert set(listed) == {
        "atlassian", "auth0", "dropbox", "github", "gitlab", "google", "hubspot", "keycloak",
        "microsoft", "notion", "okta", "salesforce", "slack", "spotify", "strava", "xero", "zoho",
    }  # the 17 presets of the product's provider list
    assert all(text for text in listed.values())
    for preset in presets.PRESETS.values():
        assert preset.docs and all(url.startswith("https://") for url in preset.docs)
        assert preset.register.startswith("https://")


def test_a_preset_fills_the_defaults_and_the_users_fields_win() -> None:
    ds = Datasource(name="gh", provider="github", client_id="Iv1.abc")
    assert ds.token_url == "https://github.com/login/oauth/access_token"
    assert ds.base_url == "https://api.github.com"
    assert ds.headers["X-GitHub-Api-Version"]
    mine = Datasource(name="gh", provider="github", client_id="Iv1.abc",
                      token_url="http://127.0.0.1:9/token", scopes="repo")
    assert mine.token_url == "http://127.0.0.1:9/token"  # endpoints can point at a test server
    assert mine.scopes == ("repo",)
    assert mine.authorization_url == "https://github.com/login/oauth/authorize"


@pytest.mark.parametrize(
    ("provider", "options", "field", "value"),
    [
        ("microsoft", {}, "token_url",
         "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"),
        ("microsoft", {"tenant": "contoso.onmicrosoft.com"}, "authorization_url",
         "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"),
        ("gitlab", {"host": "git.example.org"}, "base_url", "https://git.example.org/api/v4"),
        ("zoho", {"region": "eu"}, "token_url", "https://accounts.zoho.eu/oauth/v2/token"),
        ("zoho", {}, "header_prefix", "Zoho-oauthtoken"),
        ("keycloak", {"host": "sso.example.org", "realm": "lab"}, "issuer",
         "https://sso.example.org/realms/lab"),
        ("okta", {"domain": "dev-1.okta.com"}, "token_url",
         "https://dev-1.okta.com/oauth2/default/v1/token"),
        ("auth0", {"domain": "t.eu.auth0.com", "audience": "https://api.example/"}, "auth_params",
         {"audience": "https://api.example/"}),
        ("dropbox", {}, "auth_params", {"token_access_type": "offline"}),
        ("atlassian", {}, "auth_params", {"audience": "api.atlassian.com", "prompt": "consent"}),
        ("notion", {}, "body_encoding", "json"),
    ],
)
def test_options_fill_the_templates(
    provider: str, options: dict[str, str], field: str, value: object
) -> None:
    ds = Datasource(name="x", provider=provider, provider_options=options, client_id="c")
    got = getattr(ds, field)
    assert (dict(got) if isinstance(value, dict) else got) == value


@pytest.mark.parametrize(
    ("provider", "options", "message"),
    [
        ("nope", {}, "'nope' is not a preset; use one of atlassian, auth0, dropbox, github"),
        ("gitlab", {"tenant": "x"}, "gitlab has no option 'tenant'; its options are: host"),
        ("keycloak", {"host": "sso.example.org"}, "keycloak needs the option realm"),
        ("zoho", {"region": "mars"}, "use one of us, eu, in, au, jp, ca, sa, uk, cn"),
        ("gitlab", {"host": "https://git.example.org/x"}, "is not a plain name"),
    ],
)
def test_bad_preset_input_is_one_line_that_lists_what_is_valid(
    provider: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Datasource(name="x", provider=provider, provider_options=options, client_id="c")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_config_keeps_the_preset_and_the_users_fields_so_a_corrected_preset_reaches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ds = Datasource(name="g", provider="gitlab", client_id="c", scopes="read_api")
    config = ds.to_config()
    assert config == {"name": "g", "provider": "gitlab", "provider_options": {},
                      "client_id": "c", "scopes": ["read_api"]}
    corrected = dict(presets.PRESETS)
    old = corrected["gitlab"]
    corrected["gitlab"] = presets.Preset(
        old.name, old.description, old.docs, old.register,
        {**old.defaults, "base_url": "https://{host}/api/v5"}, old.options,
    )
    monkeypatch.setattr(presets, "PRESETS", corrected)
    again = Datasource.from_config(config)
    assert again.base_url == "https://gitlab.com/api/v5"
    assert again.replace(refresh_leeway=30.0).to_config()["refresh_leeway"] == 30.0
    assert "base_url" not in again.replace(refresh_leeway=30.0).to_config()


def test_a_preset_pointed_at_the_demo_provider_runs_the_story(
    make_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    # Keycloak's preset, its endpoints overridden to a local server, as a test rig would.
    provider: DemoProvider = make_provider(token_lifetime=600)
    session = Session(now=clock)
    ds = Datasource(
        name="kc", provider="keycloak",
        provider_options={"host": "sso.example.org", "realm": "lab"},
        token_url=provider.token_url, authorization_url=provider.authorization_url,
        issuer=provider.issuer, revocation_url=provider.revocation_url,
        base_url=provider.api_url, client_id="demo-basic", scopes="profile",
    )
    session.save(ds, client_secret=provider.clients["demo-basic"].client_secret)
    connect(session, "kc", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client("kc") as api:
        assert api.get("/api/me").json()["sub"] == "demo-user"
    clock.advance(600)
    with session.client("kc") as api:
        assert api.get("/api/me").status_code == 200
    assert provider.counters["token:refresh_token"] == 1
    assert session.datasource("kc").provider == "keycloak"


def test_the_magics_take_a_preset_and_list_them(
    ip: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    magics = load(ip, session=Session(now=clock))
    monkeypatch.setenv("GH_SECRET", "s3cret")
    ip.run_line_magic(
        "datasource", "add gh --provider github --client-id Iv1.abc --client-secret-env GH_SECRET"
    )
    ds = magics.context.session.datasource("gh")
    assert ds.provider == "github" and ds.base_url == "https://api.github.com"
    ip.run_line_magic("datasource", "add graph --provider microsoft --provider-option "
                      "tenant=contoso.onmicrosoft.com --client-id x --no-client-secret")
    assert "contoso.onmicrosoft.com" in magics.context.session.datasource("graph").token_url
    with capture_output() as shown:
        ip.run_line_magic("datasource", "providers")
        ip.run_line_magic("datasource", "providers zoho")
    assert "github" in shown.stdout and "region (default us)" in shown.stdout
    with pytest.raises(UsageError, match="not a preset"):
        ip.run_line_magic("datasource", "add x --provider nope --client-id c --no-client-secret")
    unload(ip)


def test_presets_load_only_when_a_datasource_names_one() -> None:
    code = (
        "import sys, nb_oauth\n"
        "nb_oauth.Datasource(name='a', token_url='https://as.example/t', client_id='c',\n"
        "                    authorization_url='https://as.example/a')\n"
        "print('nb_oauth.presets' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_presets_scope_separator_is_used_on_the_wire() -> None:
    # Strava and Zoho want comma-separated scopes (docs/provider-notes/strava.md, zoho.md).
    from nb_oauth.consent.request import AuthorizationRequest
    from nb_oauth.grants.token_requests import client_credentials_request
    from nb_oauth.secret import Secret

    strava = Datasource(name="s", provider="strava", client_id="c",
                        scopes="read,activity:read_all")
    assert strava.scope_string == "read,activity:read_all"
    url = AuthorizationRequest(strava, "http://127.0.0.1:5/callback").url
    assert "scope=read%2Cactivity%3Aread_all" in url
    plain = Datasource(name="p", grant="client_credentials", token_url="https://as.example/t",
                       client_id="c", scopes="a b")
    assert plain.scope_string == "a b" and plain.quirks.scope_separator == " "
    request = client_credentials_request(plain, Secret("s"))
    assert b"scope=a+b" in request.body


def test_microsofts_templated_issuer_accepts_one_tenants_issuer_and_only_that_shape() -> None:
    # docs/provider-notes/microsoft.md: common/organizations metadata states
    # https://login.microsoftonline.com/{tenantid}/v2.0; responses name the user's tenant.
    from nb_oauth.consent.request import AuthorizationRequest, IssuerMismatch

    ds = Datasource(name="graph", provider="microsoft", client_id="c")
    assert ds.issuer == "https://login.microsoftonline.com/organizations/v2.0"
    quirks = ds.quirks
    tenant = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    assert quirks.issuer_matches(ds.issuer, tenant)
    assert quirks.issuer_matches(ds.issuer, ds.issuer)
    for wrong in ("https://login.microsoftonline.com/evil.example/v2.0",
                  "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0/x",
                  "https://evil.example/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", None):
        assert not quirks.issuer_matches(ds.issuer, wrong)
    request = AuthorizationRequest(ds, "http://127.0.0.1:5/callback")
    assert request.check_response(f"code=abc&state={request.state}&iss={tenant}").reveal() == "abc"
    with pytest.raises(IssuerMismatch):
        request.check_response(f"code=abc&state={request.state}&iss=https://evil.example/")
    plain = Datasource(name="p", token_url="https://as.example/t", client_id="c",
                       authorization_url="https://as.example/a", issuer="https://as.example")
    assert not plain.quirks.issuer_matches("https://as.example", tenant)
