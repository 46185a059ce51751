"""Where `/citizen/docs/1` messages are encoded: typed messages ↔ length-prefixed CBOR.

Sans-IO. A frame is a 4-byte big-endian length followed by one canonical CBOR
map whose ``"t"`` names the message; frames for every doc share one stream,
multiplexed by doc ID (16 raw bytes on the wire). Automerge sync messages
travel as opaque bytes. `encode_frame` makes a frame; `FrameReader` is fed
whatever bytes arrive (any chunking) and returns whole messages. Anything a
peer sends that is oversized, malformed or unknown raises `RemoteProtocolError`,
and only that.

The conversation (see `citizen.docs.session`): each side opens with any
`Granted` grants the peer needs, then one `Hello` naming the docs it offers
this peer, then `Sync` frames per doc until both sides are quiet. `Unavailable`
answers a `Sync` for a doc the sender does not hold or may not sync; `Refused`
says incoming changes were rejected (a reader's changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import base58

from citizen import cbor
from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.identity.grants import MAX_GRANT_SIZE
from citizen.ids import RANDOM_ID_BYTES, DocId, random_id_bytes
from citizen.net import frames

PROTOCOL_ID = "/citizen/docs/1"
PROTOCOL_VERSION = 1
HEADER_SIZE = frames.HEADER_SIZE
#: largest Automerge sync message carried in one `Sync`
MAX_SYNC_DATA = 16 * 1024 * 1024
#: largest frame of any kind: a full `Sync` plus its envelope
MAX_FRAME = MAX_SYNC_DATA + 1024
#: largest frame of any other kind than `Sync`
MAX_CONTROL_FRAME = 1024 * 1024
#: most doc IDs one `Hello` may name (fits well inside MAX_CONTROL_FRAME)
MAX_HELLO_DOCS = 50_000
MAX_REASON_LEN = 1024


@dataclass(frozen=True, slots=True)
class Hello:
    """Opens the stream: the protocol version and the docs offered to this peer."""

    version: int
    doc_ids: tuple[DocId, ...]


@dataclass(frozen=True, slots=True)
class Sync:
    """One Automerge sync message for one doc (opaque bytes)."""

    doc_id: DocId
    data: bytes


@dataclass(frozen=True, slots=True)
class Granted:
    """A signed grant (see `citizen.identity.grants`) the receiver needs to sync a doc."""

    grant: bytes


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The sender does not hold `doc_id`, or the receiver may not sync it."""

    doc_id: DocId


@dataclass(frozen=True, slots=True)
class Refused:
    """The sender rejected changes the receiver sent for `doc_id`."""

    doc_id: DocId
    reason: str


@dataclass(frozen=True, slots=True)
class DocInfo:
    """Between devices of one household only: a doc's owner and title (sync carries neither)."""

    doc_id: DocId
    owner: str
    title: str


DocMessage = Hello | Sync | Granted | Unavailable | Refused | DocInfo


# -- encoding -------------------------------------------------------------------------


def _doc(doc_id: DocId) -> bytes:
    return random_id_bytes(doc_id, "doc ID")


def _body(msg: DocMessage) -> dict[str, object]:
    match msg:
        case Hello(version, doc_ids):
            if len(doc_ids) > MAX_HELLO_DOCS:
                raise LocalProtocolError(
                    f"A Hello may name at most {MAX_HELLO_DOCS} docs, not {len(doc_ids)}."
                )
            return {"t": "hello", "v": version, "docs": [_doc(d) for d in doc_ids]}
        case Sync(doc_id, data):
            if not data or len(data) > MAX_SYNC_DATA:
                raise LocalProtocolError(
                    f"A sync message of {len(data)} bytes is empty or exceeds {MAX_SYNC_DATA}."
                )
            return {"t": "sync", "doc": _doc(doc_id), "data": bytes(data)}
        case Granted(grant):
            if len(grant) > MAX_GRANT_SIZE:
                raise LocalProtocolError(f"A grant of {len(grant)} bytes exceeds {MAX_GRANT_SIZE}.")
            return {"t": "grant", "grant": bytes(grant)}
        case Unavailable(doc_id):
            return {"t": "unavailable", "doc": _doc(doc_id)}
        case Refused(doc_id, reason):
            return {"t": "refused", "doc": _doc(doc_id), "reason": reason[:MAX_REASON_LEN]}
        case DocInfo(doc_id, owner, title):
            return {"t": "info", "doc": _doc(doc_id), "owner": owner, "title": title}


