"""The typed identifiers every layer shares, and their text forms.

`HouseholdId` and `DeviceId` are derived from public keys (see
`citizen.identity.fingerprints`); `DocId` and `ObjectId` are 16 random bytes shown
base58; `ShareId` is the BLAKE2b-256 of a share, shown hex.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NewType

import base58

from citizen.errors import AmbiguousError, NotFoundError, UsageError

HouseholdId = NewType("HouseholdId", str)
"""Fingerprint of a household public key, in groups with check characters."""

DeviceId = NewType("DeviceId", str)
"""libp2p peer ID (base58) of a device key."""

DocId = NewType("DocId", str)
"""base58 of 16 random bytes."""

ObjectId = NewType("ObjectId", str)
"""base58 of 16 random bytes."""

ShareId = NewType("ShareId", str)
"""hex BLAKE2b-256 of a share's bytes."""

RANDOM_ID_BYTES = 16


def new_doc_id() -> DocId:
    return DocId(base58.b58encode(os.urandom(RANDOM_ID_BYTES)).decode())


def new_object_id() -> ObjectId:
    return ObjectId(base58.b58encode(os.urandom(RANDOM_ID_BYTES)).decode())


def random_id_bytes(text: str, what: str = "ID") -> bytes:
    """Decode a base58 DocId/ObjectId to its 16 bytes.

    Raises:
        UsageError: not base58 or not 16 bytes.
    """
    try:
        raw = base58.b58decode(text.strip())
    except ValueError as exc:
        raise UsageError(f"{what} {text!r} is not valid base58.", "Copy it again.") from exc
    if len(raw) != RANDOM_ID_BYTES:
        raise UsageError(f"{what} {text!r} is not {RANDOM_ID_BYTES} bytes.", "Copy it again.")
    return raw


def parse_doc_id(text: str) -> DocId:
    raw = random_id_bytes(text, "doc ID")
    return DocId(base58.b58encode(raw).decode())


def parse_object_id(text: str) -> ObjectId:
    raw = random_id_bytes(text, "object ID")
    return ObjectId(base58.b58encode(raw).decode())


def pick_one(wanted: str, candidates: Sequence[tuple[str, str]], what: str, hint: str) -> str:
    """The ID of the one candidate (ID, name) that `wanted` names, as a person types it.

    An exact ID wins, then an exact name, then a unique ID prefix (case and
    dashes ignored, at least 4 characters), then a unique name prefix.

    Raises:
        NotFoundError: none fits (`hint` says where to look).
        AmbiguousError: several fit; the message lists them.
    """
    text = wanted.strip()
    folded = text.replace("-", "").lower()

    def compact(ident: str) -> str:
        return ident.replace("-", "").lower()

    tiers = [
        [c for c in candidates if c[0] == text or compact(c[0]) == folded],
        [c for c in candidates if c[1] == text],
        [c for c in candidates if len(folded) >= 4 and compact(c[0]).startswith(folded)],
        [c for c in candidates if text and c[1].startswith(text)],
    ]
    for found in tiers:
        unique = sorted(set(found))
        if len(unique) == 1:
            return unique[0][0]
        if len(unique) > 1:
            listed = "; ".join(f"{name!r} ({ident})" for ident, name in unique[:10])
            raise AmbiguousError(
                f"{text!r} could be any of {len(unique)} {what}s: {listed}.",
                "Give more of the ID, or the whole ID.",
            )
    raise NotFoundError(f"No {what} called {text!r} here.", hint)
