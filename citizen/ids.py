"""The typed identifiers every layer shares, and their text forms.

`HouseholdId` and `DeviceId` are derived from public keys (see
`citizen.identity.fingerprints`); `DocId` and `ObjectId` are 16 random bytes shown
base58; `ShareId` is the BLAKE2b-256 of a share, shown hex.
"""

from __future__ import annotations

import os
from typing import NewType

import base58

from citizen.errors import UsageError

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
