"""``%datasource``, ``%%api`` and ``%api``: parse, make one library call, display (STYLE rule 9).

Loading is cheap: this module imports only IPython's magic machinery. httpx, the session and the
protocol code are imported when a magic first runs, so ``%load_ext nb_oauth`` adds almost nothing
to kernel start-up.

Both magics are ``@no_var_expand``: IPython would otherwise expand ``$x`` and ``{x}`` in the line,
which mangles URLs and JSON. Notebook values go into a request through ``{{ name }}`` placeholders
instead (see ``nb_oauth.http_cell``).

The magics share the process's default session (``nb_oauth.default_session()``) with the Python
API, so ``%datasource add`` and ``nb_oauth.client(...)`` see the same datasources. This
departs from STYLE rule 10 (a session owned by the Magics instance) on purpose: two registries in
one kernel would disagree about what is saved. The Magics instance owns only per-notebook state
(its clients and the ``%datasource use`` default) and closes it on unload.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand

if TYPE_CHECKING:
    import httpx

    from nb_oauth.jupyter.datasource_magic import Context
    from nb_oauth.session import Session

__all__ = ["NbOAuthMagics", "load", "unload"]

_REGISTRY_KEY = "NbOAuthMagics"


@magics_class
class NbOAuthMagics(Magics):
    """The nb_oauth magics; one instance per shell, created by ``%load_ext nb_oauth``."""

    def __init__(self, shell: Any, session: Session | None = None) -> None:
        super().__init__(shell)
        self._session = session
        self._context: Context | None = None
        self._clients: dict[str, httpx.Client] = {}
        #: The completion matcher :func:`load` installed for these magics.
        self.matcher: Any = None
        #: The pre_run_cell hook :func:`load` registered, and whether it installed the handler.
        self.reauth_hook: Any = None
        self.reauth_installed = False
        self.reauth_handler: object | None = None

    @property
    def context(self) -> Context:
        if self._context is None:
            from nb_oauth.jupyter.datasource_magic import Context
            from nb_oauth.process_session import default_session

            session = self._session or default_session()
            self._context = Context(
                session=session,
                forget_client=self.forget_client,
                namespace=lambda: self.user_ns,
            )
        return self._context

    @no_var_expand
    @line_magic
    def datasource(self, line: str) -> object:
        """Configure, connect and inspect OAuth 2.0 datasources.

        %datasource add NAME --token-url URL --client-id ID [options]
            Save a datasource. Options are the fields of a datasource: --grant
            (authorization_code | device_code | client_credentials), --authorization-url,
            --device-authorization-url, --redirect-uri, --scopes "a,b",
            --token-placement (header | query), --header-prefix, --query-param, --client-auth
            (basic | body | none), --body-encoding (form | json), --auth-param KEY=VALUE,
            --token-param KEY=VALUE, --base-url, --extra-origin, --redirect-port,
            --refresh-leeway, --send-scope-on-refresh, --issuer, --revocation-url,
            --resource URI (RFC 8707), --header KEY=VALUE (sent with every API call).
            The client secret is prompted (input hidden), or read from the environment variable
            named by --client-secret-env VAR; it is never accepted on the line, which would be
            saved in the notebook and in IPython's history. --no-client-secret for public clients.
            Settings go to the config file under NB_OAUTH_HOME and secrets to the store that
            %datasource storage shows (the OS keyring; where there is none, this kernel's
            memory); --session-only keeps everything, settings too, in this kernel's memory.
        %datasource add NAME --provider PRESET --client-id ID [--provider-option KEY=VALUE]
            The same from a provider preset (endpoints, scopes, parameters and API headers
            filled in; options you give win).
        %datasource add NAME --issuer URL --client-id ID [options]
            The same with the endpoints from the issuer's metadata (RFC 8414, OpenID Connect
            Discovery), fetched and checked when saving.
        %datasource discover NAME
            Fetch the issuer's metadata again and take its endpoints.
        %datasource providers [PRESET]
            The presets, or one preset's options, where to register the app, and its docs.
        %datasource list
            The saved datasources; * marks the %%api default.
        %datasource show NAME
            Settings (no secrets), token status, granted vs requested scopes, and the redirect
            URI to register at the provider.
        %datasource edit NAME [options]
            Change settings (same options as add; --new-client-secret to replace the secret).
            In a notebook, without options: the form, with the client secret blank.
        %datasource connect NAME [--paste] [--no-browser] [--timeout SECONDS]
            Sign in: opens the provider's consent page in a new browser tab (a link is shown
            too). --paste for kernels on another machine (JupyterHub, SSH): paste the address the
            browser was redirected to. A --grant device_code datasource shows a code to enter
            on any device instead.
        %datasource disconnect NAME
            Revoke the tokens at the provider (when it has a revocation URL) and forget them.
        %datasource remove NAME
            Forget the datasource, its client secret and its tokens.
        %datasource use NAME
            Make NAME the datasource of %%api cells that name none.
        %datasource storage [keyring|memory|file]
            Where client secrets and tokens are kept: without an argument, where now and why;
            with one, switch (this kernel's secrets are copied over) and remember the choice
            under NB_OAUTH_HOME. keyring: the system keyring; memory: this kernel only (sign in
            again after a restart); file: a 0600 file in a 0700 folder under NB_OAUTH_HOME.
            The environment variable NB_OAUTH_STORE wins when set; nb_oauth.use_store is the
            same switch in Python.

        Each subcommand also takes --help. Without arguments: in a notebook, the datasource
        form (ipywidgets); in a terminal, this summary. In a notebook, show NAME is a status
        view with Reconnect and Disconnect buttons.

        {{ name }} on the line is replaced by the notebook variable `name` (also {{ obj.attr }}),
        shell-quoted: --token-url {{ provider.token_url }}. The line is not otherwise expanded.
        """
        from nb_oauth.jupyter.datasource_magic import run_datasource_command

        return run_datasource_command(self.context, line)

    @no_var_expand
    @line_cell_magic
    def api(self, line: str, cell: str | None = None) -> object:
        """Call a datasource's API; the token is attached and renewed by itself.

        As a cell::

            %%api [NAME] [-o VAR] [--response]
            POST /api/items
            Content-Type: application/json

            {"name": "{{ item_name }}"}

        The first line is METHOD URL (absolute, or relative to the datasource's base_url), then
        header lines, a blank line, and the body. {{ name }} is replaced by the notebook variable
        `name` (percent-encoded in the URL; dicts and lists become JSON); single braces are left
        alone, so JSON needs no escaping. Lines starting with # or // are comments.

        As a line: %api [NAME] METHOD URL

        NAME defaults to the datasource chosen with %datasource use (or the only one saved).
        A JSON answer is shown as a collapsible tree and returned as Python data, so `_` works;
        text is shown as text. -o VAR also stores the data in VAR; --response returns (and
        stores) the httpx.Response instead. A 4xx/5xx answer is shown as one error block.

        Whole collections: --all follows the pages of a GET (Link headers, next URLs and cursors
        in the body) and returns every page's items as one list; --df returns a pandas
        DataFrame instead (pip install 'nb_oauth[pandas]'). --max-pages N stops after N pages
        (default cap 1000); --items PATH names the list in each page (e.g. data.rows); --next
        PATH names where the next URL is, or with --cursor-param NAME a cursor sent as NAME. A
        progress bar shows pages, items and rate-limit waits; a pull that stops early says why
        on one line and keeps what it fetched. Rate limits (429/503 Retry-After) and connection
        failures are retried within bounds on every call, --all or not.
        """
        from nb_oauth.jupyter.api_magic import run_api_magic

        return run_api_magic(self, line, cell)

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's variables (for ``{{ name }}`` and ``-o VAR``)."""
        assert self.shell is not None, "the magics are registered on a shell"
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    # -- per-notebook state --------------------------------------------------------------------

    def client(self, name: str) -> httpx.Client:
        """The magics' client for ``name``, created on first use and kept open."""
        client = self._clients.get(name)
        if client is None:
            client = self.context.session.client(name)
            self._clients[name] = client
        return client

    def forget_client(self, name: str) -> None:
        client = self._clients.pop(name, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Cancel sign-ins that forms are waiting for, and close the clients."""
        if self._context is not None:
            self._context.cancel_sign_ins()
        for name in list(self._clients):
            self.forget_client(name)


def _matcher(magics: NbOAuthMagics) -> Any:
    """An IPython completion matcher (the API of IPython 8.6+) for the nb_oauth magics: it
    answers only on their lines, and then alone, so Python keywords and file names do not come
    first."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher()  # type: ignore[untyped-decorator]
    def nb_oauth_matcher(context: Any) -> dict[str, Any]:
        line = context.text_until_cursor.rpartition("\n")[2].lstrip()
        magic, space, rest = line.partition(" ")
        if not space or magic not in ("%datasource", "%api", "%%api"):
            return {"completions": [], "suppress": False}
        *words, fragment = rest.split(" ")
        words = [word for word in words if word]
        try:
            matches = _matches(magics, magic, words, fragment)
        except Exception:  # noqa: BLE001 - a completer must never break the user's typing
            matches = []
        return {
            "completions": [SimpleCompletion(text=m, type="nb_oauth") for m in matches],
            "matched_fragment": fragment,
            "suppress": True,  # on these lines, Python names are never what is meant
        }

    return nb_oauth_matcher


def _matches(magics: NbOAuthMagics, magic: str, words: list[str], fragment: str) -> list[str]:
    session = magics.context.session
    if magic == "%datasource":
        from nb_oauth.jupyter.datasource_magic import completions

        return completions(session, words, fragment)
    if fragment.startswith("-"):
        return [flag for flag in ("--output", "--response", "-o") if flag.startswith(fragment)]
    if words and words[-1] in ("-o", "--output"):
        return []
    if not [word for word in words if not word.startswith("-")]:
        return [name for name in session.names() if name.startswith(fragment)]
    return []


def load(ipython: Any, *, session: Session | None = None) -> NbOAuthMagics:
    """Register the magics and their completion on ``ipython`` (``session`` is for tests;
    default: the process's). Loading again first removes what the last load added."""
    unload(ipython)
    magics = NbOAuthMagics(ipython, session)
    ipython.register_magics(magics)
    magics.matcher = _matcher(magics)
    ipython.Completer.custom_matchers.append(magics.matcher)
    magics.reauth_hook = _reauth_hook(ipython, magics)
    magics.reauth_hook()
    ipython.events.register("pre_run_cell", magics.reauth_hook)
    return magics


def _reauth_hook(ipython: Any, magics: NbOAuthMagics) -> Any:
    """Install the "sign in again" handler (`nb_oauth.jupyter.reconnect`) once nb_oauth's
    errors are loaded: before a cell runs, so that loading the extension imports nothing (a
    call that can need a sign-in has loaded them by then)."""

    def reauth_hook(*info: Any) -> None:
        if magics.reauth_installed or "nb_oauth.errors" not in sys.modules:
            return
        from nb_oauth.jupyter import reconnect

        magics.reauth_handler = reconnect.install(ipython, lambda: magics.context.session)
        magics.reauth_installed = True

    return reauth_hook


def unload(ipython: Any) -> None:
    """Remove what :func:`load` added (the magics and their completion), closing the magics'
    clients; safe to call when the extension was never loaded."""
    magics = ipython.magics_manager.registry.pop(_REGISTRY_KEY, None)
    if not isinstance(magics, NbOAuthMagics):
        return
    magics.close()
    if magics.reauth_hook is not None:
        ipython.events.unregister("pre_run_cell", magics.reauth_hook)
    if magics.reauth_handler is not None:
        from nb_oauth.jupyter import reconnect

        reconnect.uninstall(ipython, magics.reauth_handler)
    matchers = ipython.Completer.custom_matchers
    if magics.matcher in matchers:
        matchers.remove(magics.matcher)
    table = ipython.magics_manager.magics
    for kind, names in magics.magics.items():
        for name in names:
            if table[kind].get(name) is not None and getattr(
                table[kind][name], "__self__", None
            ) is magics:
                del table[kind][name]
