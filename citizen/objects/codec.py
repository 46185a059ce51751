"""Where `/citizen/objects/1` messages are encoded: typed messages ↔ length-prefixed CBOR.

Sans-IO. A frame is a 4-byte big-endian length followed by one canonical CBOR
map whose ``"t"`` names the message. `encode_frame` makes a frame, `FrameReader`
is fed whatever bytes arrive (any chunking) and returns whole messages.
Anything a peer sends that is oversized, malformed or unknown raises
`RemoteProtocolError`, and only that.

The conversation: an owner's device sends `StoreShare` (answered by
`StoreResult`), `FetchShare` (`ShareData` or `Missing`), `Challenge` (`Proof`:
one BLAKE2b(nonce || share) per share, so the friend must still hold the
bytes, not just their hash), `DeleteShares` signed by the owner's household
key over `delete_payload(...)` (`Deleted`) and, for disaster recovery,
`ListHeld` (`Held`, paged).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import base58

from citizen import cbor
from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.ids import HouseholdId, ObjectId, ShareId
from citizen.net import frames
from citizen.objects.segments import MAX_N, MAX_SHARE_SIZE

PROTOCOL_ID = "/citizen/objects/1"
HEADER_SIZE = frames.HEADER_SIZE
#: room for the largest share plus the other fields of a StoreShare
MAX_FRAME = MAX_SHARE_SIZE + 4096
MAX_IDS = 1024
NONCE_SIZE = 32
PROOF_SIZE = 32
SIGNATURE_SIZE = 64
MAX_HOUSEHOLD_LEN = 128
MAX_MESSAGE_TEXT = 1024
_SHARE_ID = re.compile(r"[0-9a-f]{64}")


class StoreCode(enum.StrEnum):
    """Outcome of a StoreShare; everything but OK means nothing was stored."""

    OK = "ok"
    QUOTA = "quota"
    BAD_HASH = "bad_hash"
    TOO_LARGE = "too_large"
    NOT_AUTHORIZED = "not_authorized"
    STORE = "store"


@dataclass(frozen=True, slots=True)
class StoreShare:
    owner: HouseholdId
    share_id: ShareId
    object_id: ObjectId
    segment: int
    share_number: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StoreResult:
    share_id: ShareId
    code: StoreCode
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code is StoreCode.OK


@dataclass(frozen=True, slots=True)
class FetchShare:
    share_id: ShareId


@dataclass(frozen=True, slots=True)
class ShareData:
    share_id: ShareId
    data: bytes


@dataclass(frozen=True, slots=True)
class Missing:
    share_id: ShareId


@dataclass(frozen=True, slots=True)
class Challenge:
    share_ids: tuple[ShareId, ...]
    nonce: bytes


@dataclass(frozen=True, slots=True)
class Proof:
    """One proof per challenged share, in the same order; b"" for a share not held."""

    nonce: bytes
    proofs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class DeleteShares:
    """Signed by the owner's household key over `delete_payload(owner, share_ids, issued)`."""

    owner: HouseholdId
    share_ids: tuple[ShareId, ...]
    issued: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class Deleted:
    count: int


@dataclass(frozen=True, slots=True)
class ListHeld:
    """Ask which shares a friend holds for `owner`, share IDs after `after`, sorted."""

    owner: HouseholdId
    after: ShareId | None = None
    limit: int = MAX_IDS


@dataclass(frozen=True, slots=True)
class Held:
    share_ids: tuple[ShareId, ...]
    more: bool


ObjectsMessage = (
    StoreShare
    | StoreResult
    | FetchShare
    | ShareData
    | Missing
    | Challenge
    | Proof
    | DeleteShares
    | Deleted
    | ListHeld
    | Held
)


def delete_payload(owner: HouseholdId, share_ids: tuple[ShareId, ...], issued: int) -> bytes:
    """The canonical bytes a DeleteShares signature covers."""
    return cbor.dumps(
        {
            "purpose": "citizen/objects/delete/1",
            "owner": str(owner),
            "share_ids": [str(s) for s in share_ids],
            "issued": issued,
        }
    )


# -- encoding -------------------------------------------------------------------------


def _body(msg: ObjectsMessage) -> dict[str, object]:
    match msg:
        case StoreShare(owner, share_id, object_id, segment, share_number, data):
            return {
                "t": "store",
                "owner": owner,
                "share_id": share_id,
                "object_id": object_id,
                "segment": segment,
                "share_number": share_number,
                "data": data,
            }
        case StoreResult(share_id, code, message):
            return {"t": "store_result", "share_id": share_id, "code": code.value, "msg": message}
        case FetchShare(share_id):
            return {"t": "fetch", "share_id": share_id}
        case ShareData(share_id, data):
            return {"t": "share", "share_id": share_id, "data": data}
        case Missing(share_id):
            return {"t": "missing", "share_id": share_id}
        case Challenge(share_ids, nonce):
            return {"t": "challenge", "share_ids": list(share_ids), "nonce": nonce}
        case Proof(nonce, proofs):
            return {"t": "proof", "nonce": nonce, "proofs": list(proofs)}
        case DeleteShares(owner, share_ids, issued, signature):
            return {
                "t": "delete",
                "owner": owner,
                "share_ids": list(share_ids),
                "issued": issued,
                "sig": signature,
            }
        case Deleted(count):
            return {"t": "deleted", "count": count}
        case ListHeld(owner, after, limit):
            return {"t": "list", "owner": owner, "after": after, "limit": limit}
        case Held(share_ids, more):
            return {"t": "held", "share_ids": list(share_ids), "more": more}


