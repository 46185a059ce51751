from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.objects.segments import (
    MAX_SEGMENT_SIZE,
    TAG_SIZE,
    CorruptShareError,
    SegmentDecryptError,
    SegmentInfo,
    decode_segment,
    encode_segment,
    new_object_key,
    share_hash,
    share_size,
)

KEY = bytes(range(32))
OID = bytes(range(100, 116))


@pytest.mark.parametrize("size", [0, 1, 2, 15, 16, 17, 1000, 65_537, 1024 * 1024, 1024 * 1024 + 1])
def test_round_trip_sizes_from_every_k_subset(size: int) -> None:
    plaintext = os.urandom(size)
    seg = encode_segment(KEY, OID, 7, plaintext, 3, 5)
    assert seg.plaintext_size == size
    assert seg.ciphertext_size == size + TAG_SIZE
    assert len(seg.shares) == 5
    assert {len(s) for s in seg.shares} == {share_size(size + TAG_SIZE, 3)}
    assert all(isinstance(s, bytes) for s in seg.shares)
    assert seg.share_hashes == tuple(share_hash(s) for s in seg.shares)
    for numbers in itertools.combinations(range(5), 3):
        shares = {i: seg.shares[i] for i in numbers}
        assert decode_segment(KEY, OID, 7, shares, 3, 5, seg.info) == plaintext


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000),
    kn=st.tuples(st.integers(1, 20), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1])),
    index=st.integers(0, 2**64 - 1),
    pick=st.randoms(use_true_random=False),
)
def test_round_trip_any_k_n(data: bytes, kn: tuple[int, int], index: int, pick: object) -> None:
    import random

    assert isinstance(pick, random.Random)
    k, n = kn
    seg = encode_segment(KEY, OID, index, data, k, n)
    numbers = pick.sample(range(n), k)
    assert (
        decode_segment(KEY, OID, index, {i: seg.shares[i] for i in numbers}, k, n, seg.info) == data
    )


def test_extreme_k_with_tiny_segment_pads_whole_blocks() -> None:
    # 16 bytes of ciphertext over 200 blocks: most primary blocks are pure padding
    seg = encode_segment(KEY, OID, 0, b"", 200, 256)
    shares = {i: seg.shares[i] for i in range(56, 256)}
    assert decode_segment(KEY, OID, 0, shares, 200, 256, seg.info) == b""


def test_encoding_is_deterministic_per_object_and_index() -> None:
    a = encode_segment(KEY, OID, 3, b"hello", 3, 5)
    assert encode_segment(KEY, OID, 3, b"hello", 3, 5) == a
    assert encode_segment(KEY, OID, 4, b"hello", 3, 5).share_hashes != a.share_hashes
    other_oid = bytes(16)
    assert encode_segment(KEY, other_oid, 3, b"hello", 3, 5).share_hashes != a.share_hashes


@pytest.mark.parametrize("number", range(5))
def test_flipped_byte_is_named_by_hash_check(number: int) -> None:
    seg = encode_segment(KEY, OID, 0, os.urandom(5000), 3, 5)
    shares = dict(enumerate(seg.shares))
    bad = bytearray(shares[number])
    bad[len(bad) // 2] ^= 0x01
    shares[number] = bytes(bad)
    with pytest.raises(CorruptShareError) as info:
        decode_segment(KEY, OID, 0, shares, 3, 5, seg.info)
    assert info.value.share_numbers == (number,)
    assert isinstance(info.value, RemoteProtocolError)
    # the remaining four still decode
    del shares[number]
    assert len(decode_segment(KEY, OID, 0, shares, 3, 5, seg.info)) == 5000


def test_share_number_out_of_range_is_corrupt() -> None:
    seg = encode_segment(KEY, OID, 0, b"x", 3, 5)
    shares = {0: seg.shares[0], 1: seg.shares[1], 9: seg.shares[2]}
    with pytest.raises(CorruptShareError) as info:
        decode_segment(KEY, OID, 0, shares, 3, 5, seg.info)
    assert info.value.share_numbers == (9,)


def test_wrong_key_fails_with_typed_error() -> None:
    seg = encode_segment(KEY, OID, 0, b"secret", 3, 5)
    shares = {i: seg.shares[i] for i in (0, 2, 4)}
    with pytest.raises(SegmentDecryptError):
        decode_segment(new_object_key(), OID, 0, shares, 3, 5, seg.info)


@pytest.mark.parametrize("field", ["index", "object_id", "size"])
def test_associated_data_binds_position_object_and_size(field: str) -> None:
    seg = encode_segment(KEY, OID, 5, b"0123456789", 3, 5)
    shares = {i: seg.shares[i] for i in (0, 1, 2)}
    index, oid, info = 5, OID, seg.info
    if field == "index":
        index = 6
    elif field == "object_id":
        oid = bytes(16)
    else:
        # a forged manifest claiming a shorter plaintext, with consistent sizes
        info = SegmentInfo(9, 9 + TAG_SIZE, seg.share_hashes)
    with pytest.raises(SegmentDecryptError):
        decode_segment(KEY, oid, index, shares, 3, 5, info)


def test_fewer_than_k_shares_is_local_misuse() -> None:
    seg = encode_segment(KEY, OID, 0, b"x", 3, 5)
    with pytest.raises(LocalProtocolError):
        decode_segment(KEY, OID, 0, {0: seg.shares[0], 1: seg.shares[1]}, 3, 5, seg.info)


@pytest.mark.parametrize(
    ("key", "oid", "k", "n"),
    [
        (b"short", OID, 3, 5),
        (KEY, b"short", 3, 5),
        (KEY, OID, 0, 5),
        (KEY, OID, 6, 5),
        (KEY, OID, 3, 257),
    ],
)
def test_bad_parameters_are_refused(key: bytes, oid: bytes, k: int, n: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_segment(key, oid, 0, b"x", k, n)


def test_oversize_segment_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        encode_segment(KEY, OID, 0, bytes(MAX_SEGMENT_SIZE + 1), 3, 5)
