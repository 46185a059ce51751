from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from citizen.backup import codec as bc
from citizen.errors import RemoteProtocolError
from citizen.store.backup_state import (
    DeviceState,
    DocState,
    FriendState,
    HouseholdState,
    decode_state,
    encode_state,
)

messages = st.one_of(
    st.builds(bc.PutBackup, st.binary(max_size=100), st.binary(max_size=100)),
    st.builds(bc.Stored, st.integers(min_value=0, max_value=2**62)),
    st.builds(bc.Refused, st.text(max_size=50)),
    st.just(bc.GetPointer()),
    st.builds(bc.PointerReply, st.none() | st.binary(max_size=100)),
    st.just(bc.GetBackup()),
    st.builds(bc.BackupReply, st.none() | st.binary(max_size=100), st.none() | st.binary()),
)


@given(messages)
def test_round_trip(msg: bc.Message) -> None:
    assert bc.decode(bc.encode(msg)) == msg


@given(st.binary(max_size=1000))
def test_arbitrary_bytes_raise_only_remote_error(data: bytes) -> None:
    for decoder in (bc.decode, decode_state):
        try:
            decoder(data)
        except RemoteProtocolError:
            pass


def test_state_round_trip() -> None:
    state = HouseholdState(
        "home",
        5,
        (
            FriendState(
                "H1",
                b"\x01" * 32,
                "f",
                b"\x02" * 32,
                3,
                None,
                "a b c d",
                (DeviceState("12D3", "pi", b"cert", ("/ip4/127.0.0.1/tcp/1",)),),
            ),
        ),
        (DocState("doc", "H0", "title", b"snapshot"),),
        (b"grant",),
    )
    assert decode_state(encode_state(state)) == state
