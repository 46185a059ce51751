"""Where a share is made: one segment of plaintext ↔ k-of-n encrypted, hashed shares.

The hot path of every put and get. Pure and CPU-bound: the shell calls these
through `trio.to_thread.run_sync` (libsodium, zfec and hashlib all release the
GIL on large buffers, so several segments can be in flight on a multi-core Pi).

A segment is encrypted with XChaCha20-Poly1305 under the object's key, the
ciphertext (tag included) is zero-padded to a multiple of k and split into k
primary blocks, zfec adds n - k check blocks, and every share is hashed with
BLAKE2b-256. The hash is the share's ID and is what a friend stores it under.

Nonces are derived, not random: ``nonce = object_id (16 bytes) || index
(8 bytes, big-endian)``, exactly the 24 bytes XChaCha20 takes. This is safe
because (1) every object has its own random 32-byte key (`new_object_key`)
and objects are immutable, so a (key, nonce) pair is only ever used for one
plaintext: the segment at that index of that object; (2) even if a key were
ever reused by mistake, the object ID in the nonce keeps nonces distinct
across objects. Re-encrypting the same segment (repair, proof checks)
reproduces the very same ciphertext and shares, so share IDs in the manifest
stay valid and the owner can recompute any share from its local plaintext.

The associated data binds the object ID, the segment index, the plaintext size
and k/n, so a friend cannot swap segments between objects or positions, or
truncate a segment, without decryption failing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import zfec
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_ABYTES,
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from citizen.errors import CitizenError, LocalProtocolError, RemoteProtocolError

KEY_SIZE = 32
OBJECT_ID_SIZE = 16
TAG_SIZE: int = crypto_aead_xchacha20poly1305_ietf_ABYTES
HASH_SIZE = 32
MAX_N = 256  # zfec's limit on the number of shares
DEFAULT_SEGMENT_SIZE = 1024 * 1024
MAX_SEGMENT_SIZE = 2 * 1024 * 1024
#: the largest share any valid (segment_size, k) can produce (k = 1)
MAX_SHARE_SIZE = MAX_SEGMENT_SIZE + TAG_SIZE
_AD_PREFIX = b"citizen/segment/1"


class CorruptShareError(RemoteProtocolError):
    """One or more shares do not match the hash in the manifest.

    Attributes:
        share_numbers: which of the given shares are bad; fetch those elsewhere.
    """

    code = "corrupt_share"

    def __init__(self, message: str, share_numbers: tuple[int, ...], hint: str = "") -> None:
        super().__init__(message, hint)
        self.share_numbers = share_numbers


class SegmentDecryptError(CitizenError):
    """The shares are intact but do not decrypt: wrong key or a forged manifest."""

    code = "decrypt"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What a manifest records about one segment, and all `decode_segment` needs."""

    plaintext_size: int
    ciphertext_size: int
    share_hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class EncodedSegment:
    """One segment, encrypted and erasure-coded: share i goes to holder i."""

    index: int
    plaintext_size: int
    ciphertext_size: int
    shares: tuple[bytes, ...]
    share_hashes: tuple[bytes, ...]

    @property
    def info(self) -> SegmentInfo:
        return SegmentInfo(self.plaintext_size, self.ciphertext_size, self.share_hashes)


def new_object_key() -> bytes:
    """A fresh random per-object key (never reuse one across objects)."""
    return os.urandom(KEY_SIZE)


def share_hash(data: bytes | memoryview) -> bytes:
    """BLAKE2b-256 of a share: its identity on the wire and on friends' disks."""
    return hashlib.blake2b(data, digest_size=HASH_SIZE).digest()


