"""Tests for citizen.identity.grants: sign, verify, tamper, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from citizen import cbor
from citizen.errors import LocalProtocolError, NotAuthorizedError, RemoteProtocolError
from citizen.identity.fingerprints import household_id
from citizen.identity.grants import Grant, sign_grant, verify_grant
from citizen.ids import new_doc_id

OWNER = SigningKey(b"\x01" * 32)
FRIEND = SigningKey(b"\x02" * 32)
FRIEND_PUB = bytes(FRIEND.verify_key)
OWNER_PUB = bytes(OWNER.verify_key)
DOC = new_doc_id()


def test_round_trip() -> None:
    data = sign_grant(OWNER, DOC, FRIEND_PUB, "writer", issued=1234)
    grant = verify_grant(data, OWNER_PUB)
    assert grant == Grant(DOC, OWNER_PUB, FRIEND_PUB, "writer", 1234, False, data)
    assert grant.owner_household == household_id(OWNER_PUB)
    assert grant.friend_household == household_id(FRIEND_PUB)
    assert verify_grant(data) == grant


def test_revocation_round_trips() -> None:
    data = sign_grant(OWNER, DOC, FRIEND_PUB, "reader", issued=5, revoked=True)
    grant = verify_grant(data)
    assert grant.revoked and grant.role == "reader" and grant.issued == 5


def test_default_issued_is_now() -> None:
    assert verify_grant(sign_grant(OWNER, DOC, FRIEND_PUB, "reader")).issued > 1_600_000_000


def test_wrong_owner_is_not_authorized() -> None:
    data = sign_grant(FRIEND, DOC, OWNER_PUB, "writer")
    with pytest.raises(NotAuthorizedError):
        verify_grant(data, OWNER_PUB)


def test_any_flipped_bit_is_rejected() -> None:
    data = sign_grant(OWNER, DOC, FRIEND_PUB, "reader", issued=1)
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            forged = bytearray(data)
            forged[i] ^= bit
            try:
                grant = verify_grant(bytes(forged), OWNER_PUB)
            except (RemoteProtocolError, NotAuthorizedError):
                continue
            # only a bit outside the signed payload and signature could pass: none exists
            pytest.fail(f"flipping byte {i} gave a valid grant {grant}")


def test_payload_swapped_between_owners_fails_signature() -> None:
    mine = cbor.loads(sign_grant(OWNER, DOC, FRIEND_PUB, "reader", issued=1))
    theirs = cbor.loads(sign_grant(FRIEND, DOC, FRIEND_PUB, "writer", issued=1))
    assert isinstance(mine, list) and isinstance(theirs, list)
    with pytest.raises(RemoteProtocolError, match="signature"):
        verify_grant(cbor.dumps([theirs[0], mine[1]]))


def _signed(payload: dict[str, object]) -> bytes:
    body = cbor.dumps(payload)
    return cbor.dumps([body, OWNER.sign(body).signature])


GOOD = {
    "t": "grant",
    "v": 1,
    "doc": b"\x00" * 16,
    "owner": OWNER_PUB,
    "friend": FRIEND_PUB,
    "role": "reader",
    "issued": 1,
    "revoked": False,
}


@pytest.mark.parametrize(
    "change",
    [
        {"t": "cert"},
        {"v": 2},
        {"doc": b"\x00" * 15},
        {"owner": b"\x00" * 31},
        {"friend": "text"},
        {"role": "admin"},
        {"issued": "now"},
        {"revoked": 1},
    ],
)
def test_malformed_but_signed_payloads_are_remote_errors(change: dict[str, object]) -> None:
    assert verify_grant(_signed(GOOD)).doc_id == "1111111111111111"
    with pytest.raises(RemoteProtocolError):
        verify_grant(_signed({**GOOD, **change}))


def test_bad_arguments_are_local_errors() -> None:
    with pytest.raises(LocalProtocolError):
        sign_grant(OWNER, DOC, b"short", "reader")
    with pytest.raises(LocalProtocolError):
        sign_grant(OWNER, DOC, FRIEND_PUB, "admin")  # type: ignore[arg-type]


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    try:
        verify_grant(data)
    except RemoteProtocolError:
        pass


@given(st.lists(st.binary(max_size=200), max_size=3))
def test_arbitrary_cbor_lists_only_raise_remote_protocol_error(items: list[bytes]) -> None:
    try:
        verify_grant(cbor.dumps(items))
    except RemoteProtocolError:
        pass
