"""Grants: a household's signed statement that a friend household may read or write a doc.

Wire form: canonical CBOR ``[payload, signature]`` where payload is the
canonical CBOR map {t: "grant", v, doc, owner, friend, role, issued, revoked}
and the signature is Ed25519 by the owner's household key over the payload
bytes. A revocation is a grant with ``revoked`` true and a later ``issued``;
the newest statement per (doc, friend) wins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import base58
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from citizen import cbor
from citizen.errors import LocalProtocolError, NotAuthorizedError, RemoteProtocolError
from citizen.identity.fingerprints import household_id
from citizen.ids import RANDOM_ID_BYTES, DocId, HouseholdId, random_id_bytes

GRANT_VERSION = 1
MAX_GRANT_SIZE = 1024
KEY_SIZE = 32
SIGNATURE_SIZE = 64
_WHAT = "grant"

Role = Literal["reader", "writer"]
ROLES: tuple[Role, ...] = ("reader", "writer")


@dataclass(frozen=True, slots=True)
class Grant:
    """A verified grant.

    Attributes:
        doc_id: the doc shared.
        owner: public key of the household that owns the doc and signed this.
        friend: public key of the household the doc is shared with.
        role: "reader" (may sync, changes refused) or "writer".
        issued: unix seconds, as claimed by the owner.
        revoked: True if this statement withdraws access.
        raw: the exact signed bytes, to pass on unchanged.
    """

    doc_id: DocId
    owner: bytes
    friend: bytes
    role: Role
    issued: int
    revoked: bool
    raw: bytes

    @property
    def owner_household(self) -> HouseholdId:
        return household_id(self.owner)

    @property
    def friend_household(self) -> HouseholdId:
        return household_id(self.friend)


def sign_grant(
    household: SigningKey,
    doc_id: DocId,
    friend: bytes,
    role: Role,
    *,
    issued: int | None = None,
    revoked: bool = False,
) -> bytes:
    """Sign a grant (or, with `revoked`, its withdrawal) with the owner's household key.

    Raises:
        LocalProtocolError: bad friend key or role (our own misuse).
        UsageError: `doc_id` is not a doc ID.
    """
    if len(friend) != KEY_SIZE:
        raise LocalProtocolError(f"A friend household key is {KEY_SIZE} bytes, not {len(friend)}.")
    if role not in ROLES:
        raise LocalProtocolError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
    payload = cbor.dumps(
        {
            "t": "grant",
            "v": GRANT_VERSION,
            "doc": random_id_bytes(doc_id, "doc ID"),
            "owner": bytes(household.verify_key),
            "friend": bytes(friend),
            "role": role,
            "issued": int(time.time()) if issued is None else issued,
            "revoked": revoked,
        }
    )
    signature = household.sign(payload).signature
    return cbor.dumps([payload, signature])


def verify_grant(data: bytes, expected_owner: bytes | None = None) -> Grant:
    """Decode a grant and check its signature (and, if given, who signed it).

    Raises:
        RemoteProtocolError: malformed, oversized, unknown version or bad signature.
        NotAuthorizedError: validly signed, but not by `expected_owner`.
    """
    outer = cbor.loads(data, max_size=MAX_GRANT_SIZE, what=_WHAT)
    if not isinstance(outer, list) or len(outer) != 2:
        raise RemoteProtocolError(f"A {_WHAT} must be [payload, signature].")
    payload, signature = outer
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise RemoteProtocolError(f"A {_WHAT} must hold a payload and a signature as bytes.")
    if len(signature) != SIGNATURE_SIZE:
        raise RemoteProtocolError(f"A {_WHAT} signature must be {SIGNATURE_SIZE} bytes.")
    m = cbor.as_map(cbor.loads(payload, max_size=MAX_GRANT_SIZE, what=_WHAT), _WHAT)
    if m.get("t") != "grant":
        raise RemoteProtocolError(f"The signed statement is not a {_WHAT}.")
    if cbor.field_int(m, "v", _WHAT) != GRANT_VERSION:
        raise RemoteProtocolError(
            f"The {_WHAT} has an unknown version.", "Ask the friend to update citizen."
        )
    doc = cbor.field_bytes(m, "doc", _WHAT, size=RANDOM_ID_BYTES)
    owner = cbor.field_bytes(m, "owner", _WHAT, size=KEY_SIZE)
    friend = cbor.field_bytes(m, "friend", _WHAT, size=KEY_SIZE)
    role = cbor.field_str(m, "role", _WHAT, max_len=16)
    issued = cbor.field_int(m, "issued", _WHAT)
    revoked = m.get("revoked")
    if role not in ROLES:
        raise RemoteProtocolError(f"The {_WHAT} has an unknown role {role!r}.")
    if not isinstance(revoked, bool):
        raise RemoteProtocolError(f"{_WHAT}: field 'revoked' must be true or false.")
    try:
        VerifyKey(owner).verify(payload, signature)
    except (BadSignatureError, ValueError) as exc:
        raise RemoteProtocolError(
            f"The {_WHAT}'s signature does not match its owner's household key.",
            "It was tampered with; it was ignored.",
        ) from exc
    if expected_owner is not None and owner != expected_owner:
        raise NotAuthorizedError(
            f"The {_WHAT} was signed by another household than the doc's owner.",
            "Only the household that owns a doc can share it.",
        )
    return Grant(
        doc_id=DocId(base58.b58encode(doc).decode()),
        owner=owner,
        friend=friend,
        role="reader" if role == "reader" else "writer",
        issued=issued,
        revoked=revoked,
        raw=bytes(data),
    )
