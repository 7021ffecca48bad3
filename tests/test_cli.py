"""``nb-oauth``: the demo provider runs until Ctrl-C, and bad input is one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

CLI = [sys.executable, "-m", "nb_oauth"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_provider_serves_until_ctrl_c_then_exits_cleanly() -> None:
    process = subprocess.Popen(
        [*CLI, "provider", "--auto-approve", "--token-lifetime", "90"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "demo-json" in line:
                break
        text = "".join(lines)
        issuer = next(ln.split()[-1] for ln in lines if ln.strip().startswith("issuer"))
        assert issuer.startswith("http://127.0.0.1:")
        assert "demo-basic-secret" in text  # the demo clients' credentials are printed
        assert "90 s" in text
        assert httpx.get(issuer + "/.well-known/oauth-authorization-server").status_code == 200

        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # closes the pipes
    assert process.returncode == 0
    assert "stopped" in out
    assert "Traceback" not in err
    with pytest.raises(httpx.ConnectError):
        httpx.get(issuer + "/.well-known/oauth-authorization-server")


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM is POSIX")
def test_provider_stops_on_sigterm() -> None:
    process = subprocess.Popen([*CLI, "provider"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "demo-json" in line:
            break
    process.terminate()
    process.communicate(timeout=15)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["provider", "--bogus"], "unrecognized arguments: --bogus"),
        (["provider", "--port", "abc"], "expected a port, got 'abc'"),
        (["provider", "--port", "70000"], "port must be 0..65535"),
        (["provider", "--token-lifetime", "0"], "must be a positive number of seconds"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "--help" in result.stderr


def test_busy_port_is_one_line_without_traceback(busy_port: int) -> None:
    result = run("provider", "--port", str(busy_port))
    assert result.returncode == 1
    assert result.stderr == (
        f"nb-oauth: error: Port {busy_port} on 127.0.0.1 is in use, "
        "choose another port, or 0 for any free one\n"
    )


def test_no_command_prints_help_and_fails() -> None:
    result = run()
    assert result.returncode == 2
    assert "provider" in result.stdout and "demo" in result.stdout


def test_demo_headless_runs_the_whole_story_and_exits_0() -> None:
    result = run("demo", "--headless")
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert [step[:5] for step in steps] == [f"[{i}/8]" for i in range(1, 9)]
    assert "(1 refresh, rotation on)" in result.stdout
    assert "(signed in via a device code)" in result.stdout  # SPEC section 11
    assert "tokens revoked at the provider" in result.stdout
    # Issue 18: a key pair (private_key_jwt) and a DPoP-bound token.
    assert "(private_key_jwt), and its DPoP token is bound" in result.stdout
    assert result.stderr == ""


def test_demo_without_a_browser_falls_back_to_the_stand_in(tmp_path: object) -> None:
    import os

    env = {**os.environ, "BROWSER": "/bin/false"}  # a "browser" that fails to open
    result = subprocess.run(
        [*CLI, "demo"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "No browser could be opened here" in result.stdout
    assert "[8/8]" in result.stdout


def test_approve_signs_in_a_waiting_kernel_like_a_browser(demo_provider: object) -> None:
    # `nb-oauth approve URL` is what BROWSER can name for headless demo runs.
    import threading

    from nb_oauth.consent.catcher import LoopbackCatcher
    from nb_oauth.consent.request import AuthorizationRequest
    from nb_oauth.datasource import Datasource
    from nb_oauth.demo import DemoProvider

    assert isinstance(demo_provider, DemoProvider)
    ds = Datasource(
        name="d",
        token_url=demo_provider.token_url,
        authorization_url=demo_provider.authorization_url,
        client_id="demo-public",
        client_auth="none",
    )
    with LoopbackCatcher() as catcher:
        request = AuthorizationRequest(ds, catcher.redirect_uri)
        catcher.expect(request)
        results: list[subprocess.CompletedProcess[str]] = []
        thread = threading.Thread(target=lambda: results.append(run("approve", request.url)))
        thread.start()
        code = catcher.wait(timeout=30)
        thread.join(30)
    assert code.reveal()
    assert results[0].returncode == 0, results[0].stderr


def test_approve_refuses_urls_off_loopback() -> None:
    result = run("approve", "https://accounts.example.com/authorize?x=1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "only visits 127.0.0.1" in result.stderr


def test_demo_timeout_is_said_once_and_no_browser_claim_contradicts_another() -> None:
    # A "browser" that says it opened the page, and a user who never approves.
    env = {**os.environ, "BROWSER": "/bin/true"}
    result = subprocess.run(
        [*CLI, "demo", "--timeout", "1"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 1
    both = result.stdout + result.stderr
    assert both.count("No authorization response arrived") == 1
    assert "No browser could be opened" not in both  # the tab did open
    assert result.stderr.startswith("nb-oauth demo: error: ")


def test_demo_with_a_chromium_browser_signs_in() -> None:
    # The demo's consent page in a real browser, with its real CSP: Approve reaches the catcher.
    from pathlib import Path

    from tests.chromium import CHROMIUM, MISSING

    assert os.path.exists(CHROMIUM), MISSING
    script = Path(__file__).with_name("chromium_browser.py")
    env = {**os.environ, "BROWSER": f"{sys.executable} {script} %s"}
    result = subprocess.run(
        [*CLI, "demo", "--timeout", "60"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Approve in the browser tab that opened" in result.stdout
    assert "[8/8]" in result.stdout and "Connected demo" in result.stdout


def test_the_demo_story_pulls_a_whole_collection_into_a_data_frame() -> None:
    result = run("demo", "--headless")
    assert result.returncode == 0, result.stderr
    step = next(line for line in result.stdout.splitlines() if line.startswith("[5/8]"))
    assert "cursor after cursor -> 250 records in a DataFrame (250 rows x 7 columns" in step
    assert "amount by category: books" in step


def test_the_demo_story_without_pandas_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nb_oauth.demo.story import run_story

    monkeypatch.setitem(sys.modules, "pandas", None)
    lines: list[str] = []
    run_story(headless=True, timeout=30, say=lines.append)
    step = next(line for line in lines if line.startswith("[5/8]"))
    assert "250 records as a list; no DataFrame" in step
    assert step.endswith("pip install 'nb_oauth[pandas]'")
    assert lines[-1].startswith("Demo finished")


def test_the_demo_story_connects_with_only_the_api_url() -> None:
    result = run("demo", "--headless")
    assert result.returncode == 0, result.stderr
    step = next(line for line in result.stdout.splitlines() if line.startswith("[2/8]"))
    assert "saved from the API URL alone" in step and "registered the public client" in step