def share_size(ciphertext_size: int, k: int) -> int:
    """Size of every share of a segment whose ciphertext is `ciphertext_size` bytes."""
    return -(-ciphertext_size // k)


def segment_nonce(object_id_bytes: bytes, index: int) -> bytes:
    """The 24-byte nonce of segment `index` (see the module docstring for why)."""
    return object_id_bytes + index.to_bytes(8, "big")


def _associated_data(
    object_id_bytes: bytes, index: int, plaintext_size: int, k: int, n: int
) -> bytes:
    return b"".join(
        (
            _AD_PREFIX,
            object_id_bytes,
            index.to_bytes(8, "big"),
            plaintext_size.to_bytes(8, "big"),
            k.to_bytes(2, "big"),
            n.to_bytes(2, "big"),
        )
    )


def _check_params(object_key: bytes, object_id_bytes: bytes, index: int, k: int, n: int) -> None:
    if len(object_key) != KEY_SIZE:
        raise LocalProtocolError(f"An object key is {KEY_SIZE} bytes, not {len(object_key)}.")
    if len(object_id_bytes) != OBJECT_ID_SIZE:
        raise LocalProtocolError(
            f"An object ID is {OBJECT_ID_SIZE} bytes, not {len(object_id_bytes)}."
        )
    if not 0 <= index < 2**64:
        raise LocalProtocolError(f"Segment index {index} is out of range.")
    if not 1 <= k <= n <= MAX_N:
        raise LocalProtocolError(f"Need 1 <= k <= n <= {MAX_N}, got k={k}, n={n}.")


# zfec keeps a matrix per (k, n); building one is cheap but not free, and every
# segment of every object uses the same few parameters.
_encoders: dict[tuple[int, int], zfec.Encoder] = {}
_decoders: dict[tuple[int, int], zfec.Decoder] = {}


def _encoder(k: int, n: int) -> zfec.Encoder:
    enc = _encoders.get((k, n))
    if enc is None:
        enc = _encoders[(k, n)] = zfec.Encoder(k, n)
    return enc


def _decoder(k: int, n: int) -> zfec.Decoder:
    dec = _decoders.get((k, n))
    if dec is None:
        dec = _decoders[(k, n)] = zfec.Decoder(k, n)
    return dec


def encode_segment(
    object_key: bytes, object_id_bytes: bytes, index: int, plaintext: bytes, k: int, n: int
) -> EncodedSegment:
    """Encrypt one segment and split it into `n` shares, any `k` of which rebuild it.

    Raises:
        LocalProtocolError: a bad key/ID length, index, or k/n.
    """
    _check_params(object_key, object_id_bytes, index, k, n)
    if len(plaintext) > MAX_SEGMENT_SIZE:
        raise LocalProtocolError(
            f"A segment is at most {MAX_SEGMENT_SIZE} bytes, not {len(plaintext)}."
        )
    plaintext_size = len(plaintext)
    ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext,
        _associated_data(object_id_bytes, index, plaintext_size, k, n),
        segment_nonce(object_id_bytes, index),
        object_key,
    )
    ciphertext_size = len(ciphertext)
    size = share_size(ciphertext_size, k)
    view = memoryview(ciphertext)
    # zfec wants k equal blocks. Full blocks are views into the ciphertext;
    # only the short tail (zero-padded) is copied here.
    blocks: list[bytes | memoryview] = []
    for i in range(k):
        block = view[i * size : (i + 1) * size]
        blocks.append(block if len(block) == size else bytes(block) + bytes(size - len(block)))
    coded = _encoder(k, n).encode(blocks)
    # zfec hands back the primary blocks as the objects we passed in; a share
    # must be its own bytes (it is sent and stored on its own).
    shares = tuple(b if isinstance(b, bytes) else bytes(b) for b in coded)
    return EncodedSegment(
        index=index,
        plaintext_size=plaintext_size,
        ciphertext_size=ciphertext_size,
        shares=shares,
        share_hashes=tuple(share_hash(s) for s in shares),
    )


def verify_shares(shares: Mapping[int, bytes], info: SegmentInfo) -> tuple[int, ...]:
    """Return the share numbers whose bytes do not match the manifest's hashes."""
    bad: list[int] = []
    for number, data in shares.items():
        if (
            not 0 <= number < len(info.share_hashes)
            or share_hash(data) != info.share_hashes[number]
        ):
            bad.append(number)
    return tuple(sorted(bad))


def decode_segment(
    object_key: bytes,
    object_id_bytes: bytes,
    index: int,
    shares: Mapping[int, bytes],
    k: int,
    n: int,
    info: SegmentInfo,
) -> bytes:
    """Rebuild and decrypt one segment from any `k` (or more) of its shares.

    Every given share is checked against `info.share_hashes` before anything
    else, so a corrupt share is named rather than turning into a decryption
    failure.

    Raises:
        CorruptShareError: some shares do not match their hashes (see `share_numbers`).
        SegmentDecryptError: the shares are intact but the key (or manifest) is wrong.
        LocalProtocolError: fewer than k shares, or inconsistent parameters.
    """
    _check_params(object_key, object_id_bytes, index, k, n)
    if len(info.share_hashes) != n:
        raise LocalProtocolError(f"The manifest lists {len(info.share_hashes)} hashes, not n={n}.")
    if info.ciphertext_size != info.plaintext_size + TAG_SIZE:
        raise LocalProtocolError("Segment sizes are inconsistent.")
    if len(shares) < k:
        raise LocalProtocolError(f"Need {k} shares to decode a segment, got {len(shares)}.")
    bad = verify_shares(shares, info)
    if bad:
        raise CorruptShareError(
            f"Share(s) {', '.join(map(str, bad))} of segment {index} do not match their hashes.",
            bad,
            "Fetch these shares from another friend; repair will replace them.",
        )
    numbers = sorted(shares)[:k]
    blocks = [shares[i] for i in numbers]
    size = share_size(info.ciphertext_size, k)
    if any(len(b) != size for b in blocks):  # only reachable with a forged manifest
        raise LocalProtocolError("Share sizes do not match the manifest.")
    if numbers == list(range(k)):
        primary: Sequence[bytes] = blocks  # no erasure to undo
    else:
        primary = _decoder(k, n).decode(blocks, numbers)
    # Drop the zero padding (views, no copies) so the join is the only copy.
    parts: list[bytes | memoryview] = []
    remaining = info.ciphertext_size
    for block in primary:
        take = min(size, remaining)
        parts.append(block if take == size else memoryview(block)[:take])
        remaining -= take
    ciphertext = b"".join(parts)
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            ciphertext,
            _associated_data(object_id_bytes, index, info.plaintext_size, k, n),
            segment_nonce(object_id_bytes, index),
            object_key,
        )
    except CryptoError as exc:
        raise SegmentDecryptError(
            f"Segment {index} does not decrypt: the read capability's key is wrong"
            " or the manifest was altered.",
            "Check that the capability belongs to this object.",
        ) from exc
