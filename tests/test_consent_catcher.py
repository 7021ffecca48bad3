"""The loopback catcher and the authorization-response validator (SECURITY.md sections A and B).

A thread plays the browser with real HTTP requests to the catcher on 127.0.0.1.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from nb_oauth.consent import catcher as catcher_module
from nb_oauth.consent.catcher import LoopbackCatcher
from nb_oauth.consent.request import AuthorizationRequest, IgnoredResponse, IssuerMismatch
from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    AuthorizationDenied,
    AuthorizationError,
    CallbackTimeout,
    PortInUse,
    StateMismatch,
)
from nb_oauth.grants.pkce import s256

ISSUER = "https://as.example"


def datasource(**overrides: object) -> Datasource:
    fields: dict[str, object] = {
        "name": "crm",
        "token_url": "https://as.example/token",
        "authorization_url": "https://as.example/authorize",
        "client_id": "client-1",
        "scopes": "read,write",
        **overrides,
    }
    return Datasource(**fields)  # type: ignore[arg-type]


class Browser:
    """Sends GETs to the catcher from another thread, like a browser tab would."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []
        self._threads: list[threading.Thread] = []

    def visit(self, *urls: str, headers: dict[str, str] | None = None) -> None:
        def run() -> None:
            for url in urls:
                self.responses.append(httpx.get(url, headers=headers))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self) -> list[httpx.Response]:
        for thread in self._threads:
            thread.join(timeout=10)
        return self.responses


@pytest.fixture
def browser() -> Browser:
    return Browser()


@pytest.fixture
def catcher() -> Iterator[LoopbackCatcher]:
    with LoopbackCatcher() as c:
        yield c


def flow(catcher: LoopbackCatcher, **ds_overrides: object) -> AuthorizationRequest:
    request = AuthorizationRequest(datasource(**ds_overrides), catcher.redirect_uri)
    catcher.expect(request)
    return request


def callback(request: AuthorizationRequest, **params: str) -> str:
    return f"{request.redirect_uri}?{urlencode(params)}"


def ticking_clock(step: float = 1.0) -> Callable[[], float]:
    """A clock that moves ``step`` seconds each time it is read: deadlines pass without sleeping."""
    now = [0.0]

    def read() -> float:
        now[0] += step
        return now[0]

    return read


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def catcher_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("nb_oauth-catcher")]


# -- A. the catcher -----------------------------------------------------------------------------


def test_binds_the_ipv4_loopback_literal_on_an_ephemeral_port(catcher: LoopbackCatcher) -> None:
    # SEC-1, SEC-2
    assert catcher._server is not None
    assert catcher._server.socket.getsockname()[0] == "127.0.0.1"
    assert catcher.redirect_uri == f"http://127.0.0.1:{catcher.port}/callback"
    assert catcher.port > 0


def test_falls_back_to_ipv6_loopback_when_ipv4_cannot_bind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SEC-1
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")

    class NoIPv4(catcher_module._CatcherServer):
        def server_bind(self) -> None:
            raise OSError(errno.EADDRNOTAVAIL, "no IPv4 loopback")

    monkeypatch.setattr(catcher_module, "_CatcherServer", NoIPv4)
    try:
        with LoopbackCatcher() as c:
            assert c.redirect_uri.startswith("http://[::1]:")
            assert c.redirect_uri.endswith("/callback")
    except PortInUse:  # pragma: no cover
        pytest.fail("an unavailable address is not a busy port")
    except OSError:
        pytest.skip("::1 cannot be bound in this sandbox")


def test_busy_fixed_port_raises_port_in_use_at_once() -> None:
    # SEC-2: before any browser could be opened.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse, match=str(port)):
            LoopbackCatcher(port=port).__enter__()


def test_fixed_free_port_is_used_as_given() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LoopbackCatcher(port=port) as c:
        assert c.redirect_uri == f"http://127.0.0.1:{port}/callback"


