"""The nb_oauth exception tree, and the warning categories: one place for every error class.

It reads as the questions a user has when something fails:

    NbOAuthError
     ├── ReauthRequired              sign in again: never connected, the sign-in expired or was
     │                               revoked (invalid_grant), or no refresh token was issued
     ├── ProviderError               the server said no, or did not answer
     │    ├── AuthorizationError     an error redirect from the authorization endpoint
     │    │    ├── AuthorizationDenied   consent was declined (access_denied)
     │    │    └── PushedAuthorizationError  the PAR endpoint refused the request (RFC 9126)
     │    ├── TokenError             an OAuth error from the token endpoint (RFC 6749 §5.2)
     │    │    ├── ClientConfigError invalid_client, unauthorized_client
     │    │    └── ScopeError        invalid_scope
     │    ├── InsufficientScope      an API refused a token for its scopes (RFC 6750 §3.1)
     │    ├── TokenEndpointError     the token endpoint answered something that is not OAuth
     │    ├── TokenEndpointTimeout   the token endpoint did not answer in time
     │    ├── TokenEndpointUnreachable  the token endpoint could not be reached
     │    ├── DPoPError              a server did not do its part of DPoP (RFC 9449)
     │    ├── RateLimited            an API kept asking to wait, longer than nb_oauth may wait
     │    └── PagingError            a whole-collection pull stopped early (`.items` keeps what
     │                               was fetched)
     ├── SetupError                  this machine's setup: storage, the config file, ports
     │    ├── ConfigFileError        the config file is damaged, unknown or from a newer version
     │    ├── PortInUse              a fixed port on 127.0.0.1 is taken
     │    └── StorageUnavailable     the keyring cannot store or read a secret
     │         ├── NoSecureStorage   the chosen store may not be used here
     │         └── SecretTooLargeForBackend
     ├── ConfigError                 bad input: a datasource field is invalid (also a ValueError)
     └── SignInError                 the sign-in in the browser did not finish
          ├── StateMismatch          only responses of another sign-in arrived
          ├── CallbackTimeout        no answer from the browser in time
          ├── DeviceCodeExpired      a device code was not approved in time (RFC 8628)
          ├── SignInCancelled        cancelled (Cancel, or a newer sign-in)
          └── ConsentNeeded          nobody is at the keyboard to sign in (papermill, CI)

    NbOAuthWarning (a UserWarning)   recoverable server quirks: missing token_type, odd expires_in
     ├── SecurityWarning             a setting weakens security (query-parameter tokens)
     ├── StorageWarning              a secret stays in this kernel's memory only
     └── IncompleteWarning           a whole-collection pull returned only part (interrupted,
                                     or stopped at the default page cap)

Messages are one line without a final period (so a command at the end can be copied as is), say
what to do next, and never contain a token, a secret, an authorization code or a raw server
payload: server text (`error_description`, body excerpts) is reduced to at most 200 characters of
plain text by `nb_oauth.redact.redact_text`, with anything that looks like a credential masked
(docs/security.md, "Errors, logs and reprs").

The errors that can surface from `client.get(...)` are also `httpx.HTTPError`s, declared here
once (`ReauthRequired`, `TokenError` and the other token endpoint errors, `InsufficientScope`,
`StorageUnavailable`, `RateLimited`, `PagingError`), so that `except httpx.HTTPError` around API
calls catches them too (the double inheritance keyring uses for `NoKeyringError`). The auth sets
`.request` on them (the request as the caller wrote it, without a token) before raising.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from nb_oauth.redact import redact_text, redact_url

__all__ = [
    "authorization_error_from_response",
    "AuthorizationDenied",
    "AuthorizationError",
    "CallbackTimeout",
    "ClientConfigError",
    "ConfigError",
    "ConfigFileError",
    "ConsentNeeded",
    "DeviceCodeExpired",
    "DPoPError",
    "first_line",
    "IncompleteWarning",
    "InsufficientScope",
    "NbOAuthError",
    "NbOAuthWarning",
    "NoSecureStorage",
    "PagingError",
    "PortInUse",
    "ProviderError",
    "PushedAuthorizationError",
    "RateLimited",
    "ReauthRequired",
    "ScopeError",
    "SecretTooLargeForBackend",
    "SecurityWarning",
    "SetupError",
    "SignInCancelled",
    "SignInError",
    "StateMismatch",
    "StorageUnavailable",
    "StorageWarning",
    "token_error_from_response",
    "TokenEndpointError",
    "TokenEndpointTimeout",
    "TokenEndpointUnreachable",
    "TokenError",
]

_DESCRIPTION_LIMIT = 200
_CODE_LIMIT = 80


class NbOAuthWarning(UserWarning):
    """A server quirk nb_oauth worked around, or a setting that weakens security."""


class SecurityWarning(NbOAuthWarning):
    """A datasource setting that weakens security was used (query-parameter tokens,
    security.md#where-the-token-goes)."""


class StorageWarning(NbOAuthWarning):
    """A secret could not be kept where it belongs and stays in this kernel's memory only, so a
    kernel restart (or another kernel) will not see it (security.md#refresh-token-rotation,
    #secret-storage)."""


class IncompleteWarning(NbOAuthWarning):
    """A whole-collection pull returned what it had fetched, not the whole collection: the kernel
    was interrupted, or the default page cap was reached. The message says how many pages."""


class NbOAuthError(Exception):
    """Base class of every nb_oauth error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword arguments, so the default `cls(*args)` unpickling would fail;
        # rebuild from the message and attributes instead (multiprocessing, ipyparallel).
        # The request an httpx error carries holds a stream; it stays behind.
        state = dict(self.__dict__)
        if "_request" in state:
            state["_request"] = None
        return (_restore, (type(self), self.args, state))


def _restore(cls: type[NbOAuthError], args: tuple[object, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ProviderError(NbOAuthError):
    """The authorization server or the API said no, or did not answer as OAuth says it must."""


class SetupError(NbOAuthError):
    """Something about this machine's setup (storage, the config file) needs fixing."""


class SignInError(NbOAuthError):
    """The sign-in in the browser did not finish; nothing was stored."""


class ConfigError(NbOAuthError, ValueError):
    """A datasource setting is invalid. The one-line message names the field and the fix.

    ``problems`` holds every invalid field found in one go (this error first), so a form can
    mark them all at once; the message names the others after the first.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        #: This field's own message, without the others that ``problems`` lists.
        self.detail = f"{field}: {problem}; {fix}"
        self._others: tuple[ConfigError, ...] = ()
        super().__init__(self.detail)

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        return (self, *self._others)

    @classmethod
    def of(cls, problems: Sequence[ConfigError]) -> ConfigError:
        """One error for several invalid fields (in the order given; at least one)."""
        first, *others = problems
        if not others:
            return first
        combined = cls.__new__(type(first))
        combined.__dict__.update(first.__dict__)
        combined._others = tuple(others)
        also = ", ".join(dict.fromkeys(problem.field for problem in others))
        combined.args = (f"{first.args[0]} (also invalid: {also})",)
        return combined


class AuthorizationError(ProviderError):
    """The authorization endpoint redirected back with an error (RFC 6749 §4.1.2.1)."""

    def __init__(
        self, error: str, description: str | None = None, *, error_uri: str | None = None
    ) -> None:
        self.error = redact_text(error, limit=_CODE_LIMIT)
        self.error_description = _plain(description)
        self.error_uri = None if error_uri is None else redact_url(error_uri)
        super().__init__(f"Authorization failed: {_code_and_description(self)}. {self._advice()}")

    def _advice(self) -> str:
        return "No token was requested; fix the cause shown by the provider and connect again"


class AuthorizationDenied(AuthorizationError):
    """The user (or a policy of the provider) declined consent: `error=access_denied`."""

    def _advice(self) -> str:
        return "Consent was declined, so no token was requested; connect again to retry"


class PushedAuthorizationError(AuthorizationError):
    """The pushed authorization request endpoint refused the request (RFC 9126 §2.3), or answered
    something unusable; no browser was opened."""

    def __init__(
        self, error: str, description: str | None = None, *, datasource: str | None = None
    ) -> None:
        self.datasource = datasource
        super().__init__(error, description)

    def _advice(self) -> str:
        name = f" of {self.datasource}" if self.datasource else ""
        return (
            f"The pushed authorization request{name} (RFC 9126) was refused, so no browser was "
            "opened; check client_id, the client authentication and par_url, or set par=False "
            "if the server does not require pushed requests"
        )


class StateMismatch(SignInError):
    """Only authorization responses with a wrong or missing `state` arrived (RFC 6749 §10.12).

    Such responses are ignored, never acted on: they may come from another tab or an attacker.
    """

    def __init__(self) -> None:
        super().__init__(
            "The authorization response did not carry the state of this sign-in and was ignored "
            "(RFC 6749 §10.12); start the sign-in again from this notebook and finish it in the "
            "same browser tab"
        )


class PortInUse(SetupError):
    """A fixed port on 127.0.0.1 is taken: the datasource's ``redirect_port`` (raised before any
    browser opens) or a port asked of the demo provider."""

    def __init__(self, port: int, *, fix: str | None = None) -> None:
        self.port = port
        if fix is None:
            fix = (
                "so the sign-in redirect cannot be received; close the program using it, or set "
                "redirect_port=0 if the provider accepts any loopback port (RFC 8252 §7.3)"
            )
        super().__init__(f"Port {port} on 127.0.0.1 is in use, {fix}")


class SignInCancelled(SignInError):
    """The sign-in was cancelled while waiting for the browser (a newer sign-in replaced it, or
    the user pressed Cancel). Nothing was stored and the port is closed."""

    def __init__(self, datasource: str | None = None) -> None:
        super().__init__(
            f"The sign-in for {datasource or 'the datasource'} was cancelled; nothing was stored"
        )


class CallbackTimeout(SignInError):
    """No authorization response arrived before the deadline."""

    def __init__(self, timeout: float, *, datasource: str | None = None) -> None:
        self.timeout = timeout
        name = datasource or "NAME"
        super().__init__(
            f"No authorization response arrived within {timeout:g} s; connect again and approve "
            "on the provider's page. If the browser runs on another machine than the kernel "
            f"(JupyterHub, SSH, containers), paste the redirected address instead: %datasource "
            f"connect {name} --paste"
        )


class DeviceCodeExpired(SignInError):
    """The user code of a device sign-in was not approved before it expired (RFC 8628 §3.5
    ``expired_token``, or the sign-in's own deadline). Nothing was stored."""

    def __init__(self, datasource: str, waited: float | None = None) -> None:
        self.datasource = datasource
        within = "" if waited is None else f" within {waited:g} s"
        super().__init__(
            f"The code for {datasource} was not approved{within} and has expired; run "
            f"%datasource connect {datasource} again for a new code"
        )


class ConsentNeeded(SignInError):
    """A sign-in is needed, but nobody is at the keyboard (papermill, nbconvert, cron, CI, or
    ``NB_OAUTH_NONINTERACTIVE=1``): nothing waits for a browser. ``why`` says how this run was
    recognised as unattended."""

    def __init__(self, datasource: str, why: str) -> None:
        self.datasource = datasource
        self.why = why
        super().__init__(
            f"{datasource} needs a sign-in, but nobody is at the keyboard in this run ({why}); "
            f"run nb_oauth.connect({datasource!r}) or %datasource connect {datasource} in an "
            "interactive notebook or terminal once, then run this again"
        )


class TokenError(ProviderError, httpx.HTTPError):
    """The token endpoint answered with an OAuth error (RFC 6749 §5.2). Never retried."""

    _failure = "Token request failed"

    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        status_code: int | None = None,
        error_uri: str | None = None,
        datasource: str | None = None,
    ) -> None:
        self.error = redact_text(error, limit=_CODE_LIMIT)
        self.error_description = _plain(description)
        self.error_uri = None if error_uri is None else redact_url(error_uri)
        self.status_code = status_code
        self.datasource = datasource
        super().__init__(self._message())

    def _message(self) -> str:
        status = "" if self.status_code is None else f" (HTTP {self.status_code})"
        advice = self._advice()
        return (
            f"{self._failure}{status}: {_code_and_description(self)}"
            + (f". {advice}" if advice else "")
        )

    def _advice(self) -> str:
        return ""


