"""Human-facing IDs derived from public keys: household IDs with check characters, peer IDs.

A household ID is the BLAKE2b-160 of the household public key in base32,
split into four groups of eight characters, each followed by a Luhn mod 32
check character (as syncthing device IDs do), so a mistyped ID is caught.
A device ID is the libp2p peer ID of the device's Ed25519 key, computed here
without importing libp2p (identity multihash of the protobuf public key).
"""

from __future__ import annotations

import base64
import hashlib

import base58

from citizen.errors import IdFormatError
from citizen.ids import DeviceId, HouseholdId

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_GROUP = 8


def _luhn32(chars: str) -> str:
    """Luhn mod N check character over the base32 alphabet."""
    factor = 1
    total = 0
    n = len(_ALPHABET)
    for ch in reversed(chars):
        addend = factor * _ALPHABET.index(ch)
        factor = 2 if factor == 1 else 1
        addend = (addend // n) + (addend % n)
        total += addend
    return _ALPHABET[(n - (total % n)) % n]


def household_id(public_key: bytes) -> HouseholdId:
    """The household ID of a household public key, e.g. ``ABCDEFGH2-...``."""
    digest = hashlib.blake2b(public_key, digest_size=20).digest()
    text = base64.b32encode(digest).decode().rstrip("=")  # 32 characters
    groups = [text[i : i + _GROUP] for i in range(0, len(text), _GROUP)]
    return HouseholdId("-".join(g + _luhn32(g) for g in groups))


def parse_household_id(text: str) -> HouseholdId:
    """Normalise a typed household ID and verify its check characters.

    Raises:
        IdFormatError: wrong length, foreign characters or a bad check character.
    """
    compact = text.strip().upper().replace("-", "").replace(" ", "")
    if len(compact) != 36 or any(c not in _ALPHABET for c in compact):
        raise IdFormatError(
            f"{text!r} is not a household ID.",
            "A household ID has 36 letters and digits in four groups; copy it again.",
        )
    groups = [compact[i : i + _GROUP + 1] for i in range(0, 36, _GROUP + 1)]
    for number, group in enumerate(groups, start=1):
        if _luhn32(group[:-1]) != group[-1]:
            raise IdFormatError(
                f"Group {number} of household ID {text!r} has a wrong check character.",
                "Something was mistyped; compare it with `citizen id` on that household's device.",
            )
    return HouseholdId("-".join(groups))


def peer_id_bytes(device_public_key: bytes) -> bytes:
    # protobuf PublicKey{Type: Ed25519 (1), Data: 32 bytes}, identity multihash
    proto = b"\x08\x01\x12\x20" + device_public_key
    return b"\x00" + bytes([len(proto)]) + proto


def device_id(device_public_key: bytes) -> DeviceId:
    """The libp2p peer ID (base58) of an Ed25519 device public key."""
    return DeviceId(base58.b58encode(peer_id_bytes(device_public_key)).decode())


def device_public_key_from_id(device: str) -> bytes:
    """Recover the Ed25519 public key embedded in an identity-multihash peer ID.

    Raises:
        IdFormatError: not an Ed25519 identity peer ID.
    """
    try:
        raw = base58.b58decode(device)
    except ValueError as exc:
        raise IdFormatError(f"{device!r} is not a device ID.") from exc
    if len(raw) != 38 or raw[:6] != b"\x00\x24\x08\x01\x12\x20":
        raise IdFormatError(f"{device!r} is not an Ed25519 device ID.")
    return raw[6:]
