from __future__ import annotations

import os

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citizen import cbor
from citizen.errors import RemoteProtocolError, UsageError
from citizen.ids import HouseholdId, ObjectId, new_object_id
from citizen.objects.manifest import (
    Manifest,
    ReadCap,
    Segmenter,
    manifest_from_cbor,
    manifest_from_dict,
    manifest_to_cbor,
    manifest_to_dict,
    segment_count,
    split_segments,
)
from citizen.objects.segments import TAG_SIZE, SegmentInfo, encode_segment
from citizen.testing.strategies import cbor_values


def make_manifest(size: int = 2500, segment_size: int = 1000, k: int = 3, n: int = 5) -> Manifest:
    oid = new_object_id()
    key = bytes(32)
    raw = base58.b58decode(oid)
    data = os.urandom(size)
    infos = tuple(
        encode_segment(key, raw, i, seg, k, n).info
        for i, seg in enumerate(split_segments([data], segment_size))
    )
    placement = {i: HouseholdId(f"household-{i}") for i in range(n)}
    return Manifest(oid, size, segment_size, k, n, infos, placement, created=1_700_000_000)


def only_text_ints_lists_maps(value: object) -> bool:
    match value:
        case bool():
            return False
        case str() | int():
            return True
        case list():
            return all(only_text_ints_lists_maps(v) for v in value)
        case dict():
            return all(
                isinstance(k, str) and only_text_ints_lists_maps(v) for k, v in value.items()
            )
        case _:
            return False


@pytest.mark.parametrize(
    ("size", "segment_size"), [(0, 1000), (1, 1000), (1000, 1000), (2500, 1000)]
)
def test_dict_and_cbor_round_trip(size: int, segment_size: int) -> None:
    m = make_manifest(size, segment_size)
    assert len(m.segments) == segment_count(size, segment_size)
    as_dict = manifest_to_dict(m)
    assert only_text_ints_lists_maps(as_dict)
    assert manifest_from_dict(as_dict) == m
    assert manifest_from_cbor(manifest_to_cbor(m)) == m
    assert manifest_to_cbor(manifest_from_cbor(manifest_to_cbor(m))) == manifest_to_cbor(m)


def test_placement_is_read_only_and_with_placement_copies() -> None:
    m = make_manifest()
    with pytest.raises(TypeError):
        m.placement[0] = HouseholdId("x")  # type: ignore[index]
    moved = m.with_placement({1: HouseholdId("new")})
    assert moved.placement[1] == "new"
    assert m.placement[1] == "household-1"
    assert moved.share_ids(1) == [s.share_hashes[1].hex() for s in m.segments]


def test_partial_placement_is_allowed() -> None:
    m = make_manifest()
    holey = Manifest(
        m.object_id, m.size, m.segment_size, m.k, m.n, m.segments, {0: HouseholdId("a")}, 0
    )
    assert manifest_from_dict(manifest_to_dict(holey)) == holey


def _mutations() -> list[tuple[str, object]]:
    return [
        ("v", 2),
        ("object_id", "not-base58-0OIl"),
        ("object_id", base58.b58encode(bytes(15)).decode()),
        ("size", -1),
        ("size", 2501),  # segments no longer add up
        ("size", "2500"),
        ("segment_size", 0),
        ("segment_size", 10 * 1024 * 1024),
        ("k", 0),
        ("k", 6),
        ("n", 300),
        ("cipher", "aes"),
        ("created", -5),
        ("created", True),
        ("segments", []),
        ("segments", "nope"),
        ("placement", {"5": "h"}),
        ("placement", {"-1": "h"}),
        ("placement", {"x": "h"}),
        ("placement", {"0": ""}),
        ("placement", {"0": 7}),
        ("placement", [1]),
    ]


