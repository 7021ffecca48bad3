"""The config file's failure modes, the keyring backend policy of SEC-37/38, and the size limits
of SEC-40."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest
from keyrings.alt.file import PlaintextKeyring

import nb_oauth
from nb_oauth.consent.flow import connect
from nb_oauth.demo import DemoProvider
from nb_oauth.errors import (
    ConfigFileError,
    NoSecureStorage,
    SecretTooLargeForBackend,
    StorageWarning,
)
from nb_oauth.secret import Secret
from nb_oauth.session import Session
from nb_oauth.store.config_file import ConfigFile, default_home
from nb_oauth.store.keyring_store import KeyringStore
from tests.conftest import BrowserRobot, FakeClock, FileKeyring, MemoryKeyring, QuietView
from tests.test_store_contract import CANARY_SECRET, ds, tokens

# --- the config file ------------------------------------------------------------------------------


def test_nb_oauth_home_decides_where_the_config_lives(
    nb_oauth_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_home() == nb_oauth_home
    monkeypatch.delenv("NB_OAUTH_HOME")
    assert default_home().name == "nb_oauth"  # the platform's user config directory


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("", "is not valid JSON"),
        ('{"datasources": {}}', "is not an nb_oauth config file"),
        ('{"nb_oauth_config": 1, "extra": 1, "datasources": {}}', "unknown keys 'extra'"),
        ('{"nb_oauth_config": 1, "datasources": {"a": {"name": "a"}}}', "invalid entry 'a'"),
        ('{"nb_oauth_config": 2, "datasources": {}}', "newer nb_oauth .format 2"),
    ],
)
def test_a_damaged_or_newer_config_file_is_refused_by_name_and_left_unchanged(
    memory_keyring: MemoryKeyring, nb_oauth_home: Path, content: str, message: str
) -> None:
    nb_oauth_home.mkdir()
    path = nb_oauth_home / "datasources.json"
    path.write_text(content)
    store = KeyringStore()
    with pytest.raises(ConfigFileError, match=message) as caught:
        store.names()
    assert str(path) in str(caught.value)
    with pytest.raises(ConfigFileError):
        Session(store).save(ds(), client_secret=CANARY_SECRET)
    assert path.read_text() == content  # never a silent reset
    assert memory_keyring.entries == {}  # and no secret beside a config it cannot write


def test_config_writes_are_atomic_and_keep_other_datasources(nb_oauth_home: Path) -> None:
    config = ConfigFile(nb_oauth_home)
    config.update(lambda saved: saved.__setitem__("a", ds("a")))
    config.update(lambda saved: saved.__setitem__("b", ds("b")))
    assert sorted(config.load()) == ["a", "b"]
    assert json.loads(config.path.read_text())["datasources"]["a"]["name"] == "a"
    leftovers = [p.name for p in nb_oauth_home.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


# --- the backend policy (SEC-37, SEC-38) ----------------------------------------------------------


def test_the_fail_backend_falls_back_to_memory_with_one_line_and_writes_no_secret(
    nb_oauth_home: Path,
) -> None:
    session = Session(KeyringStore(backend=keyring.backends.fail.Keyring()))
    with pytest.warns(StorageWarning) as told:
        nb_oauth.save(ds(), client_secret=CANARY_SECRET, session=session)
    assert len(told) == 1  # SEC-37: one line, once
    message = str(told[0].message)
    assert "\n" not in message and CANARY_SECRET not in message
    assert "kernel's memory" in message and "%datasource storage file" in message
    assert session.store.load_secret("crm") == Secret(CANARY_SECRET)
    assert session.store.secret_location("crm") == "this kernel's memory"
    # Only the non-secret config file is written.
    written = sorted(p.name for p in nb_oauth_home.rglob("*") if p.is_file())
    assert written == ["datasources.json", "datasources.json.lock"]
    assert CANARY_SECRET not in (nb_oauth_home / "datasources.json").read_text()


def test_an_explicit_keyring_choice_without_a_keyring_is_refused_in_one_line(
    nb_oauth_home: Path,
) -> None:
    store = KeyringStore(backend=keyring.backends.fail.Keyring(), store="keyring")
    with pytest.raises(NoSecureStorage) as caught:
        nb_oauth.save(ds(), client_secret=CANARY_SECRET, session=Session(store))
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300 and CANARY_SECRET not in message
    assert "%datasource storage memory" in message
    assert not (nb_oauth_home / "datasources.json").exists()


def test_the_null_backend_warns_that_nothing_survives(nb_oauth_home: Path) -> None:
    session = Session(KeyringStore(backend=keyring.backends.null.Keyring()))
    with pytest.warns(StorageWarning, match="kernel restart"):
        session.save(ds(), client_secret=CANARY_SECRET)
    assert session.store.load_secret("crm") == Secret(CANARY_SECRET)  # this kernel still works


def test_a_plaintext_backend_needs_an_explicit_opt_in(
    nb_oauth_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "plain.cfg")
    # Nothing chosen: not used; secrets stay in memory, said in one line (SEC-37).
    session = Session(KeyringStore(backend=backend))
    with pytest.warns(StorageWarning, match="plain text"):
        session.save(ds(), client_secret=CANARY_SECRET)
    assert session.store.load_secret("crm") == Secret(CANARY_SECRET)
    assert not Path(backend.file_path).exists()
    # The keyring store chosen explicitly: refused in one line.
    with pytest.raises(NoSecureStorage, match="plain text"):
        Session(KeyringStore(backend=backend, store="keyring")).save(
            ds(), client_secret=CANARY_SECRET
        )
    assert not Path(backend.file_path).exists()
    monkeypatch.setenv("NB_OAUTH_ALLOW_PLAINTEXT", "1")
    with pytest.warns(nb_oauth.SecurityWarning, match="plain-text"):
        Session(KeyringStore(backend=backend)).save(ds(), client_secret=CANARY_SECRET)
    assert backend.get_password("nb_oauth:crm", "client_secret") == CANARY_SECRET


@pytest.mark.parametrize("backend", ["fail", "file"])
def test_session_only_mode_works_and_writes_no_secret_anywhere(
    make_provider: Any,
    clock: FakeClock,
    file_keyring: FileKeyring,
    tmp_path: Path,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    provider: DemoProvider = make_provider()
    chosen = keyring.backends.fail.Keyring() if backend == "fail" else file_keyring.backend()
    session = Session(KeyringStore(backend=chosen), now=clock)
    settings = {
        "token_url": provider.token_url,
        "authorization_url": provider.authorization_url,
        "client_id": "demo-post",
        "client_auth": "body",
        "base_url": provider.api_url,
    }
    secret = provider.clients["demo-post"].client_secret
    assert secret is not None
    nb_oauth.save(
        nb_oauth.Datasource(name="temp", **settings),
        client_secret=secret,
        session_only=True,
        session=session,
    )
    browser = BrowserRobot()
    connect(session, "temp", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    with session.client("temp") as api:
        assert api.get("/api/me").status_code == 200
        clock.advance(3600)
        assert api.get("/api/me").status_code == 200  # refreshed, in memory
    held = session.store.load_tokens("temp")
    assert held is not None and held.refresh_token
    canaries = [secret, held.access_token.reveal(), held.refresh_token.reveal()]
    # SEC-38: grep every byte under the temporary HOME (NB_OAUTH_HOME, keyring data and config).
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(canary.encode() in data for canary in canaries), path


# --- sizes and failed writes (SEC-40) -------------------------------------------------------------

LIMIT = 2560


class SmallKeyring(MemoryKeyring):
    """Rejects values over 2560 bytes, as the Windows Credential Manager does."""

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password.encode()) > LIMIT:
            raise keyring.errors.PasswordSetError("The stub received bad data.")
        super().set_password(service, username, password)


def test_a_refresh_token_too_large_for_the_backend_is_refused_and_changes_nothing(
    nb_oauth_home: Path,
) -> None:
    backend = SmallKeyring()
    store = KeyringStore(backend=backend)
    store.save_datasource(ds())
    store.save_tokens("crm", tokens())
    before = dict(backend.entries)
    with pytest.raises(SecretTooLargeForBackend) as caught:
        store.save_tokens("crm", tokens(access="AT-new", refresh="R" * 4096))
    assert "2560" in str(caught.value) and "R" * 20 not in str(caught.value)
    assert backend.entries == before  # never truncated, never half-written
    for fresh in (False, True):
        kept = store.load_tokens("crm", fresh=fresh)
        assert kept is not None and kept.access_token == Secret(tokens().access_token.reveal())


def test_a_client_secret_too_large_leaves_the_previous_settings(nb_oauth_home: Path) -> None:
    session = Session(KeyringStore(backend=SmallKeyring()))
    session.save(ds(client_id="old"), client_secret=CANARY_SECRET)
    with pytest.raises(SecretTooLargeForBackend):
        session.save(ds(client_id="new"), client_secret="S" * 4096)
    assert session.datasource("crm").client_id == "old"
    assert session.store.load_secret("crm") == Secret(CANARY_SECRET)


def test_an_access_token_too_large_stays_in_memory_and_the_user_is_told_once(
    nb_oauth_home: Path,
) -> None:
    backend = SmallKeyring()
    store = KeyringStore(backend=backend)
    store.save_datasource(ds())
    big = tokens(access="A" * 4096, refresh="RT-small")
    with pytest.warns(StorageWarning, match="too large"):
        store.save_tokens("crm", big)
    store.save_tokens("crm", big)  # told once
    assert store.load_tokens("crm", fresh=True) is big  # this kernel keeps its token
    other = KeyringStore(backend=backend).load_tokens("crm")
    assert other is not None and other.refresh_token == Secret("RT-small")
    assert other.is_expired(0.0)  # another kernel refreshes for itself


def test_with_the_null_backend_a_datasource_shown_connected_answers_calls(
    nb_oauth_home: Path, make_provider: Any, clock: Any, browser: Any
) -> None:
    from nb_oauth.consent.flow import connect
    from tests.conftest import QuietView

    provider = make_provider(token_lifetime=600)
    with pytest.warns(StorageWarning, match="memory"):
        session = Session(KeyringStore(backend=keyring.backends.null.Keyring()), now=clock)
        session.save(
            nb_oauth.Datasource(
                name="demo", token_url=provider.token_url,
                authorization_url=provider.authorization_url, client_id="demo-basic",
                base_url=provider.api_url,
            ),
            client_secret=provider.clients["demo-basic"].client_secret,
        )
    connect(session, "demo", view=QuietView(), open_url=browser, timeout=30)
    browser.join()
    assert session.store.load_tokens("demo") is not None  # what %datasource show reads
    with session.client("demo") as api:
        assert api.get("/api/me").status_code == 200  # and the call agrees
    assert session.store.secret_location("demo") == "this kernel's memory"
