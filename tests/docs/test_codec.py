"""Docs codec: round trips, framing at any chunking, limits, and hostile input."""

from __future__ import annotations

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen import cbor
from citizen.docs.codec import (
    HEADER_SIZE,
    MAX_CONTROL_FRAME,
    MAX_FRAME,
    MAX_HELLO_DOCS,
    MAX_SYNC_DATA,
    PROTOCOL_VERSION,
    DocMessage,
    FrameReader,
    Granted,
    Hello,
    Refused,
    Sync,
    Unavailable,
    decode_body,
    encode_frame,
)
from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.ids import DocId
from citizen.testing.strategies import doc_ids

messages: st.SearchStrategy[DocMessage] = st.one_of(
    st.builds(Hello, version=st.just(PROTOCOL_VERSION), doc_ids=st.lists(doc_ids).map(tuple)),
    st.builds(Sync, doc_id=doc_ids, data=st.binary(min_size=1, max_size=300)),
    st.builds(Granted, grant=st.binary(max_size=1024)),
    st.builds(Unavailable, doc_id=doc_ids),
    st.builds(Refused, doc_id=doc_ids, reason=st.text(max_size=100)),
)
DOC = DocId(base58.b58encode(bytes(range(16))).decode())


def _frame(body: dict[str, object]) -> bytes:
    raw = cbor.dumps(body)
    return len(raw).to_bytes(HEADER_SIZE, "big") + raw


@given(messages)
def test_round_trip(msg: DocMessage) -> None:
    frame = encode_frame(msg)
    assert int.from_bytes(frame[:HEADER_SIZE], "big") == len(frame) - HEADER_SIZE
    assert decode_body(frame[HEADER_SIZE:]) == msg
    assert FrameReader().feed(frame) == [msg]


@given(st.lists(messages, max_size=6), st.data())
def test_any_chunking_yields_the_same_messages(msgs: list[DocMessage], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = FrameReader()
    out: list[DocMessage] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        out += reader.feed(stream[start:cut])
        start = cut
    assert out == msgs
    reader.eof()


def test_one_byte_at_a_time() -> None:
    msgs: list[DocMessage] = [
        Hello(PROTOCOL_VERSION, (DOC,)),
        Sync(DOC, b"\x42" * 50),
        Refused(DOC, "reader"),
        Unavailable(DOC),
    ]
    stream = b"".join(encode_frame(m) for m in msgs)
    reader = FrameReader()
    out: list[DocMessage] = []
    for i in range(len(stream)):
        out += reader.feed(stream[i : i + 1])
    assert out == msgs


def test_eof_inside_a_frame() -> None:
    reader = FrameReader()
    assert reader.feed(encode_frame(Unavailable(DOC))[:-1]) == []
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        reader.eof()


def test_oversize_length_prefix_is_refused_before_buffering() -> None:
    reader = FrameReader()
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        reader.feed((MAX_FRAME + 1).to_bytes(HEADER_SIZE, "big"))
    with pytest.raises(RemoteProtocolError):
        reader.feed(b"")  # broken for good


def test_large_sync_passes_but_large_control_frames_do_not() -> None:
    big = Sync(DOC, b"\x00" * (MAX_CONTROL_FRAME + 10))
    assert FrameReader().feed(encode_frame(big)) == [big]
    padded = _frame({"t": "unavailable", "doc": bytes(16), "pad": b"\x00" * MAX_CONTROL_FRAME})
    with pytest.raises(RemoteProtocolError, match="more than"):
        FrameReader().feed(padded)


def test_encoder_limits() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(Sync(DOC, b""))
    with pytest.raises(LocalProtocolError):
        encode_frame(Sync(DOC, b"\x00" * (MAX_SYNC_DATA + 1)))
    with pytest.raises(LocalProtocolError):
        encode_frame(Granted(b"\x00" * 1025))
    with pytest.raises(LocalProtocolError):
        encode_frame(Hello(PROTOCOL_VERSION, (DOC,) * (MAX_HELLO_DOCS + 1)))


@pytest.mark.parametrize(
    "body",
    [
        {"t": "hello", "v": 2, "docs": []},
        {"t": "hello", "v": 1, "docs": [b"\x00" * 15]},
        {"t": "hello", "v": 1},
        {"t": "sync", "doc": bytes(16), "data": b""},
        {"t": "sync", "doc": "text", "data": b"x"},
        {"t": "grant", "grant": b"\x00" * 1025},
        {"t": "refused", "doc": bytes(16), "reason": "x" * 1025},
        {"t": "unavailable"},
        {"t": "gossip"},
        {"x": 1},
        {1: 2},
    ],
)
def test_malformed_frames(body: dict[object, object]) -> None:
    with pytest.raises(RemoteProtocolError):
        FrameReader().feed(_frame(body))  # type: ignore[arg-type]


@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    reader = FrameReader()
    try:
        reader.feed(data)
        reader.eof()
    except RemoteProtocolError:
        pass


@given(st.binary(max_size=512))
def test_arbitrary_bodies_only_raise_remote_protocol_error(data: bytes) -> None:
    try:
        decode_body(data)
    except RemoteProtocolError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["t", "v", "doc", "docs", "data", "grant", "reason"]),
        st.one_of(
            st.sampled_from(["hello", "sync", "grant", "unavailable", "refused"]),
            st.integers(),
            st.binary(max_size=20),
            st.lists(st.binary(max_size=20), max_size=3),
            st.text(max_size=5),
            st.none(),
        ),
    )
)
def test_arbitrary_maps_only_raise_remote_protocol_error(body: dict[str, object]) -> None:
    try:
        decode_body(cbor.dumps(body))
    except RemoteProtocolError:
        pass
