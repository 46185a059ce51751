from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import PhraseError
from citizen.identity.phrase import phrase_to_seed, seed_to_phrase, wordlist


@given(st.binary(min_size=32, max_size=32))
def test_round_trip(seed: bytes) -> None:
    phrase = seed_to_phrase(seed)
    assert len(phrase.split()) == 24
    assert phrase_to_seed(phrase) == seed
    assert phrase_to_seed("  " + phrase.upper() + "\n") == seed


@given(st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=2047))
def test_one_wrong_word_is_caught(position: int, replacement: int) -> None:
    seed = os.urandom(32)
    words = seed_to_phrase(seed).split()
    new = wordlist()[replacement]
    words[position] = new
    try:
        got = phrase_to_seed(" ".join(words))
    except PhraseError:
        return
    # BIP-39's 8-bit checksum lets 1 in 256 substitutions through; then it is a different
    # seed, never silently the same household
    assert got != seed or seed_to_phrase(seed).split()[position] == new


def test_unknown_word_and_wrong_length() -> None:
    words = seed_to_phrase(bytes(32)).split()
    with pytest.raises(PhraseError, match="Not a recovery-phrase word: xylophonez"):
        phrase_to_seed(" ".join([*words[:-1], "xylophonez"]))
    with pytest.raises(PhraseError, match="24 words"):
        phrase_to_seed(" ".join(words[:12]))
