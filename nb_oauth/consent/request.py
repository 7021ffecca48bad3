"""One authorization request (RFC 6749 §4.1.1) and the one validator for its response (§4.1.2).

Both ways a response can come back, the loopback catcher and a URL the user pastes, go through
:meth:`AuthorizationRequest.check_response`, so neither path is weaker than the other
(security.md#remote-kernels-and-browsers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    AuthorizationError,
    NbOAuthError,
    StateMismatch,
    authorization_error_from_response,
)
from nb_oauth.grants.pkce import PkcePair, new_pkce, new_state, state_matches
from nb_oauth.secret import Secret

__all__ = ["AuthorizationRequest", "IgnoredResponse", "IssuerMismatch", "WrongState"]


class IgnoredResponse(NbOAuthError):
    """A response that cannot be acted on: malformed, or not for this sign-in.

    The catcher answers it with an error page and keeps waiting
    (security.md#state-pkce-and-the-redirect-uri); the paste path reports it.
    """


class WrongState(IgnoredResponse):
    """The response's ``state`` is missing or is not this sign-in's (RFC 6749 §10.12)."""

    def __init__(self) -> None:
        super().__init__("the response's state is not this sign-in's")


class IssuerMismatch(AuthorizationError):
    """The response's ``iss`` is not the issuer this request was sent to (RFC 9207 §2.4,
    security.md#checking-the-authorization-response)."""

    def __init__(self, expected: str, received: str | None) -> None:
        self.expected = expected
        self.received = received
        got = "no iss" if received is None else f"iss={received!r}"
        NbOAuthError.__init__(
            self,
            f"Authorization response refused: it carried {got}, but this sign-in was sent to "
            f"issuer {expected!r} (RFC 9207 mix-up defence). No token was requested; check the "
            "datasource's issuer and authorization_url, then connect again",
        )
        self.error = "issuer_mismatch"
        self.error_description = None
        self.error_uri = None


@dataclass(frozen=True)
class AuthorizationRequest:
    """The per-sign-in values: fresh ``state`` and PKCE pair, redirect URI, expected issuer.

    ``require_iss`` is true when the server advertises RFC 9207 support
    (``authorization_response_iss_parameter_supported``): a response without ``iss`` is refused.
    ``request_uri`` is set once the parameters were pushed (RFC 9126, `nb_oauth.consent.par`):
    the browser then gets only ``client_id`` and ``request_uri``. With DPoP, ``dpop_key`` is the
    datasource's new key, made here: the request names it (``dpop_jkt``, RFC 9449 §10) so the code
    can only be redeemed with it, and the code redemption proves it.
    """

    datasource: Datasource
    redirect_uri: str
    state: str = field(default_factory=new_state, repr=False)
    pkce: PkcePair = field(default_factory=new_pkce, repr=False)
    require_iss: bool = False
    request_uri: str | None = None
    dpop_key: Secret | None = field(default=None, repr=False)
    _dpop_jkt: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.datasource.dpop:
            return
        from nb_oauth.grants.dpop import load_dpop_key, new_dpop_key

        key = self.dpop_key if self.dpop_key is not None else new_dpop_key()
        object.__setattr__(self, "dpop_key", key)  # frozen: completing construction
        thumbprint = load_dpop_key(key, datasource=self.datasource.name).thumbprint
        object.__setattr__(self, "_dpop_jkt", thumbprint)

    @property
    def params(self) -> dict[str, str]:
        """Every parameter of the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3): what
        the URL carries, or what is pushed (RFC 9126 §2.1)."""
        ds = self.datasource
        params = {
            # The datasource's extras first: protocol parameters below always win
            # (security.md#protocol-parameters-and-grants); Datasource validation already refuses
            # extras that name them.
            **dict(ds.auth_params),
            # RFC 8707 §2.1: the API the token is for.
            **({"resource": ds.resource} if ds.resource else {}),
            "response_type": "code",
            "client_id": ds.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": self.pkce.code_challenge,
            "code_challenge_method": self.pkce.code_challenge_method,
        }
        if ds.scopes:
            # RFC 6749 §3.3: space-delimited, unless the provider's preset says otherwise.
            params[ds.quirks.scope_param] = ds.scope_string
        if self._dpop_jkt is not None:
            params["dpop_jkt"] = self._dpop_jkt  # RFC 9449 §10
        return params

    @property
    def url(self) -> str:
        """The authorization URL to open in the browser (RFC 6749 §4.1.1, RFC 7636 §4.3); after
        a push, only ``client_id`` and ``request_uri`` (RFC 9126 §4)."""
        ds = self.datasource
        assert ds.authorization_url is not None  # Datasource validation guarantees it
        if self.request_uri is not None:
            params = {"client_id": ds.client_id, "request_uri": self.request_uri}
        else:
            params = self.params
        base = ds.authorization_url
        separator = "&" if urlsplit(base).query else "?"
        # urlencode escapes & = # and non-ASCII, so no value can inject a parameter
        # (security.md#protocol-parameters-and-grants).
        return f"{base}{separator}{urlencode(params)}"

    def check_response(self, query: str) -> Secret:
        """Validate the redirect's query string; return the authorization code.

        Raises :class:`WrongState` for a wrong or missing ``state`` (checked first, in constant
        time, security.md#state-pkce-and-the-redirect-uri, #checking-the-authorization-response: an
        attacker who does not know the state cannot end or fake the sign-in),
        :class:`IgnoredResponse` for a malformed response, :class:`IssuerMismatch`
        (security.md#checking-the-authorization-response), and :class:`AuthorizationError` /
        ``AuthorizationDenied`` for an error response
        (security.md#checking-the-authorization-response). Never logs; makes no request.
        """
        params = _single_params(query)
        if not state_matches(self.state, params.get("state")):
            raise WrongState()
        issuer = self.datasource.issuer
        received_iss = params.get("iss")
        if issuer is not None and (received_iss is not None or self.require_iss):
            # RFC 9207 §2.4: simple string comparison, no normalisation (a templated
            # multi-tenant issuer accepts one tenant's issuer of exactly its shape).
            if not self.datasource.quirks.issuer_matches(issuer, received_iss):
                raise IssuerMismatch(issuer, received_iss)
        if "error" in params:
            raise authorization_error_from_response(params)
        code = params.get("code")
        if not code:
            raise IgnoredResponse("the response has neither code nor error")
        return Secret(code)

    def code_from_pasted_url(self, url: str) -> Secret:
        """Validate a redirected URL the user pasted (remote kernels,
        security.md#remote-kernels-and-browsers); return the code.

        The URL must be this request's redirect URI (scheme, host, port and path) with the
        response in its query. Raises :class:`StateMismatch` for another sign-in's URL, plus the
        errors of :meth:`check_response`.
        """
        pasted, expected = urlsplit(url.strip()), urlsplit(self.redirect_uri)
        if (pasted.scheme, pasted.netloc, pasted.path) != (
            expected.scheme,
            expected.netloc,
            expected.path,
        ):
            raise IgnoredResponse(
                f"that URL is not this sign-in's redirect; paste the full address that starts "
                f"with {self.redirect_uri}"
            )
        try:
            return self.check_response(pasted.query)
        except WrongState:
            raise StateMismatch() from None


def _single_params(query: str) -> dict[str, str]:
    """Query parameters, refusing repeats (RFC 6749 §3.1: "MUST NOT be included more than once")."""
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise IgnoredResponse("the response repeats a parameter")
    return params
