"""Secret never shows its value (SEC-41) and compares in constant time."""

from __future__ import annotations

import copy
import hmac
import logging
import pickle
import pprint
import traceback

import pytest
from IPython.core.formatters import DisplayFormatter

from nb_oauth.secret import Secret

CANARY = "CANARY-SECRET-1f2e"


def renderings(obj: object) -> list[str]:
    data, metadata = DisplayFormatter().format(obj)
    return [repr(obj), str(obj), f"{obj}", pprint.pformat(obj), str(data), str(metadata)]


def test_every_rendering_of_a_secret_is_masked() -> None:
    secret = Secret(CANARY)
    shown = renderings(secret) + renderings([secret]) + renderings({"token": secret})
    assert all(CANARY not in text for text in shown)
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"


def test_ipython_pretty_printer_shows_the_mask() -> None:
    data, _ = DisplayFormatter().format(Secret(CANARY))
    assert data["text/plain"] == "Secret('***')"


def test_an_empty_secret_says_it_is_empty() -> None:
    assert repr(Secret("")) == "Secret('')"
    assert str(Secret("")) == ""


def test_reveal_returns_the_value() -> None:
    assert Secret(CANARY).reveal() == CANARY


def test_pickling_a_secret_is_refused_without_echoing_it() -> None:
    # SEC-41: %store and multiprocessing must not write a secret to disk.
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError) as info:
            pickle.dumps(Secret(CANARY), protocol=protocol)
        assert CANARY not in str(info.value)


def test_pickling_a_container_holding_a_secret_is_refused() -> None:
    with pytest.raises(TypeError):
        pickle.dumps({"token": Secret(CANARY)})


def test_copies_are_the_same_immutable_object() -> None:
    secret = Secret(CANARY)
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"s": secret})["s"] is secret


def test_secret_is_immutable() -> None:
    secret = Secret(CANARY)
    with pytest.raises(AttributeError):
        secret._value = "other"
    with pytest.raises(AttributeError):
        del secret._value
    assert secret.reveal() == CANARY


def test_equality_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Secret(CANARY) == Secret(CANARY)
    assert Secret(CANARY) != Secret("other")
    assert len(calls) == 2


def test_a_secret_never_equals_its_plain_string() -> None:
    assert Secret(CANARY) != CANARY
    assert Secret("é") == Secret("é")


def test_equal_secrets_hash_equal_and_work_in_sets() -> None:
    assert hash(Secret(CANARY)) == hash(Secret(CANARY))
    assert len({Secret(CANARY), Secret(CANARY), Secret("other")}) == 2


@pytest.mark.parametrize(("value", "truth"), [(CANARY, True), ("", False)])
def test_truthiness_follows_the_value(value: str, truth: bool) -> None:
    assert bool(Secret(value)) is truth


def test_only_strings_are_wrapped_and_the_error_does_not_echo() -> None:
    with pytest.raises(TypeError) as info:
        Secret(CANARY.encode())  # type: ignore[arg-type]
    assert "CANARY" not in str(info.value)


def test_logging_and_tracebacks_show_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(CANARY)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("token=%s %r", secret, secret)
    try:
        raise RuntimeError(f"failed with {secret!r}")
    except RuntimeError as error:
        rendered = "".join(traceback.format_exception(error))
    assert CANARY not in caplog.text
    assert CANARY not in rendered
