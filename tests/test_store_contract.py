"""One contract suite over both `TokenStore`s (STYLE rule 16 d), and the keyring store's layout:
exactly its entries in the keyring, nothing secret in the config file (SEC-39), cached reads."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nb_oauth
from nb_oauth.secret import Secret
from nb_oauth.store import MemoryStore, TokenStore
from nb_oauth.store.keyring_store import KeyringStore
from nb_oauth.tokens import TokenSet
from tests.conftest import EPOCH, MemoryKeyring

CANARY_SECRET = "CANARY-client-secret-7a1c"
CANARY_ACCESS = "CANARY-access-token-93be"
CANARY_REFRESH = "CANARY-refresh-token-4d02"


def ds(name: str = "crm", **fields: Any) -> nb_oauth.Datasource:
    settings: dict[str, Any] = {
        "token_url": "https://auth.example.com/token",
        "client_id": "app",
        "grant": "client_credentials",
        "base_url": "https://api.example.com",
        **fields,
    }
    return nb_oauth.Datasource(name=name, **settings)


def tokens(access: str = CANARY_ACCESS, refresh: str | None = CANARY_REFRESH) -> TokenSet:
    return TokenSet(
        access_token=Secret(access),
        refresh_token=None if refresh is None else Secret(refresh),
        expires_at=EPOCH + 3600,
        granted_scopes=("read",),
        obtained_at=EPOCH,
    )


@pytest.fixture(params=["memory", "keyring", "keyring-store-memory", "keyring-store-file"])
def store(request: Any, memory_keyring: MemoryKeyring, nb_oauth_home: Path) -> Iterator[TokenStore]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "keyring":
        yield KeyringStore()
    else:  # the other stores of the switch (issue 16 item 4): the same contract
        yield KeyringStore(store=request.param.rsplit("-", 1)[1])


def test_unknown_names_load_as_none_and_deletes_are_idempotent(store: TokenStore) -> None:
    assert store.load_datasource("nope") is None
    assert store.load_secret("nope") is None
    assert store.load_tokens("nope") is None
    assert store.load_tokens("nope", fresh=True) is None
    store.delete_tokens("nope")
    store.delete_secret("nope")
    store.remove("nope")
    store.remove("nope")
    assert store.names() == []


def test_everything_round_trips_and_remove_forgets_only_that_datasource(store: TokenStore) -> None:
    for name in ("crm", "billing"):
        store.save_datasource(ds(name))
        store.save_secret(name, Secret(f"{CANARY_SECRET}-{name}"))
        store.save_tokens(name, tokens(refresh=f"{CANARY_REFRESH}-{name}"))
    assert store.names() == ["billing", "crm"]
    assert store.load_datasource("crm") == ds("crm")
    assert store.load_secret("crm") == Secret(f"{CANARY_SECRET}-crm")
    loaded = store.load_tokens("crm", fresh=True)
    assert loaded is not None and loaded.refresh_token == Secret(f"{CANARY_REFRESH}-crm")
    store.remove("crm")
    assert store.names() == ["billing"]
    assert store.load_tokens("crm", fresh=True) is None and store.load_secret("crm") is None
    assert store.load_secret("billing") == Secret(f"{CANARY_SECRET}-billing")
    assert CANARY_SECRET not in repr(store)


def test_the_renewal_lock_can_be_taken_and_released_again(store: TokenStore) -> None:
    store.save_datasource(ds())
    lock = store.renewal_lock("crm")
    assert lock.acquire(0)
    lock.release()
    assert lock.acquire(1)
    lock.release()


def test_the_keyring_holds_exactly_the_secrets_and_the_config_file_none(
    memory_keyring: MemoryKeyring, nb_oauth_home: Path
) -> None:
    session = nb_oauth.Session(KeyringStore())
    session.save(ds("crm"), client_secret=CANARY_SECRET)
    session.save(ds("billing"), client_secret=CANARY_SECRET + "-b")
    session.store.save_tokens("crm", tokens())
    # SEC-39: namespaced services, non-empty usernames, nothing else.
    assert set(memory_keyring.entries) == {
        ("nb_oauth:crm", "client_secret"),
        ("nb_oauth:crm", "token_set"),
        ("nb_oauth:billing", "client_secret"),
    }
    config = nb_oauth_home / "datasources.json"
    text = config.read_text()
    assert "CANARY" not in text
    assert stat.S_IMODE(config.stat().st_mode) & 0o077 == 0
    assert '"nb_oauth_config": 1' in text and '"token_url"' in text  # human-readable
    session.remove("crm")
    assert set(memory_keyring.entries) == {("nb_oauth:billing", "client_secret")}
    assert session.names() == ["billing"]


class CountingKeyring(MemoryKeyring):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.reads += 1
        return super().get_password(service, username)


def test_reads_are_cached_and_fresh_reads_see_another_kernels_write(nb_oauth_home: Path) -> None:
    backend = CountingKeyring()
    mine, other = KeyringStore(backend=backend), KeyringStore(backend=backend)
    mine.save_datasource(ds())
    mine.save_tokens("crm", tokens())
    for _ in range(100):
        mine.load_tokens("crm")
        mine.load_secret("crm")
    assert backend.reads == 1  # the secret, once; the tokens were cached by the write
    other.save_tokens("crm", tokens(access="AT-2", refresh="RT-2"))
    assert mine.load_tokens("crm").access_token == Secret(CANARY_ACCESS)  # type: ignore[union-attr]
    assert mine.load_tokens("crm", fresh=True).access_token == Secret("AT-2")  # type: ignore[union-attr]


def test_session_only_names_cannot_shadow_saved_ones(
    memory_keyring: MemoryKeyring, nb_oauth_home: Path
) -> None:
    session = nb_oauth.Session(KeyringStore())
    session.save(ds("crm"), client_secret=CANARY_SECRET)
    with pytest.raises(nb_oauth.ConfigError, match="saved on disk"):
        session.save(ds("crm"), session_only=True)
    session.save(ds("temp"), client_secret=CANARY_SECRET, session_only=True)
    with pytest.raises(nb_oauth.ConfigError, match="this session only"):
        session.save(ds("temp"))
    assert session.names() == ["crm", "temp"]
    assert ("nb_oauth:temp", "client_secret") not in memory_keyring.entries
