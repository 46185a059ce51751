"""Household backups, pure: the key derived from the household key, sealing, signed pointers.

A backup is the household's state (friends, docs, grants) as canonical CBOR,
sealed with XChaCha20-Poly1305 under a key derived from the household seed,
so friends who hold it cannot read it and only the recovery phrase opens it.
A pointer names the newest backup: {household, version, hash, size}, signed
by the household key; versions only grow, so a friend that keeps an older
backup cannot pass it off as the latest.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.utils
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey

from citizen import cbor
from citizen.errors import CitizenError, RemoteProtocolError

POINTER_VERSION = 1
MAX_POINTER_SIZE = 512
MAX_BACKUP_SIZE = 64 * 1024 * 1024
_AD = b"citizen-backup-v1"


class BackupDecryptError(CitizenError):
    """A backup does not open with this household's key (wrong household or tampered)."""

    code = "backup_decrypt"


def backup_key(household: SigningKey) -> bytes:
    return hashlib.blake2b(bytes(household), digest_size=32, person=b"citizen-backup").digest()


def seal_backup(household: SigningKey, plaintext: bytes) -> bytes:
    nonce = nacl.utils.random(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, _AD, nonce, backup_key(household)
    )
    return nonce + sealed


def open_backup(household: SigningKey, blob: bytes) -> bytes:
    """Decrypt a sealed backup.

    Raises:
        BackupDecryptError: not sealed with this household's key, or altered.
    """
    n = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
    try:
        return bytes(
            sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                blob[n:], _AD, blob[:n], backup_key(household)
            )
        )
    except (CryptoError, ValueError) as exc:
        raise BackupDecryptError(
            "The backup does not open with this household's key.",
            "It belongs to another household or was altered; try another friend's copy.",
        ) from exc


@dataclass(frozen=True, slots=True)
class Pointer:
    household_key: bytes
    version: int
    blob_hash: bytes
    size: int
    raw: bytes


def blob_hash(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=32).digest()


def sign_pointer(household: SigningKey, version: int, blob: bytes) -> Pointer:
    payload = cbor.dumps(
        {
            "v": POINTER_VERSION,
            "household": bytes(household.verify_key),
            "version": version,
            "hash": blob_hash(blob),
            "size": len(blob),
        }
    )
    raw = cbor.dumps([payload, household.sign(payload).signature])
    return verify_pointer(raw, bytes(household.verify_key))


def verify_pointer(data: bytes, household_key: bytes) -> Pointer:
    """Decode a pointer and check it is signed by `household_key`.

    Raises:
        RemoteProtocolError: malformed, forged, or for another household.
    """
    what = "backup pointer"
    outer = cbor.loads(data, max_size=MAX_POINTER_SIZE, what=what)
    if not isinstance(outer, list) or len(outer) != 2:
        raise RemoteProtocolError(f"{what} must be [payload, signature].")
    payload, sig = outer
    if not isinstance(payload, bytes) or not isinstance(sig, bytes):
        raise RemoteProtocolError(f"{what} must hold bytes.")
    m = cbor.as_map(cbor.loads(payload, max_size=MAX_POINTER_SIZE, what=what), what)
    if cbor.field_int(m, "v", what) != POINTER_VERSION:
        raise RemoteProtocolError(f"{what} has an unknown version.")
    key = cbor.field_bytes(m, "household", what, size=32)
    if not hmac.compare_digest(key, household_key):
        raise RemoteProtocolError(f"{what} is for another household.")
    try:
        VerifyKey(key).verify(payload, sig)
    except (BadSignatureError, ValueError) as exc:
        raise RemoteProtocolError(f"{what} has a bad signature.") from exc
    version = cbor.field_int(m, "version", what)
    size = cbor.field_int(m, "size", what)
    if version < 0 or not 0 <= size <= MAX_BACKUP_SIZE:
        raise RemoteProtocolError(f"{what} has an impossible version or size.")
    return Pointer(key, version, cbor.field_bytes(m, "hash", what, size=32), size, bytes(data))


def check_blob(pointer: Pointer, blob: bytes) -> None:
    """Raises RemoteProtocolError if `blob` is not the one `pointer` names."""
    if len(blob) != pointer.size or not hmac.compare_digest(blob_hash(blob), pointer.blob_hash):
        raise RemoteProtocolError("The backup does not match its pointer (size or hash).")