@pytest.mark.parametrize(("key", "value"), _mutations())
def test_malformed_dict_raises_remote_protocol_error(key: str, value: object) -> None:
    d = manifest_to_dict(make_manifest())
    d[key] = value
    with pytest.raises(RemoteProtocolError):
        manifest_from_dict(d)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plaintext_size", 999),
        ("ciphertext_size", 1000),
        ("share_hashes", ["00" * 32] * 4),
        ("share_hashes", ["zz" * 32] * 5),
        ("share_hashes", ["00" * 31] * 5),
    ],
)
def test_inconsistent_segment_raises(field: str, value: object) -> None:
    d = manifest_to_dict(make_manifest())
    segments = d["segments"]
    assert isinstance(segments, list)
    segments[0][field] = value
    with pytest.raises(RemoteProtocolError):
        manifest_from_dict(d)


def test_missing_field_raises() -> None:
    for key in manifest_to_dict(make_manifest()):
        d = manifest_to_dict(make_manifest())
        del d[key]
        with pytest.raises(RemoteProtocolError):
            manifest_from_dict(d)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_cbor_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    try:
        manifest_from_cbor(data)
    except RemoteProtocolError:
        pass


@settings(max_examples=300)
@given(cbor_values())
def test_arbitrary_values_only_raise_remote_protocol_error(value: object) -> None:
    try:
        manifest_from_dict(value)
    except RemoteProtocolError:
        pass


def test_hex_hashes_are_refused_in_cbor_form() -> None:
    data = cbor.dumps(manifest_to_dict(make_manifest()))
    with pytest.raises(RemoteProtocolError):
        manifest_from_cbor(data)


# -- read capability ------------------------------------------------------------------


def test_read_cap_round_trip_and_hides_key_in_repr() -> None:
    cap = ReadCap(new_object_id(), os.urandom(32))
    text = cap.to_text()
    assert text.startswith("cap:")
    assert ReadCap.from_text(f"  {text}\n") == cap
    assert cap.key.hex() not in repr(cap)


def test_read_cap_typo_is_caught_by_checksum() -> None:
    text = ReadCap(ObjectId(base58.b58encode(bytes(16)).decode()), bytes(32)).to_text()
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    i = len(text) // 2
    swapped = alphabet[(alphabet.index(text[i]) + 1) % len(alphabet)]
    with pytest.raises(UsageError, match=r"checksum|length"):
        ReadCap.from_text(text[:i] + swapped + text[i + 1 :])


@pytest.mark.parametrize(
    "text", ["", "cap:", "cap:0OIl", "nocap:abc", "cap:" + "1" * 300, "cap:abc"]
)
def test_read_cap_garbage_is_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        ReadCap.from_text(text)


# -- segmenter ------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    chunks=st.lists(st.binary(max_size=50), max_size=20),
    segment_size=st.integers(1, 40),
)
def test_segmenter_splits_any_chunking_exactly(chunks: list[bytes], segment_size: int) -> None:
    data = b"".join(chunks)
    segments = list(split_segments(chunks, segment_size))
    assert b"".join(segments) == data
    assert len(segments) == segment_count(len(data), segment_size)
    assert all(len(s) == segment_size for s in segments[:-1])
    assert 0 < len(segments[-1]) <= segment_size or len(data) == 0


def test_segmenter_holds_less_than_a_segment_between_feeds() -> None:
    seg = Segmenter(10)
    assert seg.feed(b"abc") == []
    assert seg.feed(b"defghijklmnopqrstuvwxyz0") == [b"abcdefghij", b"klmnopqrst"]
    assert len(seg._buffer) < 10
    assert seg.finish() == b"uvwxyz0"
    assert seg.segments_emitted == 3


def test_segmenter_empty_stream_is_one_empty_segment_and_exact_fit_has_no_tail() -> None:
    assert list(split_segments([], 10)) == [b""]
    assert list(split_segments([b"x" * 20], 10)) == [b"x" * 10, b"x" * 10]


def test_ciphertext_size_is_plaintext_plus_tag() -> None:
    m = make_manifest(2500, 1000)
    assert [s.ciphertext_size - s.plaintext_size for s in m.segments] == [TAG_SIZE] * 3
    assert isinstance(m.segments[0], SegmentInfo)
