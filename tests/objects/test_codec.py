from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citizen import cbor
from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.ids import HouseholdId, ObjectId, ShareId
from citizen.objects.codec import (
    MAX_FRAME,
    MAX_IDS,
    Challenge,
    Deleted,
    DeleteShares,
    FetchShare,
    FrameReader,
    Held,
    ListHeld,
    Missing,
    ObjectsMessage,
    Proof,
    ShareData,
    StoreCode,
    StoreResult,
    StoreShare,
    decode_body,
    delete_payload,
    encode_frame,
)
from citizen.objects.segments import MAX_SHARE_SIZE
from citizen.testing.strategies import households, keys32, object_ids, share_ids

nonces = keys32

messages: st.SearchStrategy[ObjectsMessage] = st.one_of(
    st.builds(
        StoreShare,
        owner=households,
        share_id=share_ids,
        object_id=object_ids,
        segment=st.integers(0, 2**32),
        share_number=st.integers(0, 255),
        data=st.binary(max_size=200),
    ),
    st.builds(
        StoreResult,
        share_id=share_ids,
        code=st.sampled_from(StoreCode),
        message=st.text(max_size=50),
    ),
    st.builds(FetchShare, share_id=share_ids),
    st.builds(ShareData, share_id=share_ids, data=st.binary(max_size=200)),
    st.builds(Missing, share_id=share_ids),
    st.builds(Challenge, share_ids=st.lists(share_ids, max_size=5).map(tuple), nonce=nonces),
    st.builds(
        Proof,
        nonce=nonces,
        proofs=st.lists(st.sampled_from([b"", b"\x01" * 32, b"\x02" * 32]), max_size=5).map(tuple),
    ),
    st.builds(
        DeleteShares,
        owner=households,
        share_ids=st.lists(share_ids, max_size=5).map(tuple),
        issued=st.integers(0, 2**40),
        signature=st.binary(min_size=64, max_size=64),
    ),
    st.builds(Deleted, count=st.integers(0, 10**9)),
    st.builds(
        ListHeld, owner=households, after=st.none() | share_ids, limit=st.integers(1, MAX_IDS)
    ),
    st.builds(Held, share_ids=st.lists(share_ids, max_size=5).map(tuple), more=st.booleans()),
)


def test_object_id_fixtures_are_valid() -> None:
    import base58

    for text in ["1111111111111111", "12drXXUifSrRnXLGbXg8E", "YcVfxkQb6JRzqk5kF2tNLv"]:
        assert len(base58.b58decode(text)) == 16


@given(messages)
def test_round_trip(msg: ObjectsMessage) -> None:
    frame = encode_frame(msg)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_body(frame[4:]) == msg
    assert FrameReader().feed(frame) == [msg]


@settings(max_examples=50)
@given(st.lists(messages, max_size=6), st.integers(1, 7))
def test_frame_reader_any_chunking(msgs: list[ObjectsMessage], step: int) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)
    reader = FrameReader()
    out: list[ObjectsMessage] = []
    for i in range(0, len(stream), step):
        out.extend(reader.feed(stream[i : i + step]))
    reader.eof()
    assert out == msgs


def test_frame_reader_byte_at_a_time() -> None:
    msgs: list[ObjectsMessage] = [
        FetchShare(ShareId("ab" * 32)),
        ShareData(ShareId("cd" * 32), b"\x00\xff" * 100),
        Held((), more=False),
    ]
    stream = b"".join(encode_frame(m) for m in msgs)
    reader = FrameReader()
    out: list[ObjectsMessage] = []
    for byte in stream:
        out.extend(reader.feed(bytes([byte])))
    assert out == msgs
    reader.eof()


def test_largest_share_fits_in_a_frame() -> None:
    msg = StoreShare(
        HouseholdId("h" * 128),
        ShareId("ab" * 32),
        ObjectId("12drXXUifSrRnXLGbXg8E"),
        2**32,
        255,
        bytes(MAX_SHARE_SIZE),
    )
    assert FrameReader().feed(encode_frame(msg)) == [msg]


def test_oversize_share_is_refused_both_ways() -> None:
    msg = ShareData(ShareId("ab" * 32), bytes(MAX_SHARE_SIZE + 1))
    body = cbor.dumps({"t": "share", "share_id": "ab" * 32, "data": bytes(MAX_SHARE_SIZE + 1)})
    with pytest.raises(RemoteProtocolError):
        decode_body(body)
    with pytest.raises(LocalProtocolError):
        encode_frame(ShareData(ShareId("ab" * 32), bytes(MAX_FRAME)))
    assert msg.data  # the message itself can be built; only the wire refuses it


