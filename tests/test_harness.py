"""The test harness itself: the clock, the in-memory keyring and the testing shell behave."""

from __future__ import annotations

from typing import Any

import keyring
import pytest

from tests.conftest import FakeClock, MemoryKeyring


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(100.0)
    assert clock() == clock() == 100.0
    clock.advance(2.5)
    assert clock() == 102.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_memory_keyring_is_installed_and_isolated(memory_keyring: MemoryKeyring) -> None:
    assert keyring.get_keyring() is memory_keyring
    keyring.set_password("nb_oauth:demo", "refresh_token", "rt-1")
    assert memory_keyring.entries == {("nb_oauth:demo", "refresh_token"): "rt-1"}
    keyring.delete_password("nb_oauth:demo", "refresh_token")
    assert keyring.get_password("nb_oauth:demo", "refresh_token") is None
    with pytest.raises(keyring.errors.PasswordDeleteError):
        keyring.delete_password("nb_oauth:demo", "refresh_token")


def test_memory_keyring_fixture_restores_the_previous_backend(
    memory_keyring: MemoryKeyring,
) -> None:
    # Each test gets a fresh, empty backend: nothing from the previous test is visible.
    assert memory_keyring.entries == {}


def test_testing_shell_runs_cells_and_reraises_errors(ip: Any) -> None:
    ip.run_cell("x = 40 + 2")
    assert ip.user_ns["x"] == 42
    with pytest.raises(ZeroDivisionError):
        ip.run_cell("1 / 0")
