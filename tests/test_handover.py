"""The hand-over between the server extension and the waiting kernel, without a server: the
private folder, the files, and ServerCallback's wait with the loopback catcher's rules (SEC-5,
SEC-8, SEC-9, SEC-11, SEC-17, SEC-44). The real server and Hub are in test_server_callback.py and
test_jupyterhub.py.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import nb_oauth
from nb_oauth.consent.flow import connect
from nb_oauth.consent.request import AuthorizationRequest
from nb_oauth.consent.server_callback import ServerCallback
from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    AuthorizationDenied,
    CallbackTimeout,
    SignInCancelled,
    StateMismatch,
)
from nb_oauth.handover import (
    FOLDER_NAME,
    Delivery,
    Handover,
    HandoverUnsafe,
    Outcome,
    flow_key,
    handover_folder,
)
from nb_oauth.session import Session
from tests.conftest import BrowserRobot, FakeClock, QuietView

REDIRECT = "http://127.0.0.1:8888/user/alice/nb-oauth/callback"


def _ds(**fields: Any) -> Datasource:
    settings: dict[str, Any] = {
        "name": "demo",
        "token_url": "http://127.0.0.1:9/token",
        "authorization_url": "http://127.0.0.1:9/authorize",
        "client_id": "demo-public",
        "client_auth": "none",
        "redirect_uri": REDIRECT,
        **fields,
    }
    return Datasource(**settings)


class Flow:
    """A ServerCallback that expects one request, and the server's side of the folder."""

    def __init__(self, runtime: Path, ds: Datasource | None = None, timeout: float = 30) -> None:
        self.clock = FakeClock()
        self.callback = ServerCallback(
            REDIRECT, timeout=timeout, runtime_dir=runtime, now=self.clock
        )
        self.callback.__enter__()
        self.request = AuthorizationRequest(ds or _ds(), REDIRECT)
        self.callback.expect(self.request)
        self.server = Handover(runtime / FOLDER_NAME)

    def query(self, **params: str) -> str:
        return urlencode({"state": self.request.state, **params})


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    return tmp_path / "runtime"


def _files(runtime: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (runtime / FOLDER_NAME).iterdir()}


def test_the_folder_is_private_and_its_files_hold_no_state(runtime: Path) -> None:
    flow = Flow(runtime)
    folder = runtime / FOLDER_NAME
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = _files(runtime)
    assert list(files) == [f"{flow_key(flow.request.state)}.pending"]
    for name, content in files.items():
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
        assert flow.request.state.encode() not in content and flow.request.state not in name
    flow.callback.close()


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o777])
def test_a_folder_open_to_others_is_refused_with_one_line(runtime: Path, mode: int) -> None:
    folder = runtime / FOLDER_NAME
    folder.mkdir(parents=True)
    folder.chmod(mode)
    with pytest.raises(HandoverUnsafe) as raised:
        handover_folder(runtime)
    message = str(raised.value)
    assert "\n" not in message and f"mode {mode:o}" in message and "remove the folder" in message