def encode_frame(msg: ObjectsMessage) -> bytes:
    """Length prefix + canonical CBOR of `msg`.

    Raises:
        LocalProtocolError: the message would exceed the frame limit.
    """
    body = cbor.dumps(_body(msg))
    if len(body) > MAX_FRAME:
        raise LocalProtocolError(
            f"A {type(msg).__name__} of {len(body)} bytes exceeds {MAX_FRAME}."
        )
    return len(body).to_bytes(HEADER_SIZE, "big") + body


# -- decoding -------------------------------------------------------------------------


def _share_id(value: object, what: str) -> ShareId:
    if not isinstance(value, str) or not _SHARE_ID.fullmatch(value):
        raise RemoteProtocolError(f"{what}: a share ID must be 64 lowercase hex digits.")
    return ShareId(value)


def _share_ids(m: dict[str, object], what: str) -> tuple[ShareId, ...]:
    return tuple(_share_id(v, what) for v in cbor.field_list(m, "share_ids", what, max_len=MAX_IDS))


def _household(m: dict[str, object], key: str, what: str) -> HouseholdId:
    value = cbor.field_str(m, key, what, max_len=MAX_HOUSEHOLD_LEN)
    if not value:
        raise RemoteProtocolError(f"{what}: field {key!r} is empty.")
    return HouseholdId(value)


def _object_id(m: dict[str, object], what: str) -> ObjectId:
    value = cbor.field_str(m, "object_id", what, max_len=64)
    try:
        raw = base58.b58decode(value)
    except ValueError as exc:
        raise RemoteProtocolError(f"{what}: object ID is not base58.") from exc
    if len(raw) != 16 or base58.b58encode(raw).decode() != value:
        raise RemoteProtocolError(f"{what}: object ID is not 16 bytes in base58.")
    return ObjectId(value)


def _ranged(m: dict[str, object], key: str, what: str, low: int, high: int) -> int:
    value = cbor.field_int(m, key, what)
    if not low <= value <= high:
        raise RemoteProtocolError(f"{what}: field {key!r} = {value} is outside {low}..{high}.")
    return value


def _data(m: dict[str, object], what: str) -> bytes:
    data = cbor.field_bytes(m, "data", what)
    if len(data) > MAX_SHARE_SIZE:
        raise RemoteProtocolError(f"{what}: share of {len(data)} bytes exceeds {MAX_SHARE_SIZE}.")
    return data


def _bool(m: dict[str, object], key: str, what: str) -> bool:
    value = m.get(key)
    if not isinstance(value, bool):
        raise RemoteProtocolError(f"{what}: field {key!r} must be true or false.")
    return value


def decode_body(body: bytes) -> ObjectsMessage:
    """Decode one frame's body (without the length prefix).

    Raises:
        RemoteProtocolError: bad CBOR, unknown type, missing/ill-typed/out-of-range field.
    """
    m = cbor.as_map(cbor.loads(body, max_size=MAX_FRAME, what="objects frame"), "objects frame")
    kind = m.get("t")
    what = f"objects {kind!r} message"
    match kind:
        case "store":
            return StoreShare(
                owner=_household(m, "owner", what),
                share_id=_share_id(m.get("share_id"), what),
                object_id=_object_id(m, what),
                segment=_ranged(m, "segment", what, 0, 2**32),
                share_number=_ranged(m, "share_number", what, 0, MAX_N - 1),
                data=_data(m, what),
            )
        case "store_result":
            code_text = cbor.field_str(m, "code", what, max_len=32)
            try:
                code = StoreCode(code_text)
            except ValueError as exc:
                raise RemoteProtocolError(f"{what}: unknown result code {code_text!r}.") from exc
            return StoreResult(
                share_id=_share_id(m.get("share_id"), what),
                code=code,
                message=cbor.field_str(m, "msg", what, max_len=MAX_MESSAGE_TEXT),
            )
        case "fetch":
            return FetchShare(_share_id(m.get("share_id"), what))
        case "share":
            return ShareData(_share_id(m.get("share_id"), what), _data(m, what))
        case "missing":
            return Missing(_share_id(m.get("share_id"), what))
        case "challenge":
            return Challenge(
                _share_ids(m, what), cbor.field_bytes(m, "nonce", what, size=NONCE_SIZE)
            )
        case "proof":
            proofs = cbor.field_list(m, "proofs", what, max_len=MAX_IDS)
            for p in proofs:
                if not isinstance(p, bytes) or len(p) not in (0, PROOF_SIZE):
                    raise RemoteProtocolError(f"{what}: a proof must be {PROOF_SIZE} or 0 bytes.")
            return Proof(
                cbor.field_bytes(m, "nonce", what, size=NONCE_SIZE),
                tuple(p for p in proofs if isinstance(p, bytes)),
            )
        case "delete":
            return DeleteShares(
                owner=_household(m, "owner", what),
                share_ids=_share_ids(m, what),
                issued=_ranged(m, "issued", what, 0, 2**63 - 1),
                signature=cbor.field_bytes(m, "sig", what, size=SIGNATURE_SIZE),
            )
        case "deleted":
            return Deleted(_ranged(m, "count", what, 0, 2**63 - 1))
        case "list":
            after = m.get("after")
            return ListHeld(
                owner=_household(m, "owner", what),
                after=None if after is None else _share_id(after, what),
                limit=_ranged(m, "limit", what, 1, MAX_IDS),
            )
        case "held":
            return Held(_share_ids(m, what), _bool(m, "more", what))
        case _:
            raise RemoteProtocolError(f"Unknown objects message type {str(kind)[:40]!r}.")


class FrameReader(frames.FrameReader[ObjectsMessage]):
    """Reassemble objects frames from arbitrary chunks (see `citizen.net.frames`)."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        super().__init__(decode_body, "objects", max_frame)
