"""Wire codec of /citizen/household-friends/1: round trips, limits, hostile bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen import cbor
from citizen.errors import RemoteProtocolError
from citizen.household import friend_list_codec as hfc
from citizen.store.backup_state import DeviceState, FriendRemoval, FriendState
from citizen.testing.strategies import keys32

texts = st.text(max_size=20)
stamps = st.integers(min_value=0, max_value=2**62 - 1)
devices = st.builds(
    DeviceState,
    texts,
    texts,
    st.binary(max_size=200),
    st.lists(texts, max_size=3).map(tuple),
)
friends = st.builds(
    FriendState,
    texts,
    keys32,
    texts,
    keys32,
    stamps,
    st.none() | stamps,
    texts,
    st.lists(devices, max_size=3).map(tuple),
    stamps,
)
messages = st.one_of(
    st.builds(
        hfc.FriendList,
        st.lists(friends, max_size=3).map(tuple),
        st.lists(st.builds(FriendRemoval, texts, stamps, texts), max_size=3).map(tuple),
    ),
    st.builds(hfc.Refused, st.text(max_size=100)),
)


@given(messages)
def test_round_trip(msg: hfc.Message) -> None:
    assert hfc.decode(hfc.encode(msg)) == msg


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_remote_error(data: bytes) -> None:
    try:
        hfc.decode(data)
    except RemoteProtocolError:
        pass


@given(messages, st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_flipped_bytes_raise_only_remote_error(msg: hfc.Message, at: int, value: int) -> None:
    data = bytearray(hfc.encode(msg))
    data[at % len(data)] = value
    try:
        hfc.decode(bytes(data))
    except RemoteProtocolError:
        pass


def _list(**friend: object) -> bytes:
    base: dict[str, object] = {
        "household": "H",
        "key": b"k" * 32,
        "name": "f",
        "secret": b"s" * 32,
        "paired_at": 1,
        "offer": None,
        "sas": "",
        "changed": 1,
        "devices": [],
    }
    return cbor.dumps({"v": 1, "t": "list", "friends": [base | friend], "removed": []})


def test_the_base_message_decodes() -> None:
    assert isinstance(hfc.decode(_list()), hfc.FriendList)


@pytest.mark.parametrize(
    "data",
    [
        cbor.dumps({"v": 2, "t": "list", "friends": [], "removed": []}),  # unknown version
        cbor.dumps({"v": True, "t": "list", "friends": [], "removed": []}),
        cbor.dumps({"v": 1, "t": "gossip"}),  # unknown type
        b"\x00" * (hfc.MAX_FRAME + 1),  # oversize
        _list(secret=b"short"),
        _list(changed=-1),
        _list(changed=2**63),
        _list(offer=-5),
        _list(devices=[{"device": "d", "name": "n", "cert": b"c", "addrs": [1]}]),
        _list(devices=[{"device": "d", "name": "n", "cert": b"c" * 2000, "addrs": []}]),
        _list(devices=[{"device": "d", "name": "n", "cert": b"c", "addrs": []}] * 65),
        cbor.dumps({"v": 1, "t": "list", "friends": [], "removed": [{"household": "H"}]}),
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        hfc.decode(data)