def test_a_link_in_place_of_the_folder_is_refused(runtime: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    runtime.mkdir()
    (runtime / FOLDER_NAME).symlink_to(elsewhere)
    with pytest.raises(HandoverUnsafe, match="is not a folder"):
        handover_folder(runtime)


def test_the_response_is_delivered_once_and_leaves_no_code_behind(runtime: Path) -> None:
    flow = Flow(runtime)
    delivery, key = flow.server.deliver(flow.query(code="the-code"))
    assert (delivery, key) == (Delivery.DELIVERED, flow_key(flow.request.state))
    assert flow.callback.wait(30).reveal() == "the-code"
    assert flow.server.verdict(key).outcome is Outcome.SIGNED_IN  # type: ignore[union-attr]
    flow.callback.close()
    # SEC-8: a replay finds nothing to claim; SEC-44: no file holds the code.
    assert flow.server.deliver(flow.query(code="the-code")) == (Delivery.REPLAYED, None)
    files = _files(runtime)
    assert [name.partition(".")[2] for name in files] == ["done"]
    assert not [name for name, content in files.items() if b"the-code" in content]


def test_the_same_validator_runs_as_for_the_catcher(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SEC-11: one validator for every path.
    seen: list[str] = []
    original = AuthorizationRequest.check_response

    def spy(self: AuthorizationRequest, query: str) -> Any:
        seen.append(query)
        return original(self, query)

    monkeypatch.setattr(AuthorizationRequest, "check_response", spy)
    flow = Flow(runtime)
    flow.server.deliver(flow.query(code="c"))
    flow.callback.wait(30)
    assert seen == [flow.query(code="c")]


def test_a_wrong_state_keeps_the_wait_and_ends_in_state_mismatch(runtime: Path) -> None:
    # SEC-5: nothing delivered; at the deadline the kernel says "wrong state", not "no answer".
    flow = Flow(runtime)
    assert flow.server.deliver(urlencode({"state": "forged", "code": "x"})) == (
        Delivery.WRONG_STATE, None,
    )
    assert flow.server.deliver("code=x") == (Delivery.NO_STATE, None)
    assert flow.server.deliver(flow.query(code="x") + "&state=again") == (Delivery.NO_STATE, None)
    with pytest.raises(StateMismatch):
        flow.callback.wait(0)
    flow.callback.close()


def test_the_deadline_ends_the_sign_in_and_a_late_callback_is_told_it_expired(
    runtime: Path,
) -> None:
    flow = Flow(runtime)
    with pytest.raises(CallbackTimeout, match="reached the Jupyter server's callback within 0 s"):
        flow.callback.wait(0)
    flow.callback.close()
    assert flow.server.deliver(flow.query(code="late")) == (Delivery.EXPIRED, None)
    assert not [c for c in _files(runtime).values() if b"late" in c]


def test_a_pending_file_past_its_expiry_is_refused_and_removed(runtime: Path) -> None:
    # A kernel that died mid-sign-in (killed) left its pending file behind.
    server = Handover(handover_folder(runtime))
    server.register("state-of-a-dead-kernel", "demo", expires_at=1.0)
    delivery, _ = server.deliver(urlencode({"state": "state-of-a-dead-kernel", "code": "c"}))
    assert delivery is Delivery.EXPIRED
    assert [name.partition(".")[2] for name in _files(runtime)] == ["done"]


def test_cancel_and_interrupt_withdraw_the_sign_in(runtime: Path) -> None:
    flow = Flow(runtime)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SignInCancelled):
        flow.callback.wait(30, cancel=cancel)
    flow.callback.__exit__(SignInCancelled, None, None)
    assert flow.server.deliver(flow.query(code="c")) == (Delivery.CANCELLED, None)

    second = Flow(runtime)
    second.callback.__exit__(KeyboardInterrupt, None, None)
    assert second.server.deliver(second.query(code="c")) == (Delivery.CANCELLED, None)


def test_an_error_response_ends_the_sign_in_and_the_page_gets_its_line(runtime: Path) -> None:
    # SEC-17
    flow = Flow(runtime)
    _, key = flow.server.deliver(flow.query(error="access_denied", error_description="<b>no</b>"))
    with pytest.raises(AuthorizationDenied):
        flow.callback.wait(30)
    verdict = flow.server.verdict(key)  # type: ignore[arg-type]
    assert verdict is not None and verdict.outcome is Outcome.FAILED
    assert "access_denied" in verdict.message and "\n" not in verdict.message
    flow.callback.close()
    assert flow.server.deliver(flow.query(code="c"))[0] is Delivery.REPLAYED


def test_a_malformed_response_is_reported_and_the_wait_goes_on(runtime: Path) -> None:
    flow = Flow(runtime)
    verdicts: list[Outcome] = []
    failed = threading.Event()  # ends the wait at once if the browser's side fails

    def browser() -> None:
        try:
            play()
        except BaseException:
            failed.set()
            raise

    def play() -> None:
        _, key = flow.server.deliver(flow.query())  # neither code nor error
        assert key is not None
        verdict = None
        for _ in range(300):  # polled with a deadline: the kernel judges it within a slice
            verdict = flow.server.verdict(key)
            if verdict is not None:
                break
            threading.Event().wait(0.1)
        assert verdict is not None
        verdicts.append(verdict.outcome)
        # The sign-in still waits: a good response gets through.
        assert flow.server.deliver(flow.query(code="good"))[0] is Delivery.DELIVERED

    thread = threading.Thread(target=browser, daemon=True)
    thread.start()
    assert flow.callback.wait(30, cancel=failed).reveal() == "good"
    thread.join(10)
    assert verdicts == [Outcome.IGNORED]
    flow.callback.close()


def test_a_response_no_kernel_takes_is_withdrawn(runtime: Path) -> None:
    flow = Flow(runtime)
    _, key = flow.server.deliver(flow.query(code="orphan"))
    assert key is not None and flow.server.withdraw(key)
    assert not [c for c in _files(runtime).values() if b"orphan" in c]


def test_old_records_are_swept(runtime: Path) -> None:
    wall = [1000.0]
    server = Handover(handover_folder(runtime), wall=lambda: wall[0])
    server.finish("k", Outcome.SIGNED_IN, "", "demo")
    server.register("s", "demo", expires_at=2000.0)
    stale = runtime / FOLDER_NAME / ".leftover.tmp"
    stale.write_text("x")
    os.utime(stale, (0, 0))
    wall[0] += 10_000
    server.sweep()
    # The pending sign-in past its expiry became an "expired" record; the rest is gone.
    assert sorted(p.name for p in (runtime / FOLDER_NAME).iterdir()) == [
        f"{flow_key('s')}.done"
    ]


def test_connect_takes_the_server_path_for_a_server_redirect_uri(
    make_provider: Any, clock: FakeClock, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Choosing the path (SPEC section 11): the redirect_uri says "server callback", so no port is
    # opened; the server's part is played here by Handover.deliver.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    redirect = "http://127.0.0.1:8888/user/alice/nb-oauth/callback"
    demo_provider = make_provider(redirect_uris=(redirect,))
    session = Session(now=clock)
    nb_oauth.save(
        Datasource(
            name="demo", token_url=demo_provider.token_url,
            authorization_url=demo_provider.authorization_url, client_id="demo-public",
            client_auth="none", scopes="profile", redirect_uri=redirect,
        ),
        session=session,
    )
    robot = BrowserRobot(deliver=False)
    served: list[Delivery] = []

    def server() -> None:
        query = urlsplit(robot.wait_for_redirect(30)).query
        served.append(Handover(runtime / FOLDER_NAME).deliver(query)[0])

    def no_catcher(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a loopback catcher was opened")

    monkeypatch.setattr("nb_oauth.consent.flow.LoopbackCatcher", no_catcher)
    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    result = connect(session, "demo", view=QuietView(), open_url=robot, timeout=30)
    thread.join(10)
    assert served == [Delivery.DELIVERED]
    assert result.via == "the Jupyter server's callback"
    assert str(result).endswith(" (signed in via the Jupyter server's callback)")
    assert dict(parse_qsl(urlsplit(robot.opened[0]).query))["redirect_uri"] == redirect


def test_the_outcome_line_names_the_loopback_path_too(
    demo_provider: Any, clock: FakeClock, browser: BrowserRobot
) -> None:
    session = Session(now=clock)
    nb_oauth.save(
        Datasource(
            name="demo", token_url=demo_provider.token_url,
            authorization_url=demo_provider.authorization_url, client_id="demo-public",
            client_auth="none", scopes="profile",
        ),
        session=session,
    )
    result = connect(session, "demo", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    assert str(result).startswith("Connected demo: access token valid for")
    assert str(result).endswith(" (signed in via the loopback redirect)")


def test_connect_with_an_unsafe_folder_fails_in_one_line_naming_the_datasource(
    clock: FakeClock, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    (runtime / FOLDER_NAME).mkdir(parents=True, mode=0o700)
    (runtime / FOLDER_NAME).chmod(0o755)
    session = Session(now=clock)
    nb_oauth.save(_ds(), session=session)
    opened: list[str] = []
    with pytest.raises(HandoverUnsafe) as raised:
        connect(session, "demo", view=QuietView(), open_url=opened.append, timeout=30)
    message = str(raised.value)
    assert message.startswith("Sign-in for demo: The sign-in hand-over folder ")
    assert "\n" not in message and "remove the folder" in message
    assert opened == []  # nothing was opened: the check comes first


def test_the_page_gets_its_verdict_while_the_kernel_is_still_opening_the_browser(
    make_provider: Any, clock: FakeClock, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A BROWSER command that waits for the page to load (`nb-oauth approve`, a script) holds
    # open_url until the callback page answers; the page waits for the kernel's verdict. The
    # kernel must judge the response before it reaches wait().
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    redirect = "http://127.0.0.1:8888/user/alice/nb-oauth/callback"
    provider = make_provider(redirect_uris=(redirect,))
    session = Session(now=clock)
    nb_oauth.save(
        Datasource(
            name="demo", token_url=provider.token_url,
            authorization_url=provider.authorization_url, client_id="demo-public",
            client_auth="none", scopes="profile", redirect_uri=redirect,
        ),
        session=session,
    )
    verdicts: list[Outcome] = []

    def blocking_browser(url: str) -> bool:
        robot = BrowserRobot(deliver=False)
        robot(url)
        server = Handover(runtime / FOLDER_NAME)
        _, key = server.deliver(urlsplit(robot.wait_for_redirect(30)).query)
        assert key is not None
        for _ in range(300):  # polled with a deadline, as the server's page does
            verdict = server.verdict(key)
            if verdict is not None:
                verdicts.append(verdict.outcome)
                return True
            threading.Event().wait(0.1)
        raise AssertionError("no verdict while the browser command ran")

    result = connect(session, "demo", view=QuietView(), open_url=blocking_browser, timeout=60)
    assert verdicts == [Outcome.SIGNED_IN]
    assert result.via == "the Jupyter server's callback"