def test_valid_callback_returns_the_code_and_shows_a_safe_page(
    catcher: LoopbackCatcher, browser: Browser
) -> None:
    request = flow(catcher)
    browser.visit(callback(request, code="the-code-123", state=request.state))
    assert catcher.wait(timeout=10).reveal() == "the-code-123"
    (page,) = browser.join()
    assert page.status_code == 200
    # SEC-7: static page, no code, no links, no-store, no-referrer, no CORS.
    assert "the-code-123" not in page.text
    assert request.state not in page.text
    assert "http" not in page.text.split("<body", 1)[1]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "access-control-allow-origin" not in page.headers


def test_stray_requests_neither_consume_nor_end_the_flow(
    catcher: LoopbackCatcher, browser: Browser
) -> None:
    # SEC-4
    request = flow(catcher)
    base = f"http://127.0.0.1:{catcher.port}"
    browser.visit(
        f"{base}/favicon.ico",
        f"{base}/",
        f"{base}/cb?code=x&state={request.state}",
        callback(request, code="good", state=request.state),
        callback(request, code="late", state=request.state),
    )
    assert catcher.wait(timeout=10).reveal() == "good"
    statuses = [r.status_code for r in browser.join()]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3] == 200
    assert statuses[4] == 410  # SEC-8: a replay after success changes nothing


@pytest.mark.parametrize(
    "bad", [{"code": "x", "state": "bogus"}, {"code": "x"}, {"error": "server_error"}]
)
def test_wrong_or_missing_state_is_refused_and_the_wait_goes_on(
    catcher: LoopbackCatcher, browser: Browser, bad: dict[str, str]
) -> None:
    # SEC-5, SEC-17: even an error response needs the right state.
    request = flow(catcher)
    browser.visit(callback(request, **bad), callback(request, code="good", state=request.state))
    assert catcher.wait(timeout=10).reveal() == "good"
    first, second = browser.join()
    assert first.status_code == 400
    assert second.status_code == 200


def test_only_bad_state_responses_end_in_state_mismatch(browser: Browser) -> None:
    # SEC-5
    with LoopbackCatcher(now=ticking_clock()) as c:
        request = flow(c)
        browser.visit(callback(request, code="x", state="bogus"))
        browser.join()
        with pytest.raises(StateMismatch):
            c.wait(timeout=3)


def test_foreign_host_header_is_forbidden_and_the_wait_goes_on(
    catcher: LoopbackCatcher, browser: Browser
) -> None:
    # SEC-6: DNS rebinding
    request = flow(catcher)
    good = callback(request, code="good", state=request.state)
    browser.visit(good, headers={"Host": f"evil.example:{catcher.port}"})
    browser.join()
    browser.visit(good)
    assert catcher.wait(timeout=10).reveal() == "good"
    forbidden, ok = browser.join()
    assert forbidden.status_code == 403
    assert ok.status_code == 200


def test_error_description_is_escaped_on_the_landing_page(
    catcher: LoopbackCatcher, browser: Browser
) -> None:
    # SEC-7, SEC-17
    request = flow(catcher)
    browser.visit(
        callback(
            request,
            error="invalid_scope",
            error_description="<script>alert(1)</script> Tom & Jerry",
            state=request.state,
        )
    )
    with pytest.raises(AuthorizationError) as raised:
        catcher.wait(timeout=10)
    assert raised.value.error == "invalid_scope"
    (page,) = browser.join()
    assert "<script" not in page.text
    assert "Tom &amp; Jerry" in page.text  # reflected text is HTML-escaped
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_access_denied_raises_authorization_denied(
    catcher: LoopbackCatcher, browser: Browser
) -> None:
    # SEC-17
    request = flow(catcher)
    browser.visit(callback(request, error="access_denied", state=request.state))
    with pytest.raises(AuthorizationDenied) as raised:
        catcher.wait(timeout=10)
    assert raised.value.error == "access_denied"


def test_deadline_raises_callback_timeout_naming_the_paste_path() -> None:
    # SEC-9: the clock is injected, nothing sleeps for the deadline.
    with LoopbackCatcher(now=ticking_clock()) as c:
        flow(c)
        with pytest.raises(CallbackTimeout, match="--paste"):
            c.wait(timeout=2)


