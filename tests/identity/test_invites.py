from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import InviteError
from citizen.identity.invites import (
    Invite,
    Transcript,
    decode_invite,
    encode_invite,
    friendship_secret,
    new_secret,
    sas_words,
)


def _invite() -> Invite:
    return Invite(b"\x01" * 32, "12D3KooWpeer", ("/ip4/127.0.0.1/tcp/4747",), new_secret(), 99, "A")


def test_round_trip_and_forgiving_input() -> None:
    inv = _invite()
    code = encode_invite(inv)
    assert code.startswith("CC1") and code.isalnum() and code == code.upper()
    assert decode_invite(code) == inv
    assert decode_invite(" " + code.lower()[:20] + "\n" + code.lower()[20:]) == inv


@given(st.integers(min_value=3, max_value=400), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
def test_any_changed_character_is_caught(position: int, char: str) -> None:
    code = encode_invite(_invite())
    position %= len(code)
    if position < 3 or code[position] == char:
        return
    with pytest.raises(InviteError):
        decode_invite(code[:position] + char + code[position + 1 :])


@given(st.text(max_size=600))
def test_arbitrary_text_raises_only_invite_error(text: str) -> None:
    try:
        decode_invite(text)
    except InviteError:
        pass


def test_proofs_are_bound_to_role_and_parties() -> None:
    secret = new_secret()
    t = Transcript("id", "inviter", "acceptor", b"\x01" * 32, b"\x02" * 32)
    mac = t.mac(secret, "acceptor")
    assert t.check(secret, "acceptor", mac)
    assert not t.check(secret, "inviter", mac)  # no reflection
    assert not t.check(new_secret(), "acceptor", mac)
    other = Transcript("id", "inviter", "mallory", b"\x01" * 32, b"\x02" * 32)
    assert not other.check(secret, "acceptor", mac)


def test_both_sides_derive_the_same_secret_and_words() -> None:
    s, a, b = new_secret(), b"\x01" * 32, b"\x02" * 32
    assert friendship_secret(s, a, b) == friendship_secret(s, b, a) != s
    assert sas_words(s, a, b) == sas_words(s, b, a)
    assert sas_words(s, a, b) != sas_words(new_secret(), a, b)
