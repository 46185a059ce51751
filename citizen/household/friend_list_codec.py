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
from citizen.store.backup_state import (
    FriendRemoval,
    FriendState,
    friend_from_cbor,
    friend_to_cbor,
    removal_from_cbor,
    removal_to_cbor,
)

PROTOCOL = "/citizen/household-friends/1"
VERSION = 1
MAX_FRAME = 4 * 1024 * 1024
MAX_FRIENDS = 4096
MAX_REMOVED = 16384

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
                "friends": [friend_to_cbor(f, with_seen=True) for f in msg.friends],
                "removed": [removal_to_cbor(r) for r in msg.removed],
            }
        case Refused():
            body = {"v": VERSION, "t": "refused", "message": msg.message}
    return cbor.dumps(body)


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
                tuple(friend_from_cbor(f, _WHAT) for f in friends),
                tuple(removal_from_cbor(r, _WHAT) for r in removed),
            )
        case "refused":
            return Refused(cbor.field_str(m, "message", _WHAT, max_len=1024))
        case other:
            raise RemoteProtocolError(f"unknown {_WHAT} message type {other!r}")