@pytest.mark.parametrize("exit_cause", ["success", "error", "timeout", "interrupt", "exception"])
def test_port_is_closed_and_thread_gone_on_every_exit_path(
    browser: Browser, monkeypatch: pytest.MonkeyPatch, exit_cause: str
) -> None:
    # SEC-3
    catcher = LoopbackCatcher(now=ticking_clock())
    with pytest.raises(Exception) if exit_cause != "success" else _nothing():  # noqa: B017
        with catcher:
            request = flow(catcher)
            if exit_cause == "success":
                browser.visit(callback(request, code="c", state=request.state))
            elif exit_cause == "error":
                browser.visit(callback(request, error="access_denied", state=request.state))
            elif exit_cause == "interrupt":
                monkeypatch.setattr(catcher._done, "wait", _raise(KeyboardInterrupt))
            elif exit_cause == "exception":
                raise RuntimeError("something else went wrong")
            browser.join()
            try:
                catcher.wait(timeout=30 if exit_cause in ("success", "error") else 2)
            except KeyboardInterrupt:
                raise RuntimeError("interrupted") from None
    assert port_is_closed(catcher.port)
    assert catcher_threads() == []


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _raise(exc: type[BaseException]) -> Callable[..., bool]:
    def raiser(*args: object) -> bool:
        raise exc()

    return raiser


def test_request_for_another_catcher_is_refused(catcher: LoopbackCatcher) -> None:
    # SEC-10: each flow has its own port; a request bound elsewhere cannot be attached.
    other = AuthorizationRequest(datasource(), "http://127.0.0.1:1/callback")
    with pytest.raises(ValueError):
        catcher.expect(other)


def test_concurrent_flows_reject_each_others_responses(browser: Browser) -> None:
    # SEC-10: A's code delivered to B's catcher is refused; each gets its own.
    with LoopbackCatcher() as a, LoopbackCatcher() as b:
        flow_a, flow_b = flow(a, name="a"), flow(b, name="b")
        assert a.port != b.port
        browser.visit(
            f"{b.redirect_uri}?{urlencode({'code': 'for-a', 'state': flow_a.state})}",
            callback(flow_b, code="for-b", state=flow_b.state),
            callback(flow_a, code="for-a", state=flow_a.state),
        )
        assert b.wait(timeout=10).reveal() == "for-b"
        assert a.wait(timeout=10).reveal() == "for-a"
        assert [r.status_code for r in browser.join()] == [400, 200, 200]


# -- B. the authorization request ---------------------------------------------------------------


