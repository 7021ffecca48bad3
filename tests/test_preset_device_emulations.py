"""Every preset that names a device authorization endpoint, signed in with the device grant (RFC
8628) against a local emulation of that provider's documented device behaviour
(nb_oauth/demo/emulation.py; sources in docs/provider-notes/<provider>.md, "Device grant").

As in test_preset_emulations.py, the preset is pointed at the emulation only through the endpoint
fields; what the preset itself names is checked separately against the documented URL. Time is a
fake clock: the flow's ``sleep`` moves it, and the user approves during a chosen pause."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from nb_oauth.consent.flow import connect
from nb_oauth.datasource import Datasource
from nb_oauth.demo.emulation import DEVICE_CODE_GRANT, Emulation, Logged, Profile
from nb_oauth.errors import AuthorizationDenied, ConfigError, DeviceCodeExpired, TokenError
from nb_oauth.jupyter.magics import load, unload
from nb_oauth.presets import PRESETS
from nb_oauth.session import Session
from tests.conftest import FakeClock
from tests.test_device_grant import FakeSleep, View

Check = Callable[[Emulation], None]


@dataclass(frozen=True)
class DeviceCase:
    provider: str
    #: The documented endpoint the preset must resolve to with `options`.
    endpoint: str
    profile: Profile
    check: Check
    options: dict[str, str] = field(default_factory=dict)
    scopes: str | None = None
    #: A client secret is saved (the provider wants one for this client type).
    secret: bool = False


def _polls(emulation: Emulation) -> list[Logged]:
    return [r for r in emulation.requests("/token")
            if r.form.get("grant_type") == DEVICE_CODE_GRANT]


def _device_request(emulation: Emulation) -> Logged:
    (request,) = emulation.requests("/device")
    return request


def _no_secret_anywhere(emulation: Emulation) -> None:
    for request in emulation.requests("/device") + emulation.requests("/token"):
        assert "client_secret" not in request.form and "authorization" not in request.headers
        assert request.form["client_id"] == emulation.client_id


def check_github(emulation: Emulation) -> None:
    # The device flow and the refresh of its tokens need no secret (github.md, Device grant).
    _no_secret_anywhere(emulation)
    assert _device_request(emulation).form["scope"] == "repo read:user"  # space-separated


def check_gitlab(emulation: Emulation) -> None:
    _no_secret_anywhere(emulation)
    assert _device_request(emulation).form == {"client_id": emulation.client_id,
                                               "scope": "read_user api"}


def check_google(emulation: Emulation) -> None:
    # A 'TVs and Limited Input devices' client: the secret goes with every poll.
    assert all(r.form["client_secret"] == emulation.client_secret for r in _polls(emulation))
    assert _device_request(emulation).form["scope"] == "openid email"
    # The browser sign-in's access_type and prompt are not device request parameters.
    assert "access_type" not in _device_request(emulation).form
    assert "prompt" not in _device_request(emulation).form


def check_microsoft(emulation: Emulation) -> None:
    # A public client ('Allow public client flows'); the scopes are sent again on refresh.
    _no_secret_anywhere(emulation)
    assert _device_request(emulation).form["scope"] == "offline_access User.Read"
    (refresh,) = [r for r in emulation.requests("/token")
                  if r.form.get("grant_type") == "refresh_token"]
    assert refresh.form["scope"] == "offline_access User.Read"


def check_okta(emulation: Emulation) -> None:
    _no_secret_anywhere(emulation)
    assert _device_request(emulation).form["scope"] == "openid offline_access"


def check_auth0(emulation: Emulation) -> None:
    _no_secret_anywhere(emulation)
    # The preset's audience option reaches the device code request (auth0.md, Device grant).
    assert _device_request(emulation).form["audience"] == "https://api.example.org/"


def check_keycloak(emulation: Emulation) -> None:
    # A confidential client authenticates at the device endpoint as at the token endpoint.
    for request in emulation.requests("/device") + emulation.requests("/token"):
        assert request.headers["authorization"].startswith("Basic ")
        assert "client_secret" not in request.form


CASES = [
    DeviceCase(
        "github", "https://github.com/login/device/code",
        # OAuth App or GitHub App without a secret: polling errors with HTTP 200, form-encoded
        # unless JSON is asked for, slow_down with the new interval, no verification_uri_complete.
        Profile(client_auth="none", form_unless_json_accepted=True, lifetime=8 * 3600,
                verification_complete=False, device_error_status=200, slow_down_interval=True),
        check_github, scopes="repo read:user",
    ),
    DeviceCase(
        "gitlab", "https://gitlab.example.org/oauth/authorize_device",
        Profile(client_auth="none", lifetime=7200, device_lifetime=300), check_gitlab,
        {"host": "gitlab.example.org"}, scopes="read_user api",
    ),
    DeviceCase(
        "google", "https://oauth2.googleapis.com/device/code",
        Profile(client_auth="body", verification_member="verification_url",
                verification_complete=False),
        check_google, scopes="openid email", secret=True,
    ),
    DeviceCase(
        "microsoft",
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode",
        Profile(client_auth="none", verification_complete=False,
                declined_error="authorization_declined",
                device_extra=(("message", "To sign in, open the page and enter the code."),)),
        check_microsoft, {"tenant": "contoso.onmicrosoft.com"},
    ),
    DeviceCase(
        "okta", "https://dev-1.okta.com/oauth2/default/v1/device/authorize",
        Profile(client_auth="none", device_lifetime=600), check_okta, {"domain": "dev-1.okta.com"},
    ),
    DeviceCase(
        "auth0", "https://t.eu.auth0.com/oauth/device/code",
        # Polling errors with 403, slow_down with 429 (auth0.md, Device grant).
        Profile(client_auth="none", device_error_status=403,
                device_error_statuses=(("slow_down", 429),)),
        check_auth0,
        {"domain": "t.eu.auth0.com", "audience": "https://api.example.org/"},
    ),
    DeviceCase(
        "keycloak", "https://sso.example.org/realms/lab/protocol/openid-connect/auth/device",
        Profile(lifetime=300), check_keycloak, {"host": "sso.example.org", "realm": "lab"},
        secret=True,
    ),
]


@pytest.fixture
def emulations() -> Iterator[list[Emulation]]:
    started: list[Emulation] = []
    yield started
    for emulation in started:
        emulation.close()


def _session(case: DeviceCase, emulation: Emulation, clock: FakeClock) -> Session:
    base = emulation.base
    fields: dict[str, Any] = {
        "name": case.provider, "provider": case.provider, "provider_options": case.options,
        "grant": "device_code", "client_id": emulation.client_id,
        # The only overrides: the endpoints and the API, pointed at the emulation.
        "token_url": f"{base}/token", "device_authorization_url": f"{base}/device",
        "base_url": base,
    }
    if case.scopes:
        fields["scopes"] = case.scopes
    session = Session(now=clock)
    session.save(Datasource(**fields),
                 client_secret=emulation.client_secret if case.secret else None)
    return session


def _approve_during(
    emulation: Emulation, pause: int, approve: bool = True
) -> Callable[[int], None]:
    def then(n: int) -> None:
        if n == pause:
            emulation.approve_device(approve)

    return then


def test_every_preset_with_a_device_endpoint_has_a_device_story() -> None:
    with_endpoint = [name for name, preset in PRESETS.items()
                     if "device_authorization_url" in preset.defaults]
    assert sorted(case.provider for case in CASES) == sorted(with_endpoint)


@pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])
def test_the_preset_names_the_documented_device_endpoint(case: DeviceCase) -> None:
    ds = Datasource(name="d", provider=case.provider, provider_options=case.options,
                    grant="device_code", client_id="an-app")
    assert ds.device_authorization_url == case.endpoint
    assert case.endpoint.startswith("https://")


@pytest.mark.parametrize("case", CASES, ids=[case.provider for case in CASES])
def test_the_device_sign_in_against_the_emulated_provider(
    case: DeviceCase, clock: FakeClock, emulations: list[Emulation]
) -> None:
    emulation = Emulation(case.profile, clock)
    emulations.append(emulation)
    session = _session(case, emulation, clock)
    view, opened = View(), []
    sleep = FakeSleep(clock, _approve_during(emulation, 3))

    result = connect(session, case.provider, view=view,
                     open_url=lambda url: opened.append(url) or True, sleep=sleep)

    # Pending, pending, approved during the third pause: three polls at the announced interval.
    interval = case.profile.device_interval
    assert sleep.pauses == [interval] * 3 and len(_polls(emulation)) == 3
    assert str(result).endswith("(signed in via a device code)")
    shown = view.shown[0]
    page = f"{emulation.base}/activate"
    assert (shown.user_code, shown.verification_uri) == ("WDJB-MJHT", page)
    # The page with the code filled in when the provider gives one (RFC 8628 §3.3.1).
    assert opened == [f"{page}?user_code=WDJB-MJHT" if case.profile.verification_complete
                      else page]
    with session.client(case.provider) as api:
        assert api.get("/v1/me").json() == {"user": "emulated"}
        clock.advance(case.profile.lifetime)  # expired: the next call renews first
        assert api.get("/v1/me").status_code == 200
    assert len([r for r in emulation.requests("/token")
                if r.form.get("grant_type") == "refresh_token"]) == 1
    # nb_oauth asks every endpoint for JSON (GitHub answers a form otherwise).
    requests = emulation.requests("/device") + emulation.requests("/token")
    assert all(r.headers["accept"] == "application/json" for r in requests)
    case.check(emulation)


def test_github_answers_forms_and_errors_with_200_unless_json_is_asked_for(
    clock: FakeClock, emulations: list[Emulation]
) -> None:
    # The emulation's own fidelity (github.md, Device grant): without Accept: application/json
    # both the device answer and a pending poll are form-encoded, and the poll's error is a 200.
    (case,) = [c for c in CASES if c.provider == "github"]
    emulation = Emulation(case.profile, clock)
    emulations.append(emulation)
    with httpx.Client(base_url=emulation.base) as http:
        device = http.post("/device", data={"client_id": emulation.client_id})
        assert device.headers["content-type"] == "application/x-www-form-urlencoded"
        code = dict(httpx.QueryParams(device.text))["device_code"]
        poll = http.post("/token", data={"client_id": emulation.client_id, "device_code": code,
                                         "grant_type": DEVICE_CODE_GRANT})
    assert poll.status_code == 200 and poll.text == "error=authorization_pending"


@pytest.mark.parametrize("provider", ["github", "auth0"])
def test_slow_down_in_the_providers_shape_adds_five_seconds(
    provider: str, clock: FakeClock, emulations: list[Emulation]
) -> None:
    # The provider enforces a longer interval than it announced. GitHub's slow_down comes with
    # HTTP 200 and states the new interval, Auth0's with HTTP 429; either way nb_oauth adds 5 s
    # for this and every later poll (RFC 8628 §3.5).
    (case,) = [c for c in CASES if c.provider == provider]
    profile = Profile(**{**case.profile.__dict__, "device_interval": 2, "device_min_interval": 5})
    emulation = Emulation(profile, clock)
    emulations.append(emulation)
    session = _session(case, emulation, clock)
    sleep = FakeSleep(clock, _approve_during(emulation, 4))
    connect(session, provider, view=View(), open_url=lambda url: False, sleep=sleep)
    # 2 (pending), 2 (too soon: slow_down, interval 7), then 7 each: pending, approved.
    assert sleep.pauses == [2, 2, 7, 7]
    assert len(_polls(emulation)) == 4


def test_google_needs_its_secret_when_polling(
    clock: FakeClock, emulations: list[Emulation]
) -> None:
    # Without the 'TVs and Limited Input devices' client's secret the device code is issued but
    # the poll is refused: one typed error, nothing stored.
    (case,) = [c for c in CASES if c.provider == "google"]
    emulation = Emulation(case.profile, clock)
    emulations.append(emulation)
    session = _session(DeviceCase(**{**case.__dict__, "secret": False}), emulation, clock)
    with pytest.raises(TokenError, match="invalid_client"):
        connect(session, "google", view=View(), open_url=lambda url: False,
                sleep=FakeSleep(clock, _approve_during(emulation, 1)))
    assert len(emulation.requests("/device")) == 1
    assert session.store.load_tokens("google") is None


def test_microsofts_authorization_declined_ends_the_sign_in_in_one_line(
    clock: FakeClock, emulations: list[Emulation]
) -> None:
    # Microsoft says authorization_declined, not RFC 8628's access_denied: the same typed error
    # (the user said no), with the provider's code in its one line; nothing is stored.
    (case,) = [c for c in CASES if c.provider == "microsoft"]
    emulation = Emulation(case.profile, clock)
    emulations.append(emulation)
    session = _session(case, emulation, clock)
    view = View()
    with pytest.raises(AuthorizationDenied, match="authorization_declined") as caught:
        connect(session, "microsoft", view=view, open_url=lambda url: False,
                sleep=FakeSleep(clock, _approve_during(emulation, 2, approve=False)))
    assert "\n" not in str(caught.value)
    assert view.events == ["waiting", "ended"] and len(_polls(emulation)) == 2
    assert session.store.load_tokens("microsoft") is None


def test_an_unapproved_code_expires_at_the_providers_lifetime(
    clock: FakeClock, emulations: list[Emulation]
) -> None:
    # Okta's device codes live 600 s (okta.md): nobody approves, and with a longer timeout the
    # wait ends then, on the provider's expired_token.
    (case,) = [c for c in CASES if c.provider == "okta"]
    emulation = Emulation(case.profile, clock)
    emulations.append(emulation)
    session = _session(case, emulation, clock)
    sleep = FakeSleep(clock)
    with pytest.raises(DeviceCodeExpired):
        connect(session, "okta", view=View(), open_url=lambda url: False, timeout=900,
                sleep=sleep)
    assert sum(sleep.pauses) == 600 and len(_polls(emulation)) == 120
    assert emulation.pending_user_codes == ["WDJB-MJHT"]


@pytest.mark.parametrize("provider", sorted(
    name for name, preset in PRESETS.items() if "device_authorization_url" not in preset.defaults
))
def test_a_preset_without_a_device_endpoint_refuses_the_device_grant_in_one_line(
    provider: str,
) -> None:
    options = {option.name: "example" for option in PRESETS[provider].options
               if option.default is None}
    with pytest.raises(ConfigError) as caught:
        Datasource(name="d", provider=provider, provider_options=options, grant="device_code",
                   client_id="an-app")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("device_authorization_url: ")
    assert f"the {provider} preset has none" in message
    # The authorization code grant still works with the same preset.
    assert Datasource(name="d", provider=provider, provider_options=options,
                      client_id="an-app").device_authorization_url is None


def test_the_magic_adds_a_device_grant_datasource_from_a_preset_alone(
    ip: Any, clock: FakeClock
) -> None:
    # What the user types: the preset gives the device endpoint, nothing else is needed; a preset
    # without one says so in one line, and nothing is saved.
    magics = load(ip, session=Session(now=clock))
    try:
        ip.run_line_magic("datasource", "add gh --provider github --grant device_code "
                          "--client-id Iv1.abc --no-client-secret")
        ds = magics.context.session.datasource("gh")
        assert ds.grant == "device_code"
        assert ds.device_authorization_url == "https://github.com/login/device/code"
        assert "device_authorization_url" not in ds.to_config()  # the preset's, not the user's
        with pytest.raises(UsageError, match="device_authorization_url") as caught:
            ip.run_line_magic("datasource", "add sp --provider spotify --grant device_code "
                              "--client-id c --no-client-secret")
        assert "\n" not in str(caught.value)
        assert "sp" not in magics.context.session.names()
        with capture_output() as shown:
            ip.run_line_magic("datasource", "providers github")
        assert "Enable Device Flow" in shown.stdout
    finally:
        unload(ip)
