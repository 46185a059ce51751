"""Hypothesis strategies the unit tests share: IDs, keys, JSON-like and CBOR-like values.

Codec tests build their message strategies from these, so an ID is generated
the same way (and is as valid) in every protocol's round-trip test.
"""

from __future__ import annotations

import hashlib

import base58
from hypothesis import strategies as st

from citizen.ids import DocId, HouseholdId, ObjectId, ShareId

#: 32 raw bytes: an Ed25519 public key, a friendship secret, a nonce
keys32: st.SearchStrategy[bytes] = st.binary(min_size=32, max_size=32)

#: doc IDs as the store makes them: base58 of 16 random bytes
doc_ids: st.SearchStrategy[DocId] = st.binary(min_size=16, max_size=16).map(
    lambda b: DocId(base58.b58encode(b).decode())
)

#: share IDs as segments makes them: hex BLAKE2b-256
share_ids: st.SearchStrategy[ShareId] = st.binary(min_size=1, max_size=8).map(
    lambda b: ShareId(hashlib.blake2b(b, digest_size=32).hexdigest())
)

#: object IDs of the three lengths base58 gives 16 bytes (leading zeros shorten it)
object_ids: st.SearchStrategy[ObjectId] = st.sampled_from(
    ["1111111111111111", "12drXXUifSrRnXLGbXg8E", "YcVfxkQb6JRzqk5kF2tNLv"]
).map(ObjectId)

#: household IDs as a peer might send them: any short non-empty text
households: st.SearchStrategy[HouseholdId] = st.text(min_size=1, max_size=40).map(HouseholdId)

#: sizes to cut a byte string into when feeding a decoder piece by piece
chunk_sizes: st.SearchStrategy[int] = st.integers(min_value=1, max_value=7)


def json_values(
    *,
    keys: st.SearchStrategy[str] | None = None,
    floats: bool = False,
    max_leaves: int = 20,
) -> st.SearchStrategy[object]:
    """Arbitrary JSON values (what a peer or an API client might send where a shape is due).

    Args:
        keys: map keys (default: short text); pass a `sampled_from` of the
            field names a parser looks for to reach its deeper branches.
        floats: include floats (NaN and infinities too).
        max_leaves: bound on the size of one value.
    """
    scalars: st.SearchStrategy[object] = st.none() | st.booleans() | st.integers()
    if floats:
        scalars = scalars | st.floats()
    scalars = scalars | st.text(max_size=8)
    key_strategy = keys if keys is not None else st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(key_strategy, inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def cbor_values(*, max_leaves: int = 20) -> st.SearchStrategy[object]:
    """Arbitrary values a CBOR decoder may return (JSON-like, plus bytes)."""
    scalars = (
        st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=5)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def chunked(data: bytes, step: int) -> list[bytes]:
    """`data` cut into pieces of `step` bytes (the last one shorter), to feed a decoder with."""
    return [data[i : i + step] for i in range(0, len(data), max(1, step))]
