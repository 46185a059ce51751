"""Wire messages of `/citizen/household-friends/1`: a household's devices swap friend lists.

The device that opens the stream sends its `FriendList` (friends with their
devices, friendship secrets and offers, stamped `changed_at`, and removal
tombstones); the other answers with its own, or `Refused`. One frame each
way, at most `MAX_FRAME` bytes. Decoding checks types and sizes only;
`citizen.store.friend_merge.check_entries` checks what the entries mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen import cbor
from citizen.errors import RemoteProtocolError
from citizen.store.backup_state import DeviceState, FriendRemoval, FriendState

PROTOCOL = "/citizen/household-friends/1"
VERSION = 1
MAX_FRAME = 4 * 1024 * 1024
MAX_FRIENDS = 4096
MAX_REMOVED = 16384
MAX_DEVICES = 64
MAX_ADDRS = 32
MAX_ADDR_LEN = 512
MAX_CERT = 1024
MAX_STAMP = 2**62

_WHAT = "household friend list"


@dataclass(frozen=True, slots=True)
class FriendList:
    friends: tuple[FriendState, ...]
    removed: tuple[FriendRemoval, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    message: str


Message = FriendList | Refused


def encode(msg: Message) -> bytes:
    match msg:
        case FriendList():
            body: dict[str, object] = {
                "v": VERSION,
                "t": "list",
                "friends": [_friend(f) for f in msg.friends],
                "removed": [
                    {"household": r.household, "at": r.removed_at, "by": r.removed_by}
                    for r in msg.removed
                ],
            }
        case Refused():
            body = {"v": VERSION, "t": "refused", "message": msg.message}
    return cbor.dumps(body)


def _friend(f: FriendState) -> dict[str, object]:
    return {
        "household": f.household,
        "key": f.household_key,
        "name": f.name,
        "secret": f.secret,
        "paired_at": f.paired_at,
        "offer": f.offer_bytes,
        "sas": f.sas,
        "changed": f.changed_at,
        "devices": [
            {
                "device": d.device,
                "name": d.name,
                "cert": d.cert,
                "addrs": list(d.addrs),
                "seen": d.last_seen,
            }
            for d in f.devices
        ],
    }


def decode(data: bytes) -> Message:
    """Decode one message; raises only RemoteProtocolError."""
    m = cbor.as_map(cbor.loads(data, max_size=MAX_FRAME, what=_WHAT), _WHAT)
    if m.get("v") != VERSION or isinstance(m.get("v"), bool):
        raise RemoteProtocolError(
            f"{_WHAT} has an unknown version.", "Update citizen on all household devices."
        )
    match cbor.field_str(m, "t", _WHAT, max_len=16):
        case "list":
            friends = cbor.field_list(m, "friends", _WHAT, max_len=MAX_FRIENDS)
            removed = cbor.field_list(m, "removed", _WHAT, max_len=MAX_REMOVED)
            return FriendList(
                tuple(_decode_friend(cbor.as_map(f, _WHAT)) for f in friends),
                tuple(_decode_removal(cbor.as_map(r, _WHAT)) for r in removed),
            )
        case "refused":
            return Refused(cbor.field_str(m, "message", _WHAT, max_len=1024))
        case other:
            raise RemoteProtocolError(f"unknown {_WHAT} message type {other!r}")


def _stamp(m: dict[str, object], key: str) -> int:
    value = cbor.field_int(m, key, _WHAT)
    if not 0 <= value < MAX_STAMP:
        raise RemoteProtocolError(f"{_WHAT}: {key!r} is out of range.")
    return value


def _opt_stamp(m: dict[str, object], key: str) -> int | None:
    return None if m.get(key) is None else _stamp(m, key)


def _decode_removal(r: dict[str, object]) -> FriendRemoval:
    return FriendRemoval(
        cbor.field_str(r, "household", _WHAT, max_len=64),
        _stamp(r, "at"),
        cbor.field_str(r, "by", _WHAT, max_len=128),
    )


def _decode_friend(f: dict[str, object]) -> FriendState:
    offer = _opt_stamp(f, "offer")
    devices = []
    for raw in cbor.field_list(f, "devices", _WHAT, max_len=MAX_DEVICES):
        d = cbor.as_map(raw, _WHAT)
        addrs = cbor.field_list(d, "addrs", _WHAT, max_len=MAX_ADDRS)
        if not all(isinstance(a, str) and len(a) <= MAX_ADDR_LEN for a in addrs):
            raise RemoteProtocolError(f"{_WHAT}: addresses must be short text.")
        cert = cbor.field_bytes(d, "cert", _WHAT)
        if len(cert) > MAX_CERT:
            raise RemoteProtocolError(f"{_WHAT}: a device certificate is over {MAX_CERT} bytes.")
        devices.append(
            DeviceState(
                cbor.field_str(d, "device", _WHAT, max_len=128),
                cbor.field_str(d, "name", _WHAT, max_len=128),
                cert,
                tuple(str(a) for a in addrs),
                _opt_stamp(d, "seen"),
            )
        )
    return FriendState(
        cbor.field_str(f, "household", _WHAT, max_len=64),
        cbor.field_bytes(f, "key", _WHAT, size=32),
        cbor.field_str(f, "name", _WHAT, max_len=128),
        cbor.field_bytes(f, "secret", _WHAT, size=32),
        _stamp(f, "paired_at"),
        offer,
        cbor.field_str(f, "sas", _WHAT, max_len=256),
        tuple(devices),
        _stamp(f, "changed"),
    )