class ClientConfigError(TokenError):
    """`invalid_client` / `unauthorized_client`: the client credentials or their use are wrong.

    ``no_secret_saved`` is true when the request went out as a public client because no client
    secret is saved (a kernel restart forgets one kept in memory): the advice is then to give it.
    """

    no_secret_saved = False

    def note_saved_secret(self, saved: bool, client_auth: str) -> None:
        """Say so when the client has no saved secret to send though it may need one (any
        ``client_auth`` but ``'none'``): the advice is then to give it again."""
        if saved or client_auth == "none":
            return
        self.no_secret_saved = True
        self.args = (self._message(),)

    def _advice(self) -> str:
        if self.no_secret_saved:
            name = self.datasource or "NAME"
            return (
                f"No client secret is saved for {name} here (one kept in a kernel's memory is "
                "gone after a restart); if its app has one, give it again with %datasource edit "
                f"{name} --new-client-secret (Python: nb_oauth.save(ds, client_secret=...)) and "
                "sign in again; if it has none, check client_id against the app registration"
            )
        return (
            "Check client_id, the saved client secret (nb_oauth.save(ds, client_secret=...)) and "
            "client_auth ('basic' or 'body') against the provider's app registration"
        )


class ScopeError(TokenError):
    """`invalid_scope` from the token endpoint: the scopes asked for are not allowed."""

    def _advice(self) -> str:
        return "Check the datasource's scopes against what the provider grants this client"