def test_oversize_length_prefix_is_refused_before_buffering() -> None:
    reader = FrameReader()
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        reader.feed((MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError):
        reader.feed(b"")  # a broken stream stays broken


def test_eof_inside_a_frame_is_an_error() -> None:
    reader = FrameReader()
    assert reader.feed(encode_frame(Deleted(3))[:-1]) == []
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        reader.eof()


@pytest.mark.parametrize(
    "body",
    [
        {"t": "nope"},
        {"share_id": "ab" * 32},
        {"t": "fetch", "share_id": "AB" * 32},
        {"t": "fetch", "share_id": "../../etc/passwd"},
        {"t": "fetch", "share_id": "ab" * 31},
        {
            "t": "store",
            "owner": "",
            "share_id": "ab" * 32,
            "object_id": "12drXXUifSrRnXLGbXg8E",
            "segment": 0,
            "share_number": 0,
            "data": b"",
        },
        {
            "t": "store",
            "owner": "h",
            "share_id": "ab" * 32,
            "object_id": "0OIl",
            "segment": 0,
            "share_number": 0,
            "data": b"",
        },
        {
            "t": "store",
            "owner": "h",
            "share_id": "ab" * 32,
            "object_id": "12drXXUifSrRnXLGbXg8E",
            "segment": -1,
            "share_number": 0,
            "data": b"",
        },
        {
            "t": "store",
            "owner": "h",
            "share_id": "ab" * 32,
            "object_id": "12drXXUifSrRnXLGbXg8E",
            "segment": 0,
            "share_number": 256,
            "data": b"",
        },
        {
            "t": "store",
            "owner": "h",
            "share_id": "ab" * 32,
            "object_id": "12drXXUifSrRnXLGbXg8E",
            "segment": 0,
            "share_number": 0,
            "data": "x",
        },
        {"t": "store_result", "share_id": "ab" * 32, "code": "weird", "msg": ""},
        {"t": "challenge", "share_ids": ["ab" * 32], "nonce": b"short"},
        {"t": "challenge", "share_ids": ["ab" * 32] * (MAX_IDS + 1), "nonce": bytes(32)},
        {"t": "proof", "nonce": bytes(32), "proofs": [b"x" * 31]},
        {"t": "proof", "nonce": bytes(32), "proofs": ["x"]},
        {"t": "delete", "owner": "h", "share_ids": [], "issued": 0, "sig": bytes(63)},
        {"t": "list", "owner": "h", "after": None, "limit": 0},
        {"t": "list", "owner": "h", "after": 5, "limit": 10},
        {"t": "held", "share_ids": [], "more": 1},
        {"t": "deleted", "count": True},
    ],
)
def test_malformed_bodies_raise_remote_protocol_error(body: dict[str, object]) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_body(cbor.dumps(body))


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    try:
        FrameReader().feed(data)
    except RemoteProtocolError:
        pass
    try:
        decode_body(data)
    except RemoteProtocolError:
        pass


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "t",
                "share_id",
                "owner",
                "data",
                "share_ids",
                "nonce",
                "proofs",
                "limit",
                "after",
                "more",
                "count",
                "code",
                "msg",
                "sig",
                "issued",
            ]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=70)
        | st.binary(max_size=70)
        | st.lists(st.integers(), max_size=3),
    ),
    st.sampled_from(
        [
            "store",
            "store_result",
            "fetch",
            "share",
            "missing",
            "challenge",
            "proof",
            "delete",
            "deleted",
            "list",
            "held",
        ]
    ),
)
def test_arbitrary_maps_only_raise_remote_protocol_error(
    fields: dict[str, object], kind: str
) -> None:
    fields.setdefault("t", kind)
    try:
        decode_body(cbor.dumps(fields))
    except RemoteProtocolError:
        pass


def test_delete_payload_is_canonical_and_binds_every_field() -> None:
    ids = (ShareId("ab" * 32), ShareId("cd" * 32))
    base = delete_payload(HouseholdId("h"), ids, 5)
    assert delete_payload(HouseholdId("h"), ids, 5) == base
    assert delete_payload(HouseholdId("g"), ids, 5) != base
    assert delete_payload(HouseholdId("h"), ids[:1], 5) != base
    assert delete_payload(HouseholdId("h"), ids, 6) != base


def test_store_result_ok() -> None:
    assert StoreResult(ShareId("ab" * 32), StoreCode.OK).ok
    assert not StoreResult(ShareId("ab" * 32), StoreCode.QUOTA, "full").ok
