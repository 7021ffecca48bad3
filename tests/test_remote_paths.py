"""Where the kernel is not on the browser's machine: no console browser is ever started by the
kernel (unless ``BROWSER`` names it), and ``%datasource show`` suggests the redirect URI to
register from the environment (SEC-11, SEC-12)."""

from __future__ import annotations

import shutil
import time
import webbrowser
from pathlib import Path
from typing import Any

import pytest

from nb_oauth.consent.flow import open_in_new_tab
from nb_oauth.consent.server_callback import redirect_advice
from nb_oauth.datasource import Datasource
from nb_oauth.jupyter.display import DatasourceStatus
from nb_oauth.session import Session

CONSOLE_BROWSERS = ["www-browser", "lynx", "w3m", "links", "elinks"]
#: Found before the fixture narrows PATH to the fake browsers.
SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture
def fake_browsers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only fake browsers, each of which leaves a file named after itself when it
    runs; webbrowser's registry is rebuilt from it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in [*CONSOLE_BROWSERS, "xdg-open"]:
        script = bin_dir / name
        # The graphical opener stays up a moment, as a browser does: webbrowser reports a
        # background opener as started only while its process still runs when it looks.
        linger = f"exec {SLEEP} 5\n" if name == "xdg-open" else ""
        script.write_text(f"#!/bin/sh\necho \"$@\" > '{tmp_path}/ran-{name}'\n{linger}")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("TERM", "xterm")
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    monkeypatch.setattr(webbrowser, "_os_preferred_browser", None, raising=False)
    return tmp_path


def _ran(tmp_path: Path) -> list[str]:
    return sorted(p.name.removeprefix("ran-") for p in tmp_path.glob("ran-*"))


def test_a_headless_kernel_never_starts_a_console_browser(fake_browsers: Path) -> None:
    # A Linux server with lynx & co. installed, TERM set, no display: webbrowser alone would run
    # one of them on the kernel's terminal, where it would wait for keys no one presses.
    assert open_in_new_tab("http://127.0.0.1:9/authorize") is False
    assert _ran(fake_browsers) == []


@pytest.mark.parametrize("name", CONSOLE_BROWSERS)
def test_a_browser_named_in_BROWSER_is_used_whatever_it_is(
    fake_browsers: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("BROWSER", str(fake_browsers / "bin" / name))
    assert open_in_new_tab("http://127.0.0.1:9/authorize") is True
    assert _ran(fake_browsers) == [name]


# webbrowser's background opener leaves its Popen to the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_with_a_display_the_graphical_browser_opens(
    fake_browsers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    assert open_in_new_tab("http://127.0.0.1:9/authorize") is True
    deadline = time.monotonic() + 30  # xdg-open runs in the background
    while not _ran(fake_browsers):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _ran(fake_browsers) == ["xdg-open"]


def _ds(**fields: Any) -> Datasource:
    return Datasource(
        name="crm", token_url="https://auth.example/token",
        authorization_url="https://auth.example/authorize", client_id="app", **fields,
    )


HUB = "https://hub.example.org/hub/user-redirect/nb-oauth/callback"


@pytest.mark.parametrize(
    ("environ", "suggested"),
    [
        ({}, None),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
          "JUPYTERHUB_PUBLIC_HUB_URL": "https://hub.example.org/hub/"}, HUB),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "JUPYTERHUB_BASE_URL": "/",
          "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/alice/"}, HUB),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/jh/user/alice/", "JUPYTERHUB_BASE_URL": "/jh/",
          "JUPYTERHUB_HOST": "https://hub.example.org"},
         "https://hub.example.org/jh/hub/user-redirect/nb-oauth/callback"),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"},
         "https://<your hub>/hub/user-redirect/nb-oauth/callback"),
        ({"NB_OAUTH_PUBLIC_URL": "https://lab.example.org/jupyter/"},
         "https://lab.example.org/jupyter/nb-oauth/callback"),
    ],
)
def test_the_redirect_uri_to_register_follows_the_environment(
    environ: dict[str, str], suggested: str | None
) -> None:
    advice = redirect_advice(_ds(), environ)
    assert advice.register == "http://127.0.0.1/callback"
    assert advice.suggested == suggested
    if suggested:
        assert advice.reason is not None and f"--redirect-uri {suggested}" in advice.reason


def test_a_server_callback_datasource_registers_its_own_uri() -> None:
    ds = _ds(redirect_uri=HUB)
    advice = redirect_advice(ds, {"NB_OAUTH_PUBLIC_URL": "https://other.example"})
    assert advice.register == HUB and "exactly" in advice.note
    assert advice.suggested == "https://other.example/nb-oauth/callback"
    assert redirect_advice(ds, {}).suggested is None


def test_show_suggests_the_hub_uri_on_jupyterhub(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_HUB_URL", "https://hub.example.org/hub/")
    session = Session(now=clock)
    session.save(_ds())
    text = str(DatasourceStatus.of(session, "crm"))
    assert "redirect URI to register  http://127.0.0.1/callback (any port on 127.0.0.1" in text
    assert f"suggested redirect URI    {HUB} (this kernel runs on JupyterHub" in text
    assert f"%datasource edit crm --redirect-uri {HUB}" in text


def test_the_forms_preset_help_names_the_uri_this_environment_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # issue 16: the form's registration hint follows the environment (JupyterHub), and a server
    # callback given in the form.
    from nb_oauth.jupyter.widgets import DatasourceForm
    from nb_oauth.session import Session

    for key in ("JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_PUBLIC_HUB_URL", "NB_OAUTH_PUBLIC_URL"):
        monkeypatch.delenv(key, raising=False)
    form = DatasourceForm(Session())
    form._input("provider").value = "github"
    help_html = form._rows["provider"]._help.value
    assert "http://127.0.0.1/callback" in help_html
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_HUB_URL", "https://hub.example/hub/")
    form._input("provider").value = ""
    form._input("provider").value = "github"
    help_html = form._rows["provider"]._help.value
    assert "https://hub.example/hub/user-redirect/nb-oauth/callback" in help_html
    assert "Redirect URI under More settings" in help_html