class InsufficientScope(ProviderError, httpx.HTTPError):
    """An API answered 403 with `error="insufficient_scope"` (RFC 6750 §3.1). Not a token error,
    and never renewed: a new token would carry the same scopes."""

    def __init__(
        self,
        description: str | None = None,
        *,
        status_code: int = 403,
        datasource: str | None = None,
    ) -> None:
        self.error = "insufficient_scope"
        self.error_description = _plain(description)
        self.status_code = status_code
        self.datasource = datasource
        super().__init__(
            f"The API refused the request (HTTP {status_code}): {_code_and_description(self)}. "
            "The token lacks a scope this call needs: add it to the datasource's scopes and "
            "connect again"
        )


class ReauthRequired(NbOAuthError, httpx.HTTPError):
    """Sign in again: there is no usable access token, and none can be had without the user.

    `reason` says why: `"invalid_grant"` (the token endpoint no longer accepts the refresh token
    or code: expired, revoked, or the user removed the app; the stored tokens are deleted),
    `"not_connected"` (no token yet), `"no_refresh_token"` (the token expired and the provider
    gave no refresh token) or `"rejected"` (the API refused even a token renewed right before).
    Stored credentials are kept except after `invalid_grant`. `error`, `error_description` and
    `status_code` carry the token endpoint's answer for `invalid_grant`.
    """

    def __init__(
        self,
        reason: str,
        description: str | None = None,
        *,
        status_code: int | None = None,
        error_uri: str | None = None,
        datasource: str | None = None,
    ) -> None:
        self.reason = reason
        self.error = redact_text(reason, limit=_CODE_LIMIT)
        self.error_description = _plain(description)
        self.error_uri = None if error_uri is None else redact_url(error_uri)
        self.status_code = status_code
        self.datasource = datasource
        name = datasource or "NAME"
        connect = (
            f"nb_oauth.connect({name!r}) or %datasource connect {name}"
            if datasource
            else "nb_oauth.connect(NAME)"
        )
        status = "" if status_code is None else f" (HTTP {status_code})"
        messages = {
            "invalid_grant": (
                f"Token request failed{status}: {_code_and_description(self)}. Reconnect "
                f"needed: the sign-in is no longer valid; run {connect}"
            ),
            "not_connected": f"Datasource {name!r} is not connected; run {connect}",
            "no_refresh_token": (
                f"The access token of {name!r} expired and the provider gave no refresh token, "
                f"so reconnect: run {connect} (to avoid this, ask for offline access, e.g. the "
                "offline_access scope or auth_params access_type=offline)"
            ),
            "rejected": (
                f"The API rejected the access token of {name!r} right after it was renewed "
                "(RFC 6750 §3.1 invalid_token); check token_placement, header_prefix and "
                f"query_param against the API's documentation, or run {connect}"
            ),
        }
        fallback = f"No usable access token for {name!r}; run {connect}"
        super().__init__(messages.get(reason, fallback))