def encode_frame(msg: DocMessage) -> bytes:
    """Length prefix + canonical CBOR of `msg`.

    Raises:
        LocalProtocolError: the message would exceed its limits.
        UsageError: a doc ID in `msg` is not a doc ID.
    """
    body = cbor.dumps(_body(msg))
    limit = MAX_FRAME if isinstance(msg, Sync) else MAX_CONTROL_FRAME
    if len(body) > limit:
        raise LocalProtocolError(f"A {type(msg).__name__} of {len(body)} bytes exceeds {limit}.")
    return len(body).to_bytes(HEADER_SIZE, "big") + body


# -- decoding -------------------------------------------------------------------------


def _doc_id(value: object, what: str) -> DocId:
    if not isinstance(value, bytes) or len(value) != RANDOM_ID_BYTES:
        raise RemoteProtocolError(f"{what}: a doc ID must be {RANDOM_ID_BYTES} bytes.")
    return DocId(base58.b58encode(value).decode())


def decode_body(body: bytes) -> DocMessage:
    """Decode one frame body (without its length prefix).

    Raises:
        RemoteProtocolError: oversized, not CBOR, unknown type or version, bad fields.
    """
    m = cbor.as_map(cbor.loads(body, max_size=MAX_FRAME, what="docs frame"), "docs frame")
    kind = m.get("t")
    if kind != "sync" and len(body) > MAX_CONTROL_FRAME:
        raise RemoteProtocolError(
            f"A docs frame of type {str(kind)[:40]!r} is {len(body)} bytes, more than"
            f" {MAX_CONTROL_FRAME}."
        )
    match kind:
        case "hello":
            what = "Hello"
            version = cbor.field_int(m, "v", what)
            if version != PROTOCOL_VERSION:
                raise RemoteProtocolError(
                    f"The peer speaks docs protocol version {version}, we speak"
                    f" {PROTOCOL_VERSION}.",
                    "Update citizen on both sides.",
                )
            docs = cbor.field_list(m, "docs", what, max_len=MAX_HELLO_DOCS)
            return Hello(version, tuple(_doc_id(d, what) for d in docs))
        case "sync":
            what = "Sync"
            data = cbor.field_bytes(m, "data", what)
            if not data or len(data) > MAX_SYNC_DATA:
                raise RemoteProtocolError(f"{what}: data must be 1 to {MAX_SYNC_DATA} bytes.")
            return Sync(_doc_id(m.get("doc"), what), data)
        case "grant":
            grant = cbor.field_bytes(m, "grant", "Granted")
            if len(grant) > MAX_GRANT_SIZE:
                raise RemoteProtocolError(f"Granted: a grant is at most {MAX_GRANT_SIZE} bytes.")
            return Granted(grant)
        case "unavailable":
            return Unavailable(_doc_id(m.get("doc"), "Unavailable"))
        case "refused":
            what = "Refused"
            reason = cbor.field_str(m, "reason", what, max_len=MAX_REASON_LEN)
            return Refused(_doc_id(m.get("doc"), what), reason)
        case "info":
            what = "DocInfo"
            return DocInfo(
                _doc_id(m.get("doc"), what),
                cbor.field_str(m, "owner", what, max_len=64),
                cbor.field_str(m, "title", what, max_len=MAX_REASON_LEN),
            )
        case _:
            raise RemoteProtocolError(f"Unknown docs message type {str(kind)[:40]!r}.")


class FrameReader(frames.FrameReader[DocMessage]):
    """Reassemble docs frames from arbitrary chunks (see `citizen.net.frames`)."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        super().__init__(decode_body, "docs", max_frame)
