"""PKCE S256 and state (SEC-13, SEC-14; RFC 7636 §4.1, §4.2, Appendix B)."""

from __future__ import annotations

import hmac
import pickle
import re

import pytest

from nb_oauth.grants.pkce import PkcePair, new_pkce, new_state, s256, state_matches
from nb_oauth.secret import Secret

VERIFIER_SYNTAX = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1


def test_s256_matches_the_rfc_7636_appendix_b_vector() -> None:
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_s256_refuses_non_ascii_verifiers() -> None:
    with pytest.raises(ValueError):
        s256("é" * 43)


def test_verifiers_are_well_formed_and_unique_over_1000_draws() -> None:
    verifiers = [new_pkce().code_verifier.reveal() for _ in range(1000)]
    assert all(VERIFIER_SYNTAX.match(verifier) for verifier in verifiers)
    assert len(set(verifiers)) == 1000


def test_the_challenge_is_the_s256_of_the_verifier_and_method_is_s256() -> None:
    pair = new_pkce()
    assert pair.code_challenge == s256(pair.code_verifier.reveal())
    assert pair.code_challenge_method == "S256"  # never "plain" (RFC 7636 §7.2)
    assert "=" not in pair.code_challenge


def test_the_verifier_is_a_secret_that_never_shows() -> None:
    # SEC-42: the code_verifier never reaches a repr, log or pickle.
    pair = new_pkce()
    assert isinstance(pair.code_verifier, Secret)
    assert pair.code_verifier.reveal() not in repr(pair)
    with pytest.raises(TypeError):
        pickle.dumps(pair)


def test_pkce_pair_is_frozen() -> None:
    with pytest.raises(AttributeError):
        new_pkce().code_challenge = "x"  # type: ignore[misc]
    assert isinstance(new_pkce(), PkcePair)


def test_state_has_at_least_128_bits_and_is_unique_over_10k_draws() -> None:
    states = [new_state() for _ in range(10_000)]
    assert all(len(state) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", state) for state in states)
    assert len(set(states)) == 10_000


@pytest.mark.parametrize(
    ("received", "matches"), [("abc", True), ("abd", False), ("", False), (None, False)]
)
def test_state_matches_only_the_exact_value(received: str | None, matches: bool) -> None:
    assert state_matches("abc", received) is matches


def test_state_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", spy)
    state_matches("abc", "abc")
    assert calls == [1]