def test_authorization_url_has_pkce_s256_state_and_space_joined_scope() -> None:
    # SEC-13, SEC-14, RFC 6749 §3.3
    request = AuthorizationRequest(datasource(), "http://127.0.0.1:5000/callback")
    query = parse_qs(urlsplit(request.url).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["client-1"]
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/callback"]
    assert query["scope"] == ["read write"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [s256(request.pkce.code_verifier.reveal())]
    assert query["state"] == [request.state]
    assert len(request.state) >= 22


def test_every_request_gets_a_fresh_state_and_verifier() -> None:
    uri = "http://127.0.0.1:1/callback"
    requests = [AuthorizationRequest(datasource(), uri) for _ in range(50)]
    assert len({r.state for r in requests}) == 50
    assert len({r.pkce.code_challenge for r in requests}) == 50


def test_auth_params_are_encoded_and_cannot_inject_parameters() -> None:
    # SEC-19
    ds = datasource(auth_params={"prompt": "a&state=evil#x", "login_hint": "zoë"})
    request = AuthorizationRequest(ds, "http://127.0.0.1:1/callback")
    query = parse_qs(urlsplit(request.url).query)
    assert query["state"] == [request.state]
    assert query["prompt"] == ["a&state=evil#x"]
    assert query["login_hint"] == ["zoë"]
    assert urlsplit(request.url).fragment == ""


def test_authorization_url_keeps_an_existing_query() -> None:
    ds = datasource(authorization_url="https://as.example/authorize?tenant=t1")
    url = AuthorizationRequest(ds, "http://127.0.0.1:1/callback").url
    assert url.startswith("https://as.example/authorize?tenant=t1&")


def test_request_repr_shows_no_state_or_verifier() -> None:
    request = AuthorizationRequest(datasource(), "http://127.0.0.1:1/callback")
    text = repr(request)
    assert request.state not in text
    assert request.pkce.code_verifier.reveal() not in text


@pytest.mark.parametrize("require_iss", [True, False])
@pytest.mark.parametrize(
    ("iss", "accepted_when_optional"),
    [(ISSUER, True), ("https://evil.example", False), (ISSUER + "/", False), (None, True)],
)
def test_iss_matrix(require_iss: bool, iss: str | None, accepted_when_optional: bool) -> None:
    # SEC-15: wrong and trailing-slash always refused; absent refused only when required.
    request = AuthorizationRequest(
        datasource(issuer=ISSUER), "http://127.0.0.1:1/callback", require_iss=require_iss
    )
    params = {"code": "c", "state": request.state}
    if iss is not None:
        params["iss"] = iss
    accepted = accepted_when_optional and not (require_iss and iss is None)
    if accepted:
        assert request.check_response(urlencode(params)).reveal() == "c"
    else:
        with pytest.raises(IssuerMismatch):
            request.check_response(urlencode(params))


def test_iss_is_checked_on_error_responses_too() -> None:
    # SEC-15: "do not assume the error came from the intended server".
    request = AuthorizationRequest(datasource(issuer=ISSUER), "http://127.0.0.1:1/callback")
    query = urlencode({"error": "access_denied", "state": request.state, "iss": "https://x"})
    with pytest.raises(IssuerMismatch):
        request.check_response(query)


def test_repeated_parameters_are_refused() -> None:
    request = AuthorizationRequest(datasource(), "http://127.0.0.1:1/callback")
    query = f"code=a&code=b&state={request.state}"
    with pytest.raises(IgnoredResponse):
        request.check_response(query)


# -- the paste path (remote kernels) ------------------------------------------------------------


def test_pasted_url_goes_through_the_same_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    # SEC-11: paste and catcher share check_response.
    request = AuthorizationRequest(datasource(issuer=ISSUER), "http://127.0.0.1:7/callback")
    calls: list[str] = []
    original = AuthorizationRequest.check_response

    def spy(self: AuthorizationRequest, query: str) -> object:
        calls.append(query)
        return original(self, query)

    monkeypatch.setattr(AuthorizationRequest, "check_response", spy)
    good = callback(request, code="pasted", state=request.state, iss=ISSUER)
    assert request.code_from_pasted_url(f"  {good}\n").reveal() == "pasted"
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code": "c", "state": "bogus"}, StateMismatch),
        ({"code": "c"}, StateMismatch),
        ({"code": "c", "state": "OURS", "iss": "https://evil.example"}, IssuerMismatch),
        ({"error": "access_denied", "state": "OURS", "iss": ISSUER}, AuthorizationDenied),
    ],
)
def test_pasted_url_is_validated_like_a_callback(
    params: dict[str, str], error: type[Exception]
) -> None:
    # SEC-11
    request = AuthorizationRequest(datasource(issuer=ISSUER), "http://127.0.0.1:7/callback")
    params = {k: request.state if v == "OURS" else v for k, v in params.items()}
    with pytest.raises(error):
        request.code_from_pasted_url(callback(request, **params))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8/callback?code=c",
        "http://127.0.0.1:7/other?code=c",
        "https://127.0.0.1:7/callback?code=c",
        "http://localhost:7/callback?code=c",
        "not a url",
    ],
)
def test_pasted_url_must_be_this_sign_ins_redirect(url: str) -> None:
    request = AuthorizationRequest(datasource(), "http://127.0.0.1:7/callback")
    with pytest.raises(IgnoredResponse, match="http://127.0.0.1:7/callback"):
        request.code_from_pasted_url(url.replace("code=c", f"code=c&state={request.state}"))
