"""Storage where no keyring exists (issue 16 item 4; SEC-37, SEC-38, SEC-39): keyring's real
`fail`, `null` and `chainer` backends (and keyrings.alt's plaintext one), selected through keyring
itself; the memory fallback and its one line; the one switch (`NB_OAUTH_STORE`,
`%datasource storage`, `nb_oauth.use_store`); the 0600 `file` store; a kernel restart, as a new
store over the same `NB_OAUTH_HOME` and as a real new process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.core
import pytest
from IPython.core.error import UsageError
from keyrings.alt.file import PlaintextKeyring

import nb_oauth
from nb_oauth.consent.flow import connect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import ConfigError, NoSecureStorage, StorageWarning
from nb_oauth.jupyter.magics import NbOAuthMagics, load, unload
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.store.file_vault import FileVault, secrets_path
from nb_oauth.store.keyring_store import KeyringStore, signed_out_line
from tests.conftest import BrowserRobot, FakeClock, QuietView

ROOT = Path(__file__).resolve().parent.parent
CANARY = "CANARY-STORE-5e0b"
NOTICE = "keeps client secrets and tokens in this kernel's memory"
#: Why secrets stay in memory, as the one-line notices say it, per backend.
WHY = {
    "fail": "no usable system keyring here",
    "chainer": "no usable system keyring here",
    "null": "the keyring is disabled",
    "plaintext": "the keyring backend keyrings.alt.file.PlaintextKeyring would keep them in "
    "plain text",
}


@pytest.fixture
def provider(make_provider: Any) -> DemoProvider:
    return make_provider(token_lifetime=600)


def _chainer_with_nothing(monkeypatch: pytest.MonkeyPatch) -> keyring.backend.KeyringBackend:
    # keyring's own filter on what a chainer may chain (keyring.core.init_backend's `limit`):
    # here, nothing usable, as on a server without a Secret Service.
    monkeypatch.setattr(keyring.backend, "_limit", lambda backend: False)
    chainer = keyring.backends.chainer.ChainerBackend()
    assert chainer.backends == []
    return chainer


@pytest.fixture(params=["fail", "null", "chainer", "plaintext"])
def no_keyring(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    nb_oauth_home: Path,
) -> Iterator[str]:
    """keyring's real backends of a machine without a usable keyring, made keyring's active
    backend with `keyring.set_keyring` (keyring's config path points into `tmp_path`)."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv("NB_OAUTH_STORE", raising=False)
    monkeypatch.setattr(keyring.core, "_config_path", lambda: tmp_path / "keyringrc.cfg")
    kind: str = request.param
    backend: keyring.backend.KeyringBackend
    if kind == "fail":
        backend = keyring.backends.fail.Keyring()
    elif kind == "null":
        backend = keyring.backends.null.Keyring()
    elif kind == "chainer":
        backend = _chainer_with_nothing(monkeypatch)
    else:
        backend = PlaintextKeyring()
        backend.file_path = str(tmp_path / "plaintext_keyring.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield kind
    finally:
        keyring.set_keyring(previous)


def _magics(ip: Any, clock: FakeClock, **store: Any) -> NbOAuthMagics:
    return load(ip, session=Session(KeyringStore(**store), now=clock))


def _add_line(provider: DemoProvider, name: str = "demo") -> str:
    return (
        f"add {name} --token-url {provider.token_url} --authorization-url "
        f"{provider.authorization_url} --client-id demo-basic --scopes profile "
        f"--base-url {provider.api_url} --client-secret-env DEMO_SECRET"
    )


def _connect(ip: Any, browser: BrowserRobot, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setattr("webbrowser.open", lambda url, new=0, autoraise=True: browser(url))
    ip.run_line_magic("datasource", f"connect {name} --timeout 30")
    browser.join()


def _notices(out: str) -> list[str]:
    return [line for line in out.splitlines() if "kernel's memory" in line and "nb_oauth" in line]


def _secret_files(root: Path, *canaries: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(canary.encode() in data for canary in canaries):
                found.append(path)
    return found


# --- the first run on a machine without a keyring ------------------------------------------------


def test_add_connect_call_and_restart_without_a_keyring_in_the_magics(
    ip: Any,
    no_keyring: str,
    provider: DemoProvider,
    clock: FakeClock,
    browser: BrowserRobot,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    nb_oauth_home: Path,
    tmp_path: Path,
) -> None:
    secret = provider.clients["demo-basic"].client_secret
    assert secret is not None
    monkeypatch.setenv("DEMO_SECRET", secret)
    magics = _magics(ip, clock)
    ip.run_line_magic("datasource", _add_line(provider))  # not refused: the first experience
    out = capsys.readouterr().out
    notices = _notices(out)
    assert len(notices) == 1, out  # said once, in one line
    assert "%datasource storage file" in notices[0] and "sign in again" in notices[0]
    assert len(notices[0]) < 300
    if no_keyring == "plaintext":
        assert "plain text" in notices[0]
    _connect(ip, browser, monkeypatch, "demo")
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    listing = str(ip.run_line_magic("datasource", "list"))
    assert "connected" in listing and "Secrets are kept in this kernel's memory" in listing
    shown = str(ip.run_line_magic("datasource", "show demo"))
    assert "stored in this kernel's memory" in shown
    assert _notices(capsys.readouterr().out) == []  # still once
    tokens = magics.context.session.store.load_tokens("demo")
    assert tokens is not None and tokens.refresh_token is not None
    # SEC-38: only the non-secret config file was written; no secret anywhere on disk.
    canaries = (secret, tokens.access_token.reveal(), tokens.refresh_token.reveal())
    assert _secret_files(tmp_path, *canaries) == []
    assert not secrets_path(nb_oauth_home).exists()
    unload(ip)

    # The kernel restarts: a new store over the same NB_OAUTH_HOME.
    restarted = _magics(ip, clock)
    shown = str(ip.run_line_magic("datasource", "show demo"))  # known, not "unknown datasource"
    assert "not connected" in shown
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "signed out" in line]
    assert lines == [
        "demo is signed out after the kernel restart: nb_oauth keeps secrets in this kernel's "
        f"memory ({WHY[no_keyring]}); sign in with %datasource connect demo (first "
        "%datasource edit demo --new-client-secret if it has a client secret); to keep them "
        'across restarts, run %datasource storage file (Python: nb_oauth.use_store("file"))'
    ]
    with pytest.raises(UsageError, match="'demo' is not connected; .*%datasource connect demo"):
        ip.run_line_magic("api", "demo GET /api/me")
    ip.run_line_magic("datasource", "storage")
    described = capsys.readouterr().out
    assert described.startswith("Client secrets and tokens are kept in this kernel's memory "
                                "(nothing chosen, and ")
    # Signing in without giving the secret again: the provider refuses the client, and the line
    # says what is missing and the command that gives it.
    with pytest.raises(UsageError) as refused:
        _connect(ip, BrowserRobot(), monkeypatch, "demo")
    assert "invalid_client" in str(refused.value) and "\n" not in str(refused.value)
    assert "No client secret is saved for demo here" in str(refused.value)
    assert "%datasource edit demo --new-client-secret" in str(refused.value), refused.value
    # What the line says to run, works: the secret again, a new sign-in, and calls answer.
    restarted.context.prompt_secret = lambda prompt: secret
    ip.run_line_magic("datasource", "edit demo --new-client-secret")
    _connect(ip, BrowserRobot(), monkeypatch, "demo")
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    everything = out + described + capsys.readouterr().out
    renewed = restarted.context.session.store.load_tokens("demo")
    assert renewed is not None and renewed.refresh_token is not None
    for canary in (*canaries, renewed.access_token.reveal(), renewed.refresh_token.reveal()):
        assert canary not in everything
    unload(ip)


def test_the_form_saves_without_a_keyring_and_says_so_in_one_line(
    no_keyring: str, provider: DemoProvider, clock: FakeClock
) -> None:
    from nb_oauth.jupyter.widgets import DatasourceForm
    from tests.test_widgets import fill, text_of

    session = Session(KeyringStore(), now=clock)
    form = DatasourceForm(session)
    fill(form, provider, client_secret=CANARY)
    form._save.click()
    shown = text_of(form)
    assert "Saved demo; its client secret is kept in this kernel's memory." in shown
    assert len(_notices(shown)) == 1 and "%datasource storage file" in shown
    assert session.store.load_secret("demo") == Secret(CANARY)
    # Never in the widget state a notebook saves (SEC-44).
    state = json.dumps([widget.get_state() for widget in form.children], default=str)
    assert CANARY not in state and CANARY not in shown


def test_the_form_saves_to_the_store_chosen_at_run_time(
    no_keyring: str, provider: DemoProvider, clock: FakeClock, nb_oauth_home: Path
) -> None:
    from nb_oauth.jupyter.widgets import DatasourceForm
    from tests.test_widgets import fill, text_of

    session = Session(KeyringStore(), now=clock)
    nb_oauth.use_store("file", session=session)  # or %datasource storage file
    form = DatasourceForm(session)
    fill(form, provider, client_secret=CANARY)
    form._save.click()
    shown = text_of(form)
    path = secrets_path(nb_oauth_home)
    assert f"Saved demo; its client secret is kept in the private file {path}." in shown
    assert _notices(shown) == []  # chosen: nothing to tell
    assert _secret_files(nb_oauth_home, CANARY) == [path]
    assert Session(KeyringStore()).store.load_secret("demo") == Secret(CANARY)  # a restart


def test_python_falls_back_the_same_way_and_a_connected_datasource_answers(
    no_keyring: str, provider: DemoProvider, clock: FakeClock, browser: BrowserRobot
) -> None:
    session = Session(KeyringStore(), now=clock)
    ds = nb_oauth.Datasource(
        name="demo", token_url=provider.token_url, authorization_url=provider.authorization_url,
        client_id="demo-basic", base_url=provider.api_url,
    )
    with pytest.warns(StorageWarning, match=NOTICE) as told:
        nb_oauth.save(ds, client_secret=provider.clients["demo-basic"].client_secret,
                      session=session)
    assert len(told) == 1
    connect(session, "demo", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200
        clock.advance(3600)
        assert api.get("/api/me").status_code == 200  # renewed, in memory
    assert "this kernel's memory" in nb_oauth.use_store(session=session)


# --- the file store -------------------------------------------------------------------------------


def test_the_file_store_keeps_the_connection_across_a_restart(
    ip: Any,
    no_keyring: str,
    provider: DemoProvider,
    clock: FakeClock,
    browser: BrowserRobot,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    nb_oauth_home: Path,
) -> None:
    secret = provider.clients["demo-basic"].client_secret
    assert secret is not None
    monkeypatch.setenv("DEMO_SECRET", secret)
    magics = _magics(ip, clock)
    ip.run_line_magic("datasource", "storage file")  # before anything: no notice at all
    out = capsys.readouterr().out
    path = secrets_path(nb_oauth_home)
    assert out.strip() == (
        f"Client secrets and tokens are now kept in the private file {path}; later kernels will "
        "use it too"
    )
    ip.run_line_magic("datasource", _add_line(provider))
    _connect(ip, browser, monkeypatch, "demo")
    assert _notices(capsys.readouterr().out) == []
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    tokens = magics.context.session.store.load_tokens("demo")
    assert tokens is not None and tokens.refresh_token is not None
    # 0600 in 0700, and only there (SEC-39): not in the config file, no temporary files left.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert _secret_files(nb_oauth_home, secret, tokens.refresh_token.reveal()) == [path]
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    unload(ip)

    _magics(ip, clock)  # the kernel restarts: the recorded choice holds
    shown = str(ip.run_line_magic("datasource", "show demo"))
    assert "connected; access token expires" in shown and f"stored in the private file {path}" \
        in shown
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    described = ip.run_line_magic("datasource", "storage")
    assert described is None
    assert "(chosen with %datasource storage)" in capsys.readouterr().out
    unload(ip)


def test_switching_from_memory_to_file_keeps_this_kernels_sign_in(
    ip: Any,
    no_keyring: str,
    provider: DemoProvider,
    clock: FakeClock,
    browser: BrowserRobot,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEMO_SECRET", provider.clients["demo-basic"].client_secret or "")
    _magics(ip, clock)
    ip.run_line_magic("datasource", _add_line(provider))
    _connect(ip, browser, monkeypatch, "demo")
    capsys.readouterr()
    ip.run_line_magic("datasource", "storage file")  # what the notice said to run
    assert "; copied there: demo" in capsys.readouterr().out
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    unload(ip)
    _magics(ip, clock)  # restart
    assert ip.run_line_magic("api", "demo GET /api/me")["sub"] == "demo-user"
    assert "signed out" not in capsys.readouterr().out
    unload(ip)


@pytest.mark.parametrize("where", ["folder", "file"])
def test_a_file_store_that_others_can_read_is_refused_in_one_line(
    ip: Any, nb_oauth_home: Path, clock: FakeClock, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NB_OAUTH_STORE", raising=False)
    path = secrets_path(nb_oauth_home)
    path.parent.mkdir(parents=True, mode=0o700)
    if where == "folder":
        path.parent.chmod(0o750)  # group-readable
        target, mode = path.parent, "0750"
    else:
        path.write_text(json.dumps({"nb_oauth_secrets": 1, "entries": {}}))
        path.chmod(0o640)
        target, mode = path, "0640"
    session = Session(KeyringStore(store="memory"), now=clock)
    # Python
    with pytest.raises(NoSecureStorage) as caught:
        nb_oauth.use_store("file", session=session)
    message = str(caught.value)
    assert "\n" not in message and len(message.replace(str(target), "")) < 160
    assert f"{target}" in message and f"mode {mode}" in message and "chmod" in message
    assert not (nb_oauth_home / "storage.json").exists()  # nothing changed, nothing recorded
    assert session.store.secret_location("x") == "this kernel's memory"
    # the magic: the same line
    load(ip, session=session)
    with pytest.raises(UsageError) as refused:
        ip.run_line_magic("datasource", "storage file")
    assert str(refused.value) == message
    unload(ip)
    # chosen by the environment: the first save is refused and writes no secret
    monkeypatch.setenv("NB_OAUTH_STORE", "file")
    ds = nb_oauth.Datasource(name="crm", grant="client_credentials",
                             token_url="https://auth.example.com/token", client_id="c")
    with pytest.raises(NoSecureStorage, match="group or others have access to it"):
        Session(KeyringStore()).save(ds, client_secret=CANARY)
    assert _secret_files(nb_oauth_home, CANARY) == []
    assert stat.S_IMODE(target.stat().st_mode) == int(mode, 8)  # never changed behind your back


def test_the_file_store_is_never_chosen_silently(
    no_keyring: str, nb_oauth_home: Path
) -> None:
    store = KeyringStore()
    with pytest.warns(StorageWarning, match=NOTICE):
        Session(store).save(
            nb_oauth.Datasource(name="crm", grant="client_credentials",
                                token_url="https://auth.example.com/token", client_id="c"),
            client_secret=CANARY,
        )
    assert not secrets_path(nb_oauth_home).parent.exists()


def test_file_writes_keep_other_entries_and_concurrent_stores_agree(nb_oauth_home: Path) -> None:
    first, second = FileVault(nb_oauth_home), FileVault(nb_oauth_home)
    first.set_password("nb_oauth:a", "client_secret", "A")
    second.set_password("nb_oauth:b", "client_secret", "B")
    assert first.get_password("nb_oauth:b", "client_secret") == "B"
    first.delete_password("nb_oauth:a", "client_secret")
    first.delete_password("nb_oauth:a", "client_secret")  # idempotent
    assert second.get_password("nb_oauth:a", "client_secret") is None
    assert second.get_password("nb_oauth:b", "client_secret") == "B"
    assert CANARY not in repr(first)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(first)


def test_a_damaged_secrets_file_is_refused_and_left_as_it_is(nb_oauth_home: Path) -> None:
    vault = FileVault(nb_oauth_home)
    vault.check(create=True)
    vault.path.write_text("{not json " + CANARY)
    vault.path.chmod(0o600)
    with pytest.raises(nb_oauth.StorageUnavailable, match="damaged") as caught:
        vault.get_password("nb_oauth:a", "client_secret")
    assert CANARY not in str(caught.value)
    with pytest.raises(nb_oauth.StorageUnavailable):
        vault.set_password("nb_oauth:a", "client_secret", "x")
    assert vault.path.read_text() == "{not json " + CANARY


# --- the switch -----------------------------------------------------------------------------------


def test_the_switch_reads_the_environment_first(
    nb_oauth_home: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setenv("NB_OAUTH_STORE", "memory")
    store = KeyringStore(backend=keyring.backends.fail.Keyring())
    assert "(chosen by NB_OAUTH_STORE)" in store.storage()  # explicit: no fallback notice
    line = nb_oauth.use_store("file", session=Session(store))
    assert line.endswith("; NB_OAUTH_STORE=memory in the environment still decides in new "
                         "kernels")
    assert repr(line) == str(line)  # shown without quotes in a notebook
    assert KeyringStore().storage().startswith(
        "Client secrets and tokens are kept in this kernel's memory (chosen by NB_OAUTH_STORE)"
    )
    monkeypatch.setenv("NB_OAUTH_STORE", "vault")
    with pytest.raises(ConfigError, match="NB_OAUTH_STORE: 'vault' is not a store; use one of "
                       "keyring, memory, file"):
        KeyringStore().check_writable("x")
    with pytest.raises(ConfigError, match="is not a store"):
        nb_oauth.use_store("disk", session=Session(store))


def test_an_explicit_keyring_choice_is_refused_in_the_magic_too(
    ip: Any, no_keyring: str, clock: FakeClock, provider: DemoProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    magics = _magics(ip, clock)
    if no_keyring == "null":
        # keyring disabled: kept in memory, as the warning says (the null backend stores nothing)
        ip.run_line_magic("datasource", "storage keyring")
        assert magics.context.session.store.secret_location("x") == "this kernel's memory"
    else:
        with pytest.raises(UsageError, match="The keyring store was chosen, but"):
            ip.run_line_magic("datasource", "storage keyring")
    with pytest.raises(UsageError, match="invalid choice: 'disk'"):
        ip.run_line_magic("datasource", "storage disk")
    unload(ip)


def test_session_only_mode_has_no_switch(
    nb_oauth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NB_OAUTH_SESSION_ONLY", "1")
    session = Session(nb_oauth.MemoryStore())
    with pytest.raises(ConfigError, match="NB_OAUTH_SESSION_ONLY=1 keeps everything, settings "
                       "too, in this kernel's memory; unset it and restart the kernel"):
        nb_oauth.use_store("file", session=session)
    assert nb_oauth.use_store(session=session).startswith("NB_OAUTH_SESSION_ONLY=1 keeps")
    monkeypatch.delenv("NB_OAUTH_SESSION_ONLY")
    with pytest.raises(ConfigError, match="MemoryStore. has no switch; use a Session over a "
                       "KeyringStore"):
        nb_oauth.use_store("memory", session=session)


# --- what the restart line says ------------------------------------------------------------------


def test_the_restart_line_names_each_datasource_and_what_to_run() -> None:
    def ds(name: str, **fields: Any) -> nb_oauth.Datasource:
        return nb_oauth.Datasource(name=name, token_url="https://a.example/token",
                                   client_id="c", **fields)

    public = ds("gh", grant="authorization_code", client_auth="none",
                authorization_url="https://a.example/authorize")
    assert signed_out_line([public], why="the memory store was chosen") == (
        "gh is signed out after the kernel restart: nb_oauth keeps secrets in this kernel's "
        "memory (the memory store was chosen); sign in with %datasource connect gh; to keep them "
        'across restarts, run %datasource storage file (Python: nb_oauth.use_store("file"))'
    )
    machine = ds("crm", grant="client_credentials")
    line = signed_out_line([machine, public], why="no usable system keyring here")
    assert line.startswith("crm and gh are signed out after the kernel restart")
    assert ("enter the client secret again with %datasource edit crm --new-client-secret, then "
            "sign in with %datasource connect gh;") in line
    assert "\n" not in line


# --- a real new process --------------------------------------------------------------------------

RESTARTED = textwrap.dedent(
    """
    import warnings
    import nb_oauth

    warnings.simplefilter("always")
    store = nb_oauth.default_session().store
    try:
        with nb_oauth.client("demo") as api:
            print("status", api.get("/api/me").status_code)
    except nb_oauth.ReauthRequired as exc:
        print("error", exc)
    print("where", store.secret_location("demo"))
    """
)


@pytest.mark.parametrize("store", ["memory", "file"])
def test_a_real_kernel_restart(
    store: str,
    provider: DemoProvider,
    clock: FakeClock,
    browser: BrowserRobot,
    nb_oauth_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # keyring's fail backend through keyring's own configuration, here and in the new process.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("NB_OAUTH_STORE", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.core.load_env())  # what keyring reads at start-up
    try:
        session = Session(KeyringStore(), now=clock)
        if store == "file":
            nb_oauth.use_store("file", session=session)
        ds = nb_oauth.Datasource(
            name="demo", token_url=provider.token_url,
            authorization_url=provider.authorization_url, client_id="demo-basic",
            base_url=provider.api_url,
        )
        with pytest.warns(StorageWarning) if store == "memory" else _nothing():
            session.save(ds, client_secret=provider.clients["demo-basic"].client_secret)
        connect(session, "demo", view=QuietView(), open_url=browser, timeout=30)
        browser.join()
    finally:
        keyring.set_keyring(previous)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NB_OAUTH_")}
    env.update(NB_OAUTH_HOME=str(nb_oauth_home), PYTHON_KEYRING_BACKEND=(
        "keyring.backends.fail.Keyring"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    done = subprocess.run(
        [sys.executable, "-c", RESTARTED], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    if store == "file":
        assert "status 200" in done.stdout
        assert f"where the private file {secrets_path(nb_oauth_home)}" in done.stdout
        assert "StorageWarning" not in done.stderr
    else:
        assert ("error Datasource 'demo' is not connected; run nb_oauth.connect('demo') or "
                "%datasource connect demo") in done.stdout
        assert "demo is signed out after the kernel restart" in done.stderr
        assert done.stderr.count("StorageWarning") == 1
        assert "where this kernel's memory" in done.stdout


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_reprs_and_messages_never_show_a_secret(
    nb_oauth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NB_OAUTH_STORE", raising=False)
    store = KeyringStore(store="file")
    session = Session(store)
    session.save(
        nb_oauth.Datasource(name="crm", grant="client_credentials",
                            token_url="https://auth.example.com/token", client_id="c"),
        client_secret=CANARY,
    )
    texts = [repr(store), repr(session), store.storage(), store.secret_location("crm"),
             nb_oauth.use_store("memory", session=session), str(nb_oauth.use_store(
                 session=session))]
    assert not [text for text in texts if CANARY in text]
    assert CANARY not in (nb_oauth_home / "datasources.json").read_text()
    assert CANARY not in (nb_oauth_home / "storage.json").read_text()
    assert session.store.load_secret("crm") == Secret(CANARY)  # copied to memory


def test_a_chainer_is_judged_by_the_backend_its_writes_go_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nb_oauth.store.backends import kind_of, writer_of

    assert kind_of(_chainer_with_nothing(monkeypatch)) == "fail"
    monkeypatch.setattr(keyring.backend, "_limit", lambda backend: isinstance(
        backend, PlaintextKeyring))
    chainer = keyring.backends.chainer.ChainerBackend()
    assert isinstance(writer_of(chainer), PlaintextKeyring)
    assert kind_of(chainer) == "plaintext"


def test_the_test_extras_plaintext_backend_chosen_by_keyring_itself_is_not_used(
    file_keyring: Any, nb_oauth_home: Path
) -> None:
    # keyrings.alt's PlaintextKeyring made the active backend by keyring's own configuration
    # (keyringrc.cfg), in a new process, without the opt-in.
    env = {**file_keyring.env}
    env.pop("NB_OAUTH_ALLOW_PLAINTEXT")
    script = textwrap.dedent(
        f"""
        import nb_oauth
        nb_oauth.save(nb_oauth.Datasource(name="crm", grant="client_credentials",
                      token_url="https://a.example/token", client_id="c"),
                      client_secret={CANARY!r})
        print(nb_oauth.default_session().store.secret_location("crm"))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "this kernel's memory"
    assert "StorageWarning" in done.stderr and "plain text" in done.stderr
    assert not file_keyring.data_file.exists()


def test_kernels_sharing_a_datasource_through_the_file_store_refresh_once_per_expiry(
    make_provider: Any, tmp_path: Path, nb_oauth_home: Path
) -> None:
    # The renewal lock and the re-read under it work for the file store as for a keyring
    # (SEC-27, SEC-28): real processes, refresh-token rotation with reuse detection.
    from tests.fileclock import FileClock
    from tests.test_kernels import KERNEL, LIFETIME, Kernel, datasource

    clock = FileClock(tmp_path / "clock")
    provider = make_provider(now=clock, token_lifetime=LIFETIME, rotate_refresh_tokens=True)
    session = Session(KeyringStore(store="file"), now=clock)
    session.save(datasource(provider, "shared"),
                 client_secret=provider.clients["demo-basic"].client_secret)
    browser = BrowserRobot()
    connect(session, "shared", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NB_OAUTH_", "PYTHON_K"))}
    env.update(NB_OAUTH_HOME=str(nb_oauth_home), NB_OAUTH_STORE="file",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    kernels = [Kernel(KERNEL, clock, env) for _ in range(3)]
    try:
        for kernel in kernels:
            kernel.expect("ready")
        for expiry in range(3):
            if expiry:
                clock.advance(LIFETIME)
            for kernel in kernels:
                kernel.send("4")
            for kernel in kernels:
                kernel.expect("done")
            assert provider.counters.get("token:refresh_token", 0) == expiry
            assert provider.counters.get("refresh_token_reuse", 0) == 0
    finally:
        errors = [kernel.stop() for kernel in kernels]
    assert [kernel.process.returncode for kernel in kernels] == [0, 0, 0], errors
    assert not any(errors), errors  # no warning, no notice: the file store was chosen


# --- a real Jupyter kernel, restarted ------------------------------------------------------------


def _run_kernel(cells: list[str], env: dict[str, str]) -> list[Any]:
    """Execute `cells` in a new ipykernel of this environment (as JupyterLab would, but through
    nbclient); errors stay in the outputs. Returns the cells with their outputs."""
    import nbformat
    from nbclient import NotebookClient

    from tests.test_notebooks import _ThisEnvironmentsKernelManager

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(
        notebook, kernel_manager_class=_ThisEnvironmentsKernelManager, kernel_name="python3",
        timeout=60, allow_errors=True,
    ).execute(env=env)
    return list(notebook.cells)


def _streams(cell: Any, name: str) -> str:
    return "".join(o["text"] for o in cell.outputs
                   if o["output_type"] == "stream" and o["name"] == name)


@pytest.mark.parametrize("store", ["memory", "file"])
def test_a_real_kernel_on_a_machine_without_a_keyring(
    store: str, provider: DemoProvider, nb_oauth_home: Path, tmp_path: Path
) -> None:
    secret = provider.clients["demo-basic"].client_secret
    assert secret is not None
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NB_OAUTH_", "PYTHON_KEYRING")) and k not in ("CI", "BROWSER")}
    env.update(
        NB_OAUTH_HOME=str(nb_oauth_home), IPYTHONDIR=str(tmp_path / "ipython"),
        # keyring's fail backend, through keyring's own configuration, as in a container
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        DEMO_SECRET=secret,
        # The demo's stand-in browser presses Approve; nbclient sends no stdin, so say that
        # somebody is there (the sign-in would otherwise fail at once, as in papermill).
        BROWSER=f"{sys.executable} -m nb_oauth approve %s", NB_OAUTH_NONINTERACTIVE="0",
    )
    first = ["%load_ext nb_oauth"]
    if store == "file":
        first.append("%datasource storage file")
    first += [
        f"%datasource add demo --token-url {provider.token_url} --authorization-url "
        f"{provider.authorization_url} --client-id demo-basic --scopes profile --base-url "
        f"{provider.api_url} --client-secret-env DEMO_SECRET",
        "%datasource connect demo --timeout 30",
        "%api demo GET /api/me",
    ]
    cells = _run_kernel(first, env)
    add, api = cells[-3], cells[-1]
    assert _streams(add, "stderr") == ""  # not a Python warning with a file name and a line
    if store == "memory":
        notice = _streams(add, "stdout").splitlines()[0]
        assert NOTICE in notice and "%datasource storage file" in notice
    else:
        assert NOTICE not in json.dumps([cell.outputs for cell in cells])
    assert '"sub": "demo-user"' in json.dumps(api.outputs) or "demo-user" in str(api.outputs)

    # Restart: a new kernel process over the same NB_OAUTH_HOME.
    cells = _run_kernel(["%load_ext nb_oauth", "%datasource list", "%api demo GET /api/me"],
                        env)
    listing, api = cells[1], cells[2]
    outputs = json.dumps([cell.outputs for cell in cells])
    if store == "memory":
        said = _streams(listing, "stdout").splitlines()
        assert said[0].startswith("demo is signed out after the kernel restart: nb_oauth keeps "
                                  "secrets in this kernel's memory (no usable system keyring "
                                  "here); sign in with %datasource connect demo")
        # One line (and, in a notebook, the Reconnect button of the error block).
        assert _streams(api, "stderr") == (
            "UsageError: Datasource 'demo' is not connected; run nb_oauth.connect('demo') or "
            "%datasource connect demo\n"
        )
    else:
        assert "signed out" not in outputs and "demo-user" in outputs
        assert "Secrets are kept in the private file" in outputs
    assert secret not in outputs and "Traceback" not in outputs


def test_the_file_store_holds_exactly_the_secret_entries_and_remove_deletes_them(
    nb_oauth_home: Path,
) -> None:
    # SEC-39 for the file store: namespaced entries, only secrets, removed with the datasource.
    from tests.test_store_contract import CANARY_REFRESH, ds, tokens

    store = KeyringStore(store="file")
    session = Session(store)
    for name in ("crm", "billing"):
        session.save(ds(name), client_secret=f"{CANARY}-{name}")
        store.save_tokens(name, tokens())
    entries = json.loads(secrets_path(nb_oauth_home).read_text())["entries"]
    assert {service: sorted(entry) for service, entry in entries.items()} == {
        "nb_oauth:billing": ["client_secret", "token_set"],
        "nb_oauth:crm": ["client_secret", "token_set"],
    }
    config = (nb_oauth_home / "datasources.json").read_text()
    assert CANARY not in config and CANARY_REFRESH not in config
    session.remove("crm")
    entries = json.loads(secrets_path(nb_oauth_home).read_text())["entries"]
    assert list(entries) == ["nb_oauth:billing"]


def test_a_file_write_that_fails_leaves_the_previous_file_and_no_temporary(
    nb_oauth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = FileVault(nb_oauth_home)
    vault.set_password("nb_oauth:a", "token_set", "RT-old")
    before = vault.path.read_bytes()

    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("nb_oauth.store.atomic.os.replace", fail)
    with pytest.raises(nb_oauth.StorageUnavailable, match="cannot be written .No space left"):
        vault.set_password("nb_oauth:a", "token_set", "RT-new")
    assert vault.path.read_bytes() == before
    assert sorted(p.name for p in vault.folder.iterdir()) == ["secrets.json", "secrets.json.lock"]
    assert vault.get_password("nb_oauth:a", "token_set") == "RT-old"


def test_a_damaged_choice_record_is_said_in_one_line_and_choosing_again_replaces_it(
    nb_oauth_home: Path, clock: FakeClock
) -> None:
    nb_oauth_home.mkdir()
    (nb_oauth_home / "storage.json").write_text("{oops")
    store = KeyringStore(backend=keyring.backends.fail.Keyring())
    with pytest.raises(nb_oauth.StorageUnavailable, match="storage.json is damaged; choose the "
                       "store again with %datasource storage NAME"):
        store.check_writable("x")
    line = nb_oauth.use_store("file", session=Session(store, now=clock))
    assert line.startswith("Client secrets and tokens are now kept in the private file")
    assert KeyringStore().storage().startswith(
        f"Client secrets and tokens are kept in the private file {secrets_path(nb_oauth_home)} "
        "(chosen with %datasource storage)"
    )
