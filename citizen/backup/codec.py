"""Wire messages of `/citizen/backup/1`: keep and hand back a friend's sealed backup.

The owner sends `PutBackup` (pointer + sealed blob); a friend answers
`Stored` or `Refused`. A recovering device sends `GetPointer`/`GetBackup` and
gets `PointerReply`/`BackupReply` (None when nothing is held). The requester's
household is always the connection's, proven by its device certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen import cbor
from citizen.errors import RemoteProtocolError
from citizen.identity.backup import MAX_BACKUP_SIZE, MAX_POINTER_SIZE

PROTOCOL = "/citizen/backup/1"
MAX_FRAME = MAX_BACKUP_SIZE + 4096


@dataclass(frozen=True, slots=True)
class PutBackup:
    pointer: bytes
    blob: bytes


@dataclass(frozen=True, slots=True)
class Stored:
    version: int


@dataclass(frozen=True, slots=True)
class Refused:
    message: str


@dataclass(frozen=True, slots=True)
class GetPointer:
    pass


@dataclass(frozen=True, slots=True)
class PointerReply:
    pointer: bytes | None


@dataclass(frozen=True, slots=True)
class GetBackup:
    pass


@dataclass(frozen=True, slots=True)
class BackupReply:
    pointer: bytes | None
    blob: bytes | None


Message = PutBackup | Stored | Refused | GetPointer | PointerReply | GetBackup | BackupReply


def encode(msg: Message) -> bytes:
    match msg:
        case PutBackup():
            body: dict[str, object] = {"t": "put", "pointer": msg.pointer, "blob": msg.blob}
        case Stored():
            body = {"t": "stored", "version": msg.version}
        case Refused():
            body = {"t": "refused", "message": msg.message}
        case GetPointer():
            body = {"t": "get-pointer"}
        case PointerReply():
            body = {"t": "pointer", "pointer": msg.pointer}
        case GetBackup():
            body = {"t": "get"}
        case BackupReply():
            body = {"t": "backup", "pointer": msg.pointer, "blob": msg.blob}
    return cbor.dumps(body)


def _opt_bytes(m: dict[str, object], key: str, what: str, limit: int) -> bytes | None:
    value = m.get(key)
    if value is None:
        return None
    if not isinstance(value, bytes) or len(value) > limit:
        raise RemoteProtocolError(f"{what}: {key!r} must be bytes of at most {limit}.")
    return value


def decode(data: bytes) -> Message:
    """Decode one message; raises only RemoteProtocolError."""
    what = "backup message"
    m = cbor.as_map(cbor.loads(data, max_size=MAX_FRAME, what=what), what)
    kind = cbor.field_str(m, "t", what, max_len=16)
    match kind:
        case "put":
            pointer = _opt_bytes(m, "pointer", what, MAX_POINTER_SIZE)
            blob = _opt_bytes(m, "blob", what, MAX_BACKUP_SIZE)
            if pointer is None or blob is None:
                raise RemoteProtocolError(f"{what}: put needs a pointer and a blob.")
            return PutBackup(pointer, blob)
        case "stored":
            return Stored(cbor.field_int(m, "version", what))
        case "refused":
            return Refused(cbor.field_str(m, "message", what, max_len=1024))
        case "get-pointer":
            return GetPointer()
        case "pointer":
            return PointerReply(_opt_bytes(m, "pointer", what, MAX_POINTER_SIZE))
        case "get":
            return GetBackup()
        case "backup":
            return BackupReply(
                _opt_bytes(m, "pointer", what, MAX_POINTER_SIZE),
                _opt_bytes(m, "blob", what, MAX_BACKUP_SIZE),
            )
        case _:
            raise RemoteProtocolError(f"unknown {what} type {kind!r}")
