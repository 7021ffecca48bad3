"""`TokenKeeper`: the token state of one datasource and the rules for renewing it.

It answers "which token do I use, or which token request do I send?" and "what does this token
response change?", as pure functions of the stored state and the clock. It does no I/O, holds no
lock and knows no HTTP library: the httpx adapter (`nb_oauth.oauth2_auth`) loads and saves
through the `TokenStore`, serializes renewals, and sends the requests.

The rules (docs/security.md):

* a token is renewed `refresh_leeway` seconds before it expires (never earlier than half its
  lifetime, see `TokenSet.is_expired`), or when the API rejected it;
* client credentials are fetched again; their responses' refresh tokens are ignored
  (security.md#renewal);
* a user token is refreshed with its refresh token (RFC 6749 §6); a refresh response without a
  `refresh_token` keeps the old one, a new one replaces it (rotation,
  security.md#refresh-token-rotation);
* without a refresh token the user must connect again: `ReauthRequired`.
"""

from __future__ import annotations

from collections.abc import Callable

from nb_oauth.datasource import Datasource
from nb_oauth.errors import ReauthRequired
from nb_oauth.grants.token_requests import (
    TokenRequest,
    client_credentials_request,
    read_token_response,
    refresh_token_request,
)
from nb_oauth.secret import Secret
from nb_oauth.tokens import TokenSet

__all__ = ["TokenKeeper"]


class TokenKeeper:
    """The current `TokenSet` of one datasource, and what to do when it is not good enough.

    `now` is the injected clock. Never logs; its `repr` shows no token.
    """

    def __init__(self, datasource: Datasource, *, now: Callable[[], float]) -> None:
        self.datasource = datasource
        self._now = now
        self._tokens: TokenSet | None = None
        self._client_secret: Secret | None = None

    @property
    def tokens(self) -> TokenSet | None:
        """The token set last adopted or accepted (a cache of the store)."""
        return self._tokens

    def fresh(self) -> TokenSet | None:
        """The cached token set if it needs no renewal now (security.md#renewal), else `None`."""
        tokens = self._tokens
        if tokens is None or tokens.is_expired(self._now(), self.datasource.refresh_leeway):
            return None
        return tokens

    def adopt(self, tokens: TokenSet | None, client_secret: Secret | None) -> None:
        """Take the stored state as the truth: another client or kernel may have renewed it
        (security.md#single-flight-renewal)."""
        self._tokens = tokens
        self._client_secret = client_secret

    def renewal(self, stale: TokenSet | None = None) -> TokenSet | TokenRequest:
        """After `adopt`: the token set to use, or the token request that gets a new one.

        `stale` is a token the API just rejected: the current set is used only if it holds
        another, fresh access token (someone renewed meanwhile). Raises `ReauthRequired` when only
        the user can help, and `ConfigError` when the client secret the method needs is not saved.
        """
        current = self._tokens
        if current is not None and self._usable(current, stale):
            return current
        if self.datasource.grant == "client_credentials":
            # RFC 6749 §4.4.3: no refresh token; fetch a new token (security.md#renewal).
            return client_credentials_request(self.datasource, self._client_secret)
        if current is None:
            raise ReauthRequired("not_connected", datasource=self.datasource.name)
        if not current.refresh_token:
            raise ReauthRequired("no_refresh_token", datasource=self.datasource.name)
        return refresh_token_request(self.datasource, self._client_secret, current)

    def _usable(self, tokens: TokenSet, stale: TokenSet | None) -> bool:
        if stale is not None and tokens.access_token == stale.access_token:
            return False
        return not tokens.is_expired(self._now(), self.datasource.refresh_leeway)

    def accept(
        self, request: TokenRequest, *, status_code: int, content_type: str | None, body: bytes
    ) -> TokenSet:
        """The token set to store after the token endpoint answered `request`.

        The caller persists it, then calls `installed` (security.md#refresh-token-rotation: a
        rotated refresh token is stored before the new access token is used). Raises what
        `read_token_response` raises; the cached state is unchanged then.
        """
        new = read_token_response(
            request,
            status_code=status_code,
            content_type=content_type,
            body=body,
            now=self._now(),
            datasource=self.datasource.name,
        )
        if request.grant == "refresh_token" and self._tokens is not None:
            # RFC 6749 §6: no new refresh token means the old one stays valid.
            new = self._tokens.with_refresh(new)
        return new

    def installed(self, tokens: TokenSet | None) -> None:
        """Record what the store now holds (after a save, or `None` after a delete)."""
        self._tokens = tokens

    def __repr__(self) -> str:
        state = "no token" if self._tokens is None else "a token set"
        return f"TokenKeeper(datasource={self.datasource.name!r}, {state})"
