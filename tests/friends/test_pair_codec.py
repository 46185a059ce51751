from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import RemoteProtocolError
from citizen.friends import pair_codec as pc
from citizen.testing.strategies import keys32

_b32 = keys32
_text = st.text(max_size=100)
messages = st.one_of(
    st.builds(pc.PairRequest, st.text(max_size=64), _b32, _text, st.binary(max_size=300), _b32),
    st.builds(pc.PairAccept, _b32, _text, st.binary(max_size=300), _b32, st.none() | _b32),
    st.builds(pc.PairReject, st.text(max_size=64), _text),
    st.builds(
        pc.Hello,
        st.binary(max_size=300),
        _text,
        st.lists(st.text(max_size=50), max_size=5).map(tuple),
    ),
    st.builds(pc.HelloReject, _text),
)


@given(messages)
def test_round_trip(msg: pc.Message) -> None:
    assert pc.decode(pc.encode(msg)) == msg


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_remote_error(data: bytes) -> None:
    try:
        pc.decode(data)
    except RemoteProtocolError:
        pass


def test_unknown_type_and_oversize() -> None:
    from citizen import cbor

    with pytest.raises(RemoteProtocolError, match="unknown"):
        pc.decode(cbor.dumps({"t": "pair-surprise"}))
    with pytest.raises(RemoteProtocolError, match="more than"):
        pc.decode(b"\x00" * (pc.MAX_FRAME + 1))
