"""The ``nb-oauth`` console script.

``nb-oauth demo`` runs the whole story against the demo provider and exits; ``nb-oauth provider``
runs the demo provider until Ctrl-C; ``nb-oauth approve URL`` is a stand-in browser for headless
runs. Every failure is one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from .demo import DemoProvider

__all__ = ["main"]

PROG = "nb-oauth"


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (usage is one ``--help`` away) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _build_parser() -> _Parser:
    parser = _Parser(prog=PROG, description="OAuth 2.0 datasources for Jupyter and IPython.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo_help = "the whole story: configure, consent, call the API, watch a refresh, disconnect"
    demo = commands.add_parser("demo", help=demo_help, description=demo_help)
    demo.add_argument(
        "--headless",
        action="store_true",
        help="let a stand-in browser approve the consent page (no browser tab)",
    )
    demo.add_argument(
        "--timeout",
        type=_positive_int,
        default=300,
        metavar="SECONDS",
        help="how long to wait for your approval in the browser (default: 300)",
    )
    provider_help = "run the demo OAuth 2.0 provider and protected API until Ctrl-C"
    provider = commands.add_parser("provider", help=provider_help, description=provider_help)
    _add_provider_options(provider)
    approve = commands.add_parser(
        "approve",
        help="a stand-in browser for headless demo runs: approve a demo consent URL",
        description=(
            "Open URL (a demo provider's authorization URL on 127.0.0.1), press Approve and "
            "follow the redirect back to the waiting kernel. Name it in BROWSER, e.g. "
            "BROWSER='nb-oauth approve %%s', to sign in without a browser."
        ),
    )
    approve.add_argument("url", metavar="URL")
    approve.add_argument("--deny", action="store_true", help="press Deny instead")
    return parser


def _add_provider_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=_port, default=0, help="authorization server port (default: any free port)"
    )
    parser.add_argument(
        "--api-port", type=_port, default=0, help="protected API port (default: any free port)"
    )
    parser.add_argument(
        "--token-lifetime",
        type=_positive_int,
        default=3600,
        metavar="SECONDS",
        help="access-token lifetime (default: 3600)",
    )
    parser.add_argument(
        "--no-refresh-token", action="store_true", help="issue no refresh tokens"
    )
    parser.add_argument(
        "--no-rotation",
        action="store_true",
        help="keep refresh tokens on refresh instead of rotating them",
    )
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="grant consent without showing the consent page (headless runs)",
    )


def _port(text: str) -> int:
    value = _int(text, "a port")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {value}")
    return value


def _positive_int(text: str) -> int:
    value = _int(text, "a number of seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "approve":
        return _approve(args.url, deny=args.deny)
    if args.command == "demo":
        return _demo(headless=args.headless, timeout=args.timeout)
    try:
        from .demo import DemoProvider
        from .errors import PortInUse
    except ImportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    # Before anything is printed: whoever reads our output may send SIGTERM at once.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    provider = DemoProvider(
        port=args.port,
        api_port=args.api_port,
        token_lifetime=args.token_lifetime,
        issue_refresh_token=not args.no_refresh_token,
        rotate_refresh_tokens=not args.no_rotation,
        auto_approve=args.auto_approve,
    )
    try:
        provider.start()
    except PortInUse as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    try:
        _print_provider(provider)
        # Waiting in short slices keeps the main thread responsive to SIGINT on every platform.
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass  # Ctrl-C is the documented way to stop: a clean exit, not a traceback
    finally:
        provider.stop()
    print("Demo provider stopped.", flush=True)
    return 0


def _approve(url: str, *, deny: bool) -> int:
    try:
        import httpx

        from .demo.browser import HeadlessBrowserError, approve
    except ImportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    try:
        status = approve(url, decision="deny" if deny else "approve")
    except (HeadlessBrowserError, httpx.HTTPError) as exc:
        print(f"{PROG} approve: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


def _demo(*, headless: bool, timeout: float) -> int:
    try:
        import httpx

        from .demo.story import run_story
        from .errors import NbOAuthError, first_line
    except ImportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    try:
        run_story(headless=headless, timeout=timeout, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print(f"{PROG} demo: interrupted; the demo provider is stopped.", file=sys.stderr)
        return 130
    except (NbOAuthError, httpx.HTTPError, OSError) as exc:
        print(f"{PROG} demo: error: {first_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _print_provider(provider: DemoProvider) -> None:
    s = provider.settings
    refresh = "off" if not s.issue_refresh_token else f"on, rotation {_on(s.rotate_refresh_tokens)}"
    lines = [
        "nb_oauth demo provider is running on 127.0.0.1 (Ctrl-C to stop).",
        "",
        f"  issuer                  {provider.issuer}",
        f"  authorization endpoint  {provider.authorization_url}",
        f"  token endpoint          {provider.token_url}",
        f"  revocation endpoint     {provider.revocation_url}",
        f"  metadata                {provider.metadata_url}",
        f"  protected API           {provider.api_url}/api/me  {provider.api_url}/api/items",
        f"  access tokens           {s.token_lifetime} s; refresh tokens {refresh}; "
        f"consent {'auto-approved' if s.auto_approve else 'page with Approve/Deny'}",
        "",
        "  demo clients (demo values, valid only for this provider):",
        f"    {'client_id':<12} {'client_secret':<19} {'client_auth':<12} {'body':<5} grants",
    ]
    auth_names = {"client_secret_basic": "basic", "client_secret_post": "body", "none": "none"}
    for client in provider.clients.values():
        lines.append(
            f"    {client.client_id:<12} {client.client_secret or '-':<19} "
            f"{auth_names.get(client.auth_method, client.auth_method):<12} "
            f"{'json' if client.accepts_json_body else 'form':<5} {', '.join(client.grant_types)}"
        )
    lines += [
        "",
        "  Redirect URIs: http://127.0.0.1:<any port>/callback (RFC 8252 loopback).",
        "  Point a datasource's token_url and authorization_url at the endpoints above.",
    ]
    print("\n".join(lines), flush=True)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
