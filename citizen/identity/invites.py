"""Invites and the pairing proofs: codes, MACs bound to both parties, SAS words.

An invite is canonical CBOR {v, household, peer, addrs, secret, expires,
name}, shown as a text code: ``CC1`` + base32(CBOR + 4-byte BLAKE2b
checksum), which also fits a QR code's alphanumeric mode. Each side of a
pairing proves it knows the secret with a keyed BLAKE2b over a transcript
binding its role, the invite, both peer IDs and both household keys, so a
proof cannot be replayed to another pairing or reflected back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from citizen import cbor
from citizen.errors import InviteError, RemoteProtocolError
from citizen.identity.phrase import wordlist

INVITE_VERSION = 1
PREFIX = "CC1"
MAX_INVITE_BYTES = 2048
SECRET_BYTES = 32
SAS_WORDS = 4
_WHAT = "invite"


@dataclass(frozen=True, slots=True)
class Invite:
    household_key: bytes
    peer: str
    addrs: tuple[str, ...]
    secret: bytes
    expires: int
    name: str
    kind: str = "pair"  # "pair": a friend's household; "enroll": a new device of ours

    @property
    def invite_id(self) -> str:
        return invite_id(self.secret)


def invite_id(secret: bytes) -> str:
    return hashlib.blake2b(secret, digest_size=16, person=b"citizen-invite").hexdigest()


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def encode_invite(invite: Invite) -> str:
    fields: dict[str, object] = {"kind": invite.kind} if invite.kind != "pair" else {}
    body = cbor.dumps(
        fields
        | {
            "v": INVITE_VERSION,
            "household": invite.household_key,
            "peer": invite.peer,
            "addrs": list(invite.addrs),
            "secret": invite.secret,
            "expires": invite.expires,
            "name": invite.name,
        }
    )
    check = hashlib.blake2b(body, digest_size=4).digest()
    return PREFIX + base64.b32encode(body + check).decode().rstrip("=")


def decode_invite(code: str) -> Invite:
    """Parse a text code. Does not check expiry (the caller knows the time).

    Raises:
        InviteError: not an invite, garbled (checksum), or malformed.
    """
    compact = "".join(code.split()).replace("-", "").upper()
    if not compact.startswith(PREFIX):
        raise InviteError(
            "This is not a citizen invite code (it should start with CC1).",
            "Copy the whole code, or scan the QR code again.",
        )
    text = compact[len(PREFIX) :]
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError as exc:
        raise InviteError(
            "The invite code is garbled.", "Copy the whole code, or scan it again."
        ) from exc
    if len(raw) > MAX_INVITE_BYTES or len(raw) < 8:
        raise InviteError("The invite code has an impossible length.", "Copy it again.")
    body, check = raw[:-4], raw[-4:]
    if not hmac.compare_digest(hashlib.blake2b(body, digest_size=4).digest(), check):
        raise InviteError(
            "The invite code is garbled (its checksum does not match).",
            "A character was lost or changed; copy the whole code or scan the QR code again.",
        )
    try:
        m = cbor.as_map(cbor.loads(body, max_size=MAX_INVITE_BYTES, what=_WHAT), _WHAT)
        if cbor.field_int(m, "v", _WHAT) != INVITE_VERSION:
            raise RemoteProtocolError("unknown invite version")
        kind = m.get("kind", "pair")
        if kind not in ("pair", "enroll"):
            raise RemoteProtocolError("unknown invite kind")
        addrs = cbor.field_list(m, "addrs", _WHAT, max_len=16)
        if not all(isinstance(a, str) and len(a) < 256 for a in addrs):
            raise RemoteProtocolError("invite addresses must be text")
        return Invite(
            household_key=cbor.field_bytes(m, "household", _WHAT, size=32),
            peer=cbor.field_str(m, "peer", _WHAT, max_len=128),
            addrs=tuple(str(a) for a in addrs),
            secret=cbor.field_bytes(m, "secret", _WHAT, size=SECRET_BYTES),
            expires=cbor.field_int(m, "expires", _WHAT),
            name=cbor.field_str(m, "name", _WHAT, max_len=128),
            kind=str(kind),
        )
    except RemoteProtocolError as exc:
        raise InviteError(
            f"The invite code is not valid ({exc.message}).",
            "Ask your friend for a new invite; theirs may be from a newer citizen version.",
        ) from exc


@dataclass(frozen=True, slots=True)
class Transcript:
    """What both sides of one pairing agree on; every proof is bound to all of it."""

    invite_id: str
    inviter_peer: str
    acceptor_peer: str
    inviter_household_key: bytes
    acceptor_household_key: bytes

    def mac(self, secret: bytes, role: str) -> bytes:
        data = cbor.dumps(
            [
                "citizen/pair/1",
                role,
                self.invite_id,
                self.inviter_peer,
                self.acceptor_peer,
                self.inviter_household_key,
                self.acceptor_household_key,
            ]
        )
        return hashlib.blake2b(data, key=secret, digest_size=32).digest()

    def check(self, secret: bytes, role: str, mac: bytes) -> bool:
        return hmac.compare_digest(self.mac(secret, role), mac)


def _keyed(secret: bytes, label: bytes, a: bytes, b: bytes) -> bytes:
    low, high = sorted((a, b))
    return hashlib.blake2b(label + low + high, key=secret, digest_size=32).digest()


def friendship_secret(invite_secret: bytes, key_a: bytes, key_b: bytes) -> bytes:
    """The secret two households share from pairing on (rendezvous namespaces)."""
    return _keyed(invite_secret, b"citizen friendship", key_a, key_b)


def sas_words(invite_secret: bytes, key_a: bytes, key_b: bytes) -> list[str]:
    """A few words both sides show after pairing; equal words mean nobody was in between."""
    digest = int.from_bytes(_keyed(invite_secret, b"citizen sas", key_a, key_b)[:8], "big")
    words = wordlist()
    return [words[(digest >> (11 * i)) & 0x7FF] for i in range(SAS_WORDS)]
