"""The ``%datasource`` subcommands: each parses its own arguments, makes one library call and
returns something to display (the jupysql ``%sqlcmd`` pattern, STYLE rule 9).

Every user mistake is a one-line ``UsageError`` that says what to do next. The client secret is
never read from the magic line (it would be saved in the notebook and in IPython's history,
security.md#notebooks-and-history): it is prompted with ``getpass`` or read from the environment
variable that
``--client-secret-env`` names.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from IPython.core.error import UsageError

from nb_oauth.datasource import Datasource
from nb_oauth.errors import NbOAuthError, first_line
from nb_oauth.fields import FIELDS, Field
from nb_oauth.http_cell import ApiCellError, fill_placeholders
from nb_oauth.jupyter.display import DatasourceList, DatasourceStatus, missing_base_url_hint
from nb_oauth.jupyter.notices import storage_notices
from nb_oauth.session import Session
from nb_oauth.store.choice import STORES

__all__ = ["COMMANDS", "Context", "completions", "run_datasource_command", "USAGE"]

USAGE = """\
%datasource                                                 the form (in a notebook)
%datasource add NAME --token-url URL --client-id ID [options]   save a datasource
                               (--session-only: keep it in this kernel's memory, no keyring)
%datasource add NAME --provider PRESET --client-id ID       the same, from a provider preset
%datasource providers [PRESET]                              the presets (github, google, ...)
%datasource add NAME --issuer URL --client-id ID           endpoints from the issuer's metadata
%datasource discover NAME                                   fetch the issuer's metadata again
%datasource list                                            the saved datasources
%datasource show NAME                                       settings and token status
%datasource edit NAME [options]                             change settings
%datasource connect NAME [--paste] [--no-browser] [--timeout S]   sign in (consent)
%datasource disconnect NAME                                 revoke and forget the tokens
%datasource remove NAME                                     forget the datasource
%datasource use NAME                                        the default for %%api
%datasource storage [keyring|memory|file]                   where secrets are kept (the switch)
Options of add/edit: %datasource add --help"""


@dataclass
class Context:
    """What a subcommand may use: the session, and the magics' per-notebook state."""

    session: Session
    forget_client: Callable[[str], None]
    default: list[str] = field(default_factory=list)  # [name] once `use` was called
    # Looked up at call time, so a test (or a front end) can replace getpass.getpass.
    prompt_secret: Callable[[str], str] = field(default=lambda prompt: getpass.getpass(prompt))
    # Widgets only render where a frontend is attached (a Jupyter kernel); a terminal IPython
    # gets the text forms instead.
    widgets: bool = field(default_factory=lambda: _in_kernel())
    # Forms and status views handed out, so unloading the extension can cancel a sign-in that
    # one of them still waits for (its port closes). Weak: a widget the notebook dropped goes.
    shown: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    # The notebook's variables, for {{ name }} placeholders on the %datasource line.
    namespace: Callable[[], Mapping[str, object]] = field(default=dict)

    def show(self, widget: Any) -> Any:
        """Remember ``widget`` (a form or status view) and return it for display."""
        self.shown.add(widget)
        return widget

    def cancel_sign_ins(self) -> None:
        for widget in list(self.shown):
            widget.status.cancel_consent()


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one-line ``UsageError``s, with abbreviations off.

    ``allow_abbrev=False`` matters: with it on, ``--client-secret X`` would be taken as
    ``--client-secret-env X`` and the secret echoed in the error
    (security.md#notebooks-and-history).
    """

    def __init__(self, prog: str, **kwargs: Any) -> None:
        super().__init__(prog=prog, allow_abbrev=False, add_help=True, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(message.strip() if message else f"{self.prog}: invalid input")
        raise _HelpShown()  # --help printed the help: done, and not an error


class _HelpShown(Exception):
    """``--help`` was answered; the magic returns quietly."""


def _option(f: Field) -> dict[str, Any]:
    """The argparse settings of a field's option, from the field table."""
    # argparse formats help with %: a literal one (%%api) is written twice.
    options: dict[str, Any] = {"dest": f.name, "help": f.help.replace("%", "%%"), "default": None}
    if f.kind == "choice":
        options["choices"] = [value for _, value in f.choices]
    elif f.kind == "flag":
        options.update(action="store_const", const=True)
    elif f.kind == "port":
        options.update(type=int, metavar="PORT")
    elif f.kind == "seconds":
        options.update(type=float, metavar="SECONDS")
    elif f.kind == "params":
        options["metavar"] = "KEY=VALUE"
    else:
        url = f.name.endswith("_url") or f.name == "issuer"
        options["metavar"] = "URL" if url else f.flag.rsplit("-", 1)[-1].upper()
    if f.repeatable:
        options["action"] = "append"
    return options


#: Every field but the name (positional) and the secret (never on the line) is an option.
_FIELD_OPTIONS = tuple(f for f in FIELDS if f.name != "name" and not f.secret)


def _field_parser(prog: str, *, editing: bool) -> _Parser:
    parser = _Parser(prog, description="Datasource fields.")
    parser.add_argument("name", metavar="NAME")
    for f in _FIELD_OPTIONS:
        parser.add_argument(f.flag, **_option(f))
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--client-secret-env",
        metavar="VAR",
        help="read the client secret from this environment variable (else it is prompted)",
    )
    secret.add_argument(
        "--no-client-secret", action="store_true", help="a public client: no secret to store"
    )
    if editing:
        secret.add_argument(
            "--new-client-secret", action="store_true", help="prompt for a new client secret"
        )
    else:
        parser.add_argument(
            "--session-only",
            action="store_true",
            help="keep the secret and tokens in this kernel's memory only (no keyring; a kernel "
            "restart needs a new add and connect)",
        )
    return parser


def _refuse_literal_secret(words: Sequence[str]) -> None:
    for word in words:
        flag = word.split("=", 1)[0]
        if flag.startswith("--client-secret") and flag != "--client-secret-env":
            raise UsageError(
                "%datasource: a client secret is never taken on the magic line. If you typed one "
                "here, it is now in this cell and in IPython's history: delete it from the cell "
                "and have the provider issue a new one (rotate it). Then leave the option out to "
                "be prompted, or use --client-secret-env VAR"
            )


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for f in _FIELD_OPTIONS:
        value = getattr(args, f.name)
        if value is None:
            continue
        if f.kind == "params":
            value = _pairs(f.flag, value)
        fields[f.name] = value
    return fields


def _pairs(flag: str, items: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag}: expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def _read_secret(ctx: Context, args: argparse.Namespace, needed: bool) -> str | None:
    if getattr(args, "no_client_secret", False):
        return None
    if args.client_secret_env:
        value = os.environ.get(args.client_secret_env)
        if not value:
            raise UsageError(
                f"--client-secret-env: the environment variable {args.client_secret_env} is not "
                "set or empty; set it before starting Jupyter, or leave the option out to be "
                "prompted"
            )
        return value
    if needed:
        value = ctx.prompt_secret(f"Client secret for {args.name} (input hidden): ").strip()
        return value or None
    return None


def _build(make: Callable[[], Datasource]) -> Datasource:
    try:
        return make()
    except NbOAuthError as exc:
        raise UsageError(str(exc)) from None


# -- the subcommands ----------------------------------------------------------------------------


def _add(ctx: Context, words: list[str]) -> object:
    _refuse_literal_secret(words)
    args = _field_parser("%datasource add", editing=False).parse_args(words)
    fields = _fields(args)
    # With an issuer or an API URL, metadata may give the endpoints and register a client.
    required: tuple[str, ...] = ()
    if not {"issuer", "base_url"} & set(fields):
        required = ("client_id",) if "provider" in fields else ("token_url", "client_id")
    missing = [f for f in required if f not in fields]
    if missing:
        flags = " ".join("--" + f.replace("_", "-") + " ..." for f in missing)
        raise UsageError(f"%datasource add {args.name}: missing {flags}")
    if args.name in ctx.session.names():
        raise UsageError(
            f"%datasource add: {args.name} exists; change it with %datasource edit {args.name}, "
            f"or remove it first with %datasource remove {args.name}"
        )
    ds = _build(lambda: Datasource(name=args.name, **fields))
    if not args.session_only:
        ctx.session.store.check_writable(ds.name)  # before the user types a secret for nothing
    # Without a client id, one is registered at save time: a public client, with no secret.
    secret = _read_secret(ctx, args, needed=ds.client_auth != "none" and bool(ds.client_id))
    ctx.session.save(ds, client_secret=secret, session_only=args.session_only)
    if args.session_only:
        print(f"{ds.name} lives in this kernel's memory only: after a restart, add it again.")
    _hint(ds)
    return DatasourceStatus.of(ctx.session, ds.name)


def _hint(ds: Datasource) -> None:
    hint = missing_base_url_hint(ds)
    if hint:
        print(hint)


def _edit(ctx: Context, words: list[str]) -> object:
    if ctx.widgets and len(words) == 1 and not words[0].startswith("-"):
        from nb_oauth.jupyter.widgets import DatasourceForm

        _existing(ctx, words[0])
        return ctx.show(DatasourceForm(ctx.session, edit=words[0], on_saved=ctx.forget_client))
    _refuse_literal_secret(words)
    args = _field_parser("%datasource edit", editing=True).parse_args(words)
    current = _existing(ctx, args.name)
    ds = _build(lambda: current.replace(**_fields(args)))
    if args.new_client_secret:
        ctx.session.store.check_writable(ds.name)
    secret = _read_secret(ctx, args, needed=args.new_client_secret)
    ctx.forget_client(ds.name)
    ctx.session.save(ds, client_secret=secret)
    _hint(ds)
    return DatasourceStatus.of(ctx.session, ds.name)


def _providers(ctx: Context, words: list[str]) -> object:
    parser = _Parser("%datasource providers")
    parser.add_argument("name", metavar="NAME", nargs="?")
    args = parser.parse_args(words)
    from nb_oauth.presets import PRESETS, describe, providers

    if args.name is None:
        listing = providers()
        width = max(map(len, listing))
        print("\n".join(f"{name:<{width}}  {text}" for name, text in listing.items()))
        print("Details: %datasource providers NAME; use: %datasource add NAME --provider PRESET "
              "--client-id ID [--provider-option KEY=VALUE]")
        return None
    preset = PRESETS.get(args.name.lower())
    if preset is None:
        raise UsageError(
            f"%datasource providers: no preset {args.name!r}; presets: {', '.join(sorted(PRESETS))}"
        )
    print(describe(preset))
    return None


def _discover(ctx: Context, words: list[str]) -> object:
    args = _name_parser("%datasource discover").parse_args(words)
    _existing(ctx, args.name)
    ctx.forget_client(args.name)
    ds = ctx.session.discover(args.name)
    print(f"{ds.name}: endpoints taken from the metadata of {ds.issuer}")
    return DatasourceStatus.of(ctx.session, ds.name)


def _list(ctx: Context, words: list[str]) -> object:
    _Parser("%datasource list").parse_args(words)
    return DatasourceList.of(ctx.session, default=ctx.default[0] if ctx.default else None)


def _show(ctx: Context, words: list[str]) -> object:
    args = _name_parser("%datasource show").parse_args(words)
    _existing(ctx, args.name)
    if ctx.widgets:
        from nb_oauth.jupyter.widgets import DatasourceStatusView

        return ctx.show(DatasourceStatusView(ctx.session, args.name))
    return DatasourceStatus.of(ctx.session, args.name)


def _connect_parser() -> _Parser:
    parser = _name_parser("%datasource connect")
    parser.add_argument("--paste", action="store_true", help="paste the redirected URL")
    parser.add_argument("--no-browser", action="store_true", help="only show the link")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS")
    return parser


def _connect(ctx: Context, words: list[str]) -> object:
    args = _connect_parser().parse_args(words)
    _existing(ctx, args.name)
    from nb_oauth.process_session import connect

    try:
        result = connect(
            args.name,
            paste=args.paste,
            open_browser=not args.no_browser,
            timeout=args.timeout,
            session=ctx.session,
        )
    except KeyboardInterrupt:
        # The user did what the link said (interrupt): an answer, not a crash. Still an error,
        # so "Run All" stops here instead of calling an API that is not connected.
        raise UsageError(
            f"Sign-in for {args.name} was interrupted; nothing was stored. Run %datasource "
            f"connect {args.name} again when ready"
        ) from None
    return DatasourceStatus.of(ctx.session, result.datasource)


def _disconnect(ctx: Context, words: list[str]) -> object:
    args = _name_parser("%datasource disconnect").parse_args(words)
    _existing(ctx, args.name)
    from nb_oauth.process_session import disconnect

    print(disconnect(args.name, session=ctx.session))
    return None


def _remove(ctx: Context, words: list[str]) -> object:
    args = _name_parser("%datasource remove").parse_args(words)
    _existing(ctx, args.name)
    ctx.forget_client(args.name)
    ctx.session.remove(args.name)
    if ctx.default == [args.name]:
        ctx.default.clear()
    print(f"Removed {args.name}: its settings, client secret and tokens are gone from here.")
    return None


def _use(ctx: Context, words: list[str]) -> object:
    args = _name_parser("%datasource use").parse_args(words)
    _existing(ctx, args.name)
    ctx.default[:] = [args.name]
    print(f"%%api now uses {args.name} when no datasource is named.")
    return None


def _storage(ctx: Context, words: list[str]) -> object:
    parser = _Parser(
        "%datasource storage",
        description="Where client secrets and tokens are kept; without a store, where now.",
    )
    parser.add_argument(
        "store", nargs="?", choices=STORES, metavar="STORE",
        help="keyring (the system keyring), memory (this kernel only: sign in again after a "
        "restart) or file (a 0600 file under NB_OAUTH_HOME); this kernel's secrets are copied "
        "over and later kernels use it too",
    )
    args = parser.parse_args(words)
    from nb_oauth.process_session import use_store

    print(use_store(args.store, session=ctx.session))
    return None


def _name_parser(prog: str) -> _Parser:
    parser = _Parser(prog)
    parser.add_argument("name", metavar="NAME")
    return parser


def _existing(ctx: Context, name: str) -> Datasource:
    ds = ctx.session.store.load_datasource(name)
    if ds is None:
        raise UsageError(unknown_datasource(ctx.session, name))
    return ds


def _in_kernel() -> bool:
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def unknown_datasource(session: Session, name: str) -> str:
    known = ", ".join(session.names()) or "none yet"
    return f"no datasource named {name!r} (known: {known}); add one with %datasource add {name} ..."


COMMANDS: dict[str, Callable[[Context, list[str]], object]] = {
    "add": _add,
    "connect": _connect,
    "disconnect": _disconnect,
    "discover": _discover,
    "edit": _edit,
    "list": _list,
    "providers": _providers,
    "remove": _remove,
    "show": _show,
    "storage": _storage,
    "use": _use,
}


#: What takes a datasource name as its first argument, for completion.
_TAKES_NAME = {"connect", "disconnect", "discover", "edit", "remove", "show", "use"}


def completions(session: Session, words: Sequence[str], fragment: str) -> list[str]:
    """What ``%datasource`` can complete: ``words`` are the finished words after the magic's
    name, ``fragment`` the word being typed. Subcommands first, then option names (``--``)
    and datasource names."""
    if not words:
        choices: Sequence[str] = sorted(COMMANDS)
    elif (words[0] == "providers" and len(words) == 1) or words[-1] == "--provider":
        from nb_oauth.presets import PRESETS

        choices = sorted(PRESETS)
    elif words[0] == "storage" and len(words) == 1 and not fragment.startswith("-"):
        choices = STORES
    elif fragment.startswith("-"):
        choices = _option_names(words[0])
    elif words[0] in _TAKES_NAME and len(words) == 1:
        choices = session.names()
    else:
        choices = []
    return [choice for choice in choices if choice.startswith(fragment)]


def _option_names(command: str) -> list[str]:
    if command in ("add", "edit"):
        parser = _field_parser(f"%datasource {command}", editing=command == "edit")
    elif command == "connect":
        parser = _connect_parser()
    elif command in COMMANDS:
        parser = _Parser(f"%datasource {command}")
    else:
        return []
    return sorted(flag for flag in parser._option_string_actions if flag.startswith("--"))


def run_datasource_command(ctx: Context, line: str) -> object:
    """Run one ``%datasource`` line; returns what to display. Raises ``UsageError``.

    ``{{ name }}`` on the line is replaced by a notebook variable, shell-quoted, so that values
    with spaces stay one option value (``--token-url {{ provider.token_url }}``).
    """
    try:
        line = fill_placeholders(line, ctx.namespace(), encode=shlex.quote)
    except ApiCellError as exc:
        raise UsageError(f"%datasource: {exc}") from None
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%datasource: {exc} (check the quotes)") from None
    if not words:
        if ctx.widgets:
            from nb_oauth.jupyter.widgets import DatasourceForm

            return ctx.show(DatasourceForm(ctx.session, on_saved=ctx.forget_client))
        print(USAGE)
        return None
    command = COMMANDS.get(words[0])
    if command is None:
        raise UsageError(
            f"%datasource: unknown subcommand {words[0]!r}; use one of {', '.join(COMMANDS)}"
        )
    try:
        # The memory fallback and a sign-out after a restart: one plain line each.
        with storage_notices(print):
            return command(ctx, words[1:])
    except _HelpShown:
        return None
    except NbOAuthError as exc:
        # Library errors are already one readable line that says what to do next.
        raise UsageError(first_line(exc)) from None
