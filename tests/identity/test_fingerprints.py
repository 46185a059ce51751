from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import Ed25519PublicKey
from libp2p.peer.id import ID
from nacl.signing import SigningKey

from citizen.errors import IdFormatError
from citizen.identity.fingerprints import (
    device_id,
    device_public_key_from_id,
    household_id,
    parse_household_id,
)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def test_device_id_is_the_libp2p_peer_id() -> None:
    key = bytes(SigningKey.generate().verify_key)
    assert device_id(key) == ID.from_pubkey(Ed25519PublicKey.from_bytes(key)).to_base58()
    assert device_public_key_from_id(device_id(key)) == key


def test_household_id_parses_in_any_case_and_spacing() -> None:
    hid = household_id(bytes(SigningKey.generate().verify_key))
    assert parse_household_id(hid.lower()) == hid
    assert parse_household_id(hid.replace("-", " ")) == hid


@given(st.integers(min_value=0, max_value=35), st.sampled_from(_ALPHABET))
def test_one_wrong_character_is_caught(position: int, replacement: str) -> None:
    hid = household_id(b"\x01" * 32).replace("-", "")
    if hid[position] == replacement:
        return
    typo = hid[:position] + replacement + hid[position + 1 :]
    with pytest.raises(IdFormatError):
        parse_household_id(typo)


def test_garbage_is_refused() -> None:
    for bad in ("", "hello", "1" * 36, household_id(b"\x02" * 32) + "A"):
        with pytest.raises(IdFormatError):
            parse_household_id(bad)
