"""Nobody at the keyboard (SPEC section 11, issue 16 item 5): a sign-in in papermill,
``jupyter nbconvert --execute``, CI, cron or with ``NB_OAUTH_NONINTERACTIVE=1`` fails at once
with one line naming the datasource and what to run interactively, instead of waiting for a
browser nobody will use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.error import UsageError

import nb_oauth
from nb_oauth.consent.unattended import unattended_reason
from nb_oauth.errors import ConsentNeeded
from nb_oauth.jupyter.magics import load, unload
from nb_oauth.session import Session


def reason(env: dict[str, str], **kwargs: Any) -> str | None:
    kwargs.setdefault("kernel_takes_input", lambda: None)
    kwargs.setdefault("runner", lambda: None)
    kwargs.setdefault("terminal", lambda: True)
    return unattended_reason(env, **kwargs)


def test_the_switch_wins_both_ways() -> None:
    assert reason({"NB_OAUTH_NONINTERACTIVE": "1"}) == "NB_OAUTH_NONINTERACTIVE is set"
    assert reason({"NB_OAUTH_NONINTERACTIVE": "yes"}) is not None
    # Off: even a kernel without input in CI counts as attended (a robot browser, say).
    assert reason({"NB_OAUTH_NONINTERACTIVE": "0", "CI": "true"},
                  kernel_takes_input=lambda: False) is None


def test_a_kernel_whose_front_end_takes_no_input_is_unattended() -> None:
    # nbclient (papermill, nbconvert) sends allow_stdin=False; JupyterLab sends True.
    assert reason({}, kernel_takes_input=lambda: False, runner=lambda: "papermill") == (
        "run by papermill"
    )
    assert reason({}, kernel_takes_input=lambda: False) == "the notebook runner takes no input"
    assert reason({}, kernel_takes_input=lambda: True, terminal=lambda: False) is None


def test_ci_and_a_headless_script_are_unattended() -> None:
    assert reason({"CI": "true"}) == "CI is set"
    assert reason({"CI": "false"}) is None
    if sys.platform.startswith("linux"):
        # cron: no terminal, no display, no BROWSER
        assert reason({}, terminal=lambda: False) == "no terminal, display or BROWSER"
        assert reason({"BROWSER": "chromium"}, terminal=lambda: False) is None
        assert reason({"DISPLAY": ":0"}, terminal=lambda: False) is None


def test_connect_fails_at_once_with_one_line(
    monkeypatch: pytest.MonkeyPatch, make_provider: Any
) -> None:
    monkeypatch.setenv("NB_OAUTH_NONINTERACTIVE", "1")
    demo_provider = make_provider()
    session = Session()
    session.save(nb_oauth.Datasource(
        name="crm", token_url=demo_provider.token_url, client_id="demo-public",
        authorization_url=demo_provider.authorization_url, client_auth="none",
    ))
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: opened.append(a[0]) or True)
    with pytest.raises(ConsentNeeded) as info:
        nb_oauth.connect("crm", session=session)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("crm needs a sign-in, but nobody is at the keyboard")
    assert "%datasource connect crm" in message and "nb_oauth.connect('crm')" in message
    assert opened == [] and demo_provider.counters.get("authorizations", 0) == 0


def test_client_credentials_need_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NB_OAUTH_NONINTERACTIVE", "1")
    session = Session()
    session.save(nb_oauth.Datasource(name="svc", grant="client_credentials",
                                     token_url="https://as.example/token", client_id="c"),
                 client_secret="s")
    assert not nb_oauth.connect("svc", session=session).needs_consent


def test_the_magic_says_it_in_one_line(ip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NB_OAUTH_NONINTERACTIVE", "1")
    load(ip, session=Session())
    ip.run_line_magic(
        "datasource",
        "add crm --token-url https://as.example/token --authorization-url "
        "https://as.example/authorize --client-id c --client-auth none",
    )
    with pytest.raises(UsageError, match="crm needs a sign-in, but nobody is at the keyboard"):
        ip.run_line_magic("datasource", "connect crm")
    unload(ip)


NOTEBOOK_CELLS = [
    "from nb_oauth.demo import DemoProvider\n"
    "provider = DemoProvider().start()",
    "import nb_oauth\n"
    "nb_oauth.save(nb_oauth.Datasource(name='demo', token_url=provider.token_url,\n"
    "    authorization_url=provider.authorization_url, client_id='demo-public',\n"
    "    client_auth='none', base_url=provider.api_url))",
    "%load_ext nb_oauth",
    "%datasource connect demo",
    "print('after' + '-connect')",
]


def _runner_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NB_OAUTH_NONINTERACTIVE", "CI", "BROWSER")}
    env.update(NB_OAUTH_SESSION_ONLY="1", NB_OAUTH_HOME=str(tmp_path / "home"),
               IPYTHONDIR=str(tmp_path / "ipython"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def _notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "needs_consent.ipynb"
    nbformat.write(nb, path)
    return path


def _outputs(path: Path) -> str:
    return json.dumps(nbformat.read(path, as_version=4)["cells"])


def test_papermill_fails_with_the_line_instead_of_waiting(tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(_notebook(tmp_path)), str(out),
         "--kernel", "python3", "--cwd", str(tmp_path)],
        env=_runner_env(tmp_path), capture_output=True, text=True, timeout=100,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    outputs = _outputs(out)
    said = "demo needs a sign-in, but nobody is at the keyboard in this run (run by papermill)"
    assert said in outputs
    assert "after-connect" not in outputs  # Run All stopped at the failing cell
    # One line, not a traceback from inside nb_oauth.
    assert "Traceback" not in outputs and "CallbackTimeout" not in outputs


def test_nbconvert_execute_fails_with_the_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         str(_notebook(tmp_path)), "--output", str(tmp_path / "out.ipynb")],
        env=_runner_env(tmp_path), capture_output=True, text=True, timeout=100,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "demo needs a sign-in, but nobody is at the keyboard in this run (" in done.stderr
    assert "nbconvert" in done.stderr.split("nobody is at the keyboard", 1)[1][:80]