class TokenEndpointError(ProviderError, httpx.HTTPError):
    """The token endpoint answered with something that is not an OAuth response
    (security.md#bad-server-input).

    `snippet` is a redacted plain-text excerpt of at most 200 characters; nothing was stored.
    """

    def __init__(
        self, reason: str, *, status_code: int, content_type: str | None, snippet: str = ""
    ) -> None:
        self.reason = reason
        self.status_code = status_code
        self.content_type = None if content_type is None else redact_text(content_type, limit=60)
        # Redacted again here, so that no caller can put a raw body into a message.
        self.snippet = redact_text(snippet, limit=_DESCRIPTION_LIMIT)
        kind = self.content_type or "no Content-Type"
        body = f'; body starts: "{self.snippet}"' if self.snippet else ""
        super().__init__(
            f"Unusable token endpoint response: {reason} (HTTP {status_code}, {kind}){body}"
        )


class TokenEndpointUnreachable(ProviderError, httpx.HTTPError):
    """The token endpoint could not be reached, or stopped answering: connection refused, a
    name that does not resolve, TLS, a timeout. Nothing was stored, nothing was deleted."""

    def __init__(self, origin: str, problem: str, *, datasource: str | None = None) -> None:
        self.origin = origin
        self.datasource = datasource
        what = f"Sign-in for {datasource}" if datasource else "A token request"
        super().__init__(
            f"{what} failed: the token endpoint at {origin} could not be reached "
            f"({redact_text(problem, limit=120)}); check that it is up and that token_url is "
            "right, then try again"
        )


