"""Wire messages of `/citizen/pair/1` and `/citizen/hello/1`: bytes <-> typed messages.

Pairing: the acceptor sends `PairRequest`; the inviter answers `PairAccept` or
`PairReject`; a `PairAccept` to a household that is already a friend (one that
lost its devices and comes back with its recovery phrase) carries the
existing friendship secret in `returning`. Hello (on every connection between
friends): each side sends `Hello` with its device certificate and current
addresses, or `HelloReject`.
Each message is canonical CBOR {"t": type, ...} inside a length-prefixed frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen import cbor
from citizen.errors import RemoteProtocolError

PAIR_PROTOCOL = "/citizen/pair/1"
HELLO_PROTOCOL = "/citizen/hello/1"
MAX_FRAME = 16 * 1024
MAX_ADDRS = 32
MAX_REVOKED = 64


@dataclass(frozen=True, slots=True)
class PairRequest:
    invite_id: str
    household_key: bytes
    household_name: str
    cert: bytes
    mac: bytes


@dataclass(frozen=True, slots=True)
class PairAccept:
    household_key: bytes
    household_name: str
    cert: bytes
    mac: bytes
    #: the friendship secret both already share, when the acceptor is a returning friend
    returning: bytes | None = None


@dataclass(frozen=True, slots=True)
class PairReject:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Hello:
    cert: bytes
    household_name: str
    addrs: tuple[str, ...]
    revoked: tuple[bytes, ...] = ()  # the sender household's signed device revocations
    #: the sender's clock when it sent this (Unix ms); None from a version that did not say
    sent_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HelloReject:
    message: str


Message = PairRequest | PairAccept | PairReject | Hello | HelloReject


def encode(msg: Message) -> bytes:
    match msg:
        case PairRequest():
            body: dict[str, object] = {
                "t": "pair-request",
                "invite": msg.invite_id,
                "household": msg.household_key,
                "name": msg.household_name,
                "cert": msg.cert,
                "mac": msg.mac,
            }
        case PairAccept():
            body = {
                "t": "pair-accept",
                "household": msg.household_key,
                "name": msg.household_name,
                "cert": msg.cert,
                "mac": msg.mac,
            }
            if msg.returning is not None:
                body["returning"] = msg.returning
        case PairReject():
            body = {"t": "pair-reject", "code": msg.code, "message": msg.message}
        case Hello():
            body = {
                "t": "hello",
                "cert": msg.cert,
                "name": msg.household_name,
                "addrs": list(msg.addrs),
                "revoked": list(msg.revoked),
                # optional: older versions ignore the key, and send none
                **({"time": msg.sent_ms} if msg.sent_ms is not None else {}),
            }
        case HelloReject():
            body = {"t": "hello-reject", "message": msg.message}
    return cbor.dumps(body)


def decode(data: bytes) -> Message:
    """Decode one message. Raises only RemoteProtocolError."""
    what = "pairing message"
    m = cbor.as_map(cbor.loads(data, max_size=MAX_FRAME, what=what), what)
    kind = cbor.field_str(m, "t", what, max_len=32)
    match kind:
        case "pair-request":
            return PairRequest(
                invite_id=cbor.field_str(m, "invite", what, max_len=64),
                household_key=cbor.field_bytes(m, "household", what, size=32),
                household_name=cbor.field_str(m, "name", what, max_len=128),
                cert=cbor.field_bytes(m, "cert", what),
                mac=cbor.field_bytes(m, "mac", what, size=32),
            )
        case "pair-accept":
            return PairAccept(
                household_key=cbor.field_bytes(m, "household", what, size=32),
                household_name=cbor.field_str(m, "name", what, max_len=128),
                cert=cbor.field_bytes(m, "cert", what),
                mac=cbor.field_bytes(m, "mac", what, size=32),
                returning=(
                    cbor.field_bytes(m, "returning", what, size=32) if "returning" in m else None
                ),
            )
        case "pair-reject":
            return PairReject(
                code=cbor.field_str(m, "code", what, max_len=64),
                message=cbor.field_str(m, "message", what, max_len=1024),
            )
        case "hello":
            addrs = cbor.field_list(m, "addrs", what, max_len=MAX_ADDRS)
            if not all(isinstance(a, str) and len(a) <= 256 for a in addrs):
                raise RemoteProtocolError(f"{what}: addresses must be short text")
            revoked = (
                cbor.field_list(m, "revoked", what, max_len=MAX_REVOKED) if "revoked" in m else []
            )
            if not all(isinstance(r, bytes) and len(r) <= 512 for r in revoked):
                raise RemoteProtocolError(f"{what}: revocations must be short bytes")
            return Hello(
                cert=cbor.field_bytes(m, "cert", what),
                household_name=cbor.field_str(m, "name", what, max_len=128),
                addrs=tuple(str(a) for a in addrs),
                revoked=tuple(r for r in revoked if isinstance(r, bytes)),
                sent_ms=cbor.field_opt_int(m, "time", what),
            )
        case "hello-reject":
            return HelloReject(message=cbor.field_str(m, "message", what, max_len=1024))
        case _:
            raise RemoteProtocolError(f"unknown {what} type {kind!r}")
