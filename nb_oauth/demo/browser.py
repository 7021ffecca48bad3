"""A stand-in for the user's browser, for headless runs against the demo provider.

It does what a person does in a browser tab: opens the authorization URL, presses Approve (or
Deny) on the consent page, and follows the redirect back to the kernel's loopback catcher; or, for
a device sign-in, opens the verification page with the code filled in and presses Approve. Used by
``nb-oauth demo --headless``, by ``nb-oauth approve URL`` (which ``BROWSER`` can name, so that
``webbrowser`` hands it the URL in CI), and by the notebooks when they run headless. It only talks
to 127.0.0.1: the demo provider and the catcher.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

__all__ = ["HeadlessBrowserError", "approve"]


class HeadlessBrowserError(RuntimeError):
    """The consent page or the redirect did not behave like the demo provider's."""


def approve(url: str, *, decision: str = "approve", timeout: float = 10.0) -> int:
    """Give (or, with ``decision="deny"``, refuse) consent at ``url``; return the status the
    loopback catcher answered the redirect with (200 when the sign-in was received), or, for
    the device verification page, the status of the decision (200).

    Raises :class:`HeadlessBrowserError` for a URL off 127.0.0.1 or a provider that does not
    redirect; ``httpx`` errors pass through.
    """
    _loopback_only(url)
    with httpx.Client(follow_redirects=False, timeout=timeout) as tab:
        page = tab.get(url)
        if page.status_code == 200:  # the consent page; under auto-approve it is skipped
            page = tab.post(url, data={"decision": decision})
        if urlsplit(url).path == "/device":
            # RFC 8628 §3.3: the verification page; nothing comes back to the kernel, which
            # polls the token endpoint.
            if page.status_code != 200:
                raise HeadlessBrowserError(
                    f"the verification page answered HTTP {page.status_code}"
                )
            return page.status_code
        location = page.headers.get("location")
        if page.status_code not in (302, 303) or not location:
            raise HeadlessBrowserError(
                f"the provider answered HTTP {page.status_code} instead of redirecting back"
            )
        _loopback_only(location)
        return tab.get(location).status_code


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "::1"):
        raise HeadlessBrowserError(
            f"the headless browser only visits 127.0.0.1 (the demo provider), not {host!r}"
        )