class DPoPError(ProviderError, httpx.HTTPError):
    """A server did not do its part of DPoP (RFC 9449): it answered a DPoP token request with
    another token type (no silent downgrade to Bearer), or asked for a fresh nonce again right
    after one was used. Nothing was stored (security.md#dpop)."""

    def __init__(self, problem: str, fix: str, *, datasource: str | None = None) -> None:
        self.datasource = datasource
        what = f"DPoP for {datasource}" if datasource else "DPoP"
        super().__init__(f"{what}: {problem}; {fix}")


class TokenEndpointTimeout(ProviderError, httpx.TimeoutException):
    """The token endpoint did not answer in time (security.md#network-faults). Stored credentials
    were kept (security.md#network-faults)."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        within = "" if timeout is None else f" within {timeout:g} s"
        super().__init__(
            f"The token endpoint did not answer{within}; stored credentials were kept, try again"
        )


class RateLimited(ProviderError, httpx.HTTPError):
    """An API answered 429 or 503 (or GitHub's `X-RateLimit-Remaining: 0`) and asked for a wait
    that nb_oauth will not make: longer than the longest single wait, past the retry budget, or
    after the last retry. Stored tokens are kept.

    `reason` is what the answer said ("rate limited", "service unavailable", "rate limit used
    up"); `retry_at` is when the API said to come back (seconds since the epoch), or `None` when
    it did not say; `retries` is how many retries were made, `waited` the seconds waited in total.
    """

    def __init__(
        self,
        problem: str,
        *,
        status_code: int,
        reason: str = "rate limited",
        retry_at: float | None = None,
        retries: int = 0,
        waited: float = 0.0,
        datasource: str | None = None,
    ) -> None:
        self.problem = problem
        self.reason = reason
        self.status_code = status_code
        self.retry_at = retry_at
        self.retries = retries
        self.waited = waited
        self.datasource = datasource
        who = f"{datasource}: the API" if datasource else "The API"
        when = "try again later"
        if retry_at is not None:
            when = "try again after " + _utc_time(retry_at)
        super().__init__(f"{who} answered HTTP {status_code} ({reason}): {problem}; {when}")


class PagingError(ProviderError, httpx.HTTPError):
    """A whole-collection pull (`fetch_all`, `%%api NAME --all`) stopped before the last page: a
    page that is not JSON or has no list of items, a next link that loops or points to another
    origin, an error answer, or a failure of the call itself (then also `__cause__`).

    `items` keeps what was fetched before it stopped (a list, or a DataFrame with `df=True`) and
    `pages` how many pages that was; the message says both.
    """

    def __init__(
        self,
        problem: str,
        *,
        items: Any = None,
        pages: int = 0,
        datasource: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.problem = problem
        self.items: Any = [] if items is None else items
        self.pages = pages
        self.datasource = datasource
        self.status_code = status_code
        who = f"{datasource}: " if datasource else ""
        count = len(self.items)
        kept = (
            f"stopped after {pages} page{'s' * (pages != 1)}, {count} item{'s' * (count != 1)} "
            "kept in .items"
            if pages
            else "nothing fetched"
        )
        super().__init__(f"{who}{problem} ({kept})")


class StorageUnavailable(SetupError, httpx.HTTPError):
    """The keyring cannot store or read a secret. The message says how to fix it."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}")


class NoSecureStorage(StorageUnavailable):
    """The store chosen for secrets may not be used here (security.md#secret-storage): the
    `keyring` store with keyring's `fail` backend (headless Linux, Docker, JupyterHub) or a
    plaintext file backend without the explicit opt-in, or a `file` store whose folder or file
    others can read. With no store chosen, nb_oauth keeps secrets in kernel memory instead of
    raising this."""


class ConfigFileError(SetupError):
    """The config file cannot be used: damaged, unknown content, or written by a newer nb_oauth.

    The message names the file; nothing was changed in it (never a silent reset).
    """

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path = path
        super().__init__(f"The nb_oauth config file {path} {problem}; {fix}")


class SecretTooLargeForBackend(StorageUnavailable):
    """A secret is longer than the keyring backend accepts (Windows: 2560 bytes,
    security.md#secret-storage)."""

    def __init__(self, *, backend: str, size: int, limit: int) -> None:
        self.backend = backend
        self.size = size
        self.limit = limit
        super().__init__(
            f"The {backend} keyring backend cannot store a {size}-byte secret (limit {limit})",
            "use a backend without this limit, such as keyrings.cryptfile, or session-only storage",
        )


def _plain(text: str | None) -> str | None:
    return None if text is None else redact_text(text, limit=_DESCRIPTION_LIMIT)


def _code_and_description(
    error: AuthorizationError | TokenError | InsufficientScope | ReauthRequired,
) -> str:
    if error.error_description:
        return f"{error.error} ({error.error_description})"
    return error.error


# RFC 6749 §5.2 error codes (and RFC 6750 §3.1 insufficient_scope) → class; others: TokenError.
_TOKEN_ERROR_CLASSES: Mapping[str, type[TokenError | ReauthRequired]] = {
    "invalid_grant": ReauthRequired,
    "invalid_client": ClientConfigError,
    "unauthorized_client": ClientConfigError,
    "invalid_scope": ScopeError,
    "insufficient_scope": ScopeError,
}


def token_error_from_response(
    status_code: int,
    payload: Mapping[str, object],
    *,
    datasource: str | None = None,
    secrets: Iterable[str] = (),
) -> TokenError | ReauthRequired:
    """Map an RFC 6749 §5.2 error payload to its class: `ReauthRequired` for `invalid_grant`,
    else `TokenError` or one of its subclasses.

    `secrets` are values this request sent (a refresh token, a code): servers sometimes echo them
    in `error_description`, so they are masked. Returns the error; never raises, never logs.
    """
    secrets = tuple(secrets)
    error = payload.get("error")
    code = error if isinstance(error, str) and error else "unknown_error"
    description, uri = payload.get("error_description"), payload.get("error_uri")
    cls = _TOKEN_ERROR_CLASSES.get(code, TokenError)
    return cls(
        redact_text(code, limit=_CODE_LIMIT, secrets=secrets),
        redact_text(description, limit=_DESCRIPTION_LIMIT, secrets=secrets)
        if isinstance(description, str)
        else None,
        status_code=status_code,
        error_uri=uri if isinstance(uri, str) else None,
        datasource=datasource,
    )


def authorization_error_from_response(params: Mapping[str, str]) -> AuthorizationError:
    """Build the error for an authorization error redirect (RFC 6749 §4.1.2.1,
    security.md#checking-the-authorization-response).

    The caller must have checked `state` first: an error response with a wrong state is ignored,
    so that an attacker cannot fake a "denied". Returns `AuthorizationDenied` for `access_denied`.
    """
    error = params.get("error") or "unknown_error"
    cls = AuthorizationDenied if error == "access_denied" else AuthorizationError
    return cls(error, params.get("error_description"), error_uri=params.get("error_uri"))


def _utc_time(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its class name when the message is empty): what a
    magic, a widget or the CLI shows of an error, as one line."""
    return (str(error).splitlines() or [type(error).__name__])[0]
