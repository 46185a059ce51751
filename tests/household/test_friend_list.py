"""Serving /citizen/household-friends/1: who is refused, and that refusals change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from libp2p.peer.id import ID
from nacl.signing import SigningKey

from citizen import cbor
from citizen.household import friend_list_codec as hfc
from citizen.household.friend_list import HouseholdFriendsService
from citizen.identity.certs import issue_certificate
from citizen.identity.fingerprints import device_id, household_id
from citizen.net.streams import frame
from citizen.store.backup_state import FriendRemoval, FriendState
from citizen.store.friend_merge import Entry, Merged
from citizen.store.friend_sync import FriendSync
from citizen.store.household import HouseholdDevice
from tests.store.test_friend_merge import friend

OUR_KEY = SigningKey(b"\x09" * 32)
OURS = household_id(bytes(OUR_KEY.verify_key))
LAPTOP_KEY = bytes(SigningKey(b"\x0a" * 32).verify_key)
LAPTOP = device_id(LAPTOP_KEY)
STRANGER = device_id(bytes(SigningKey(b"\x0b" * 32).verify_key))


class _Stream:
    def __init__(self, peer: str, incoming: bytes) -> None:
        self.muxed_conn = type("Conn", (), {"peer_id": ID.from_base58(peer)})()
        self._incoming = incoming
        self.sent = b""

    async def read(self, n: int | None = None) -> bytes:
        n = len(self._incoming) if n is None else n
        out, self._incoming = self._incoming[:n], self._incoming[n:]
        return out

    async def write(self, data: bytes) -> None:
        self.sent += data

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        pass

    def reply(self) -> hfc.Message:
        return hfc.decode(self.sent[4:])


class _Own:
    def __init__(self, cert: bytes) -> None:
        self.cert = cert

    def is_own_device(self, device: str) -> bool:
        return device == LAPTOP

    async def get(self, device: str) -> HouseholdDevice:
        return HouseholdDevice(LAPTOP, "laptop", self.cert, (), None, False)


@dataclass
class _Store:
    on_change: list[Callable[[], None]] = field(default_factory=list)

    async def load(self) -> None:
        pass


class _Friends:
    def __init__(self, cert: bytes) -> None:
        self.household = OURS
        self.me = type("Me", (), {"household_key": bytes(OUR_KEY.verify_key)})()
        self.own = _Own(cert)
        self.own_online: set[str] = set()
        self.store = _Store()
        self.forgotten: list[str] = []

    def on_peer_ready(self, _callback: Callable[..., Awaitable[None]]) -> None:
        pass

    def wake(self) -> None:
        pass

    async def forget(self, household: str, _devices: list[str]) -> None:
        self.forgotten.append(household)


class _Sync:
    """Records every use of the store."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.merged: list[Entry] = []

    async def entries(self) -> tuple[tuple[FriendState, ...], tuple[FriendRemoval, ...]]:
        self.calls.append("entries")
        return (friend(1, 5, 1),), ()

    async def merge(self, remote: tuple[Entry, ...]) -> Merged:
        self.calls.append("merge")
        self.merged += remote
        return Merged()


def _service(cert: bytes | None = None) -> tuple[HouseholdFriendsService, _Sync]:
    if cert is None:
        cert = issue_certificate(OUR_KEY, LAPTOP_KEY, "laptop").raw
    net = type("Net", (), {"serve_friends": lambda *_a: None})()
    sync = _Sync()
    friends = _Friends(cert)
    service = HouseholdFriendsService(
        cast(Any, net),
        cast(Any, friends),
        friends,
        cast(FriendSync, sync),
        store=cast(Any, friends.store),
        own=cast(Any, friends.own),
        household_key=friends.me.household_key,
    )
    return service, sync


def _list(*entries: Entry) -> bytes:
    friends = tuple(e for e in entries if isinstance(e, FriendState))
    removed = tuple(e for e in entries if isinstance(e, FriendRemoval))
    return frame(hfc.encode(hfc.FriendList(friends, removed)))


async def test_our_device_gets_our_list_and_its_list_is_merged() -> None:
    service, sync = _service()
    sent = friend(2, 7, 2)
    stream = _Stream(LAPTOP, _list(sent))
    await service._handle(cast(Any, stream))
    reply = stream.reply()
    assert isinstance(reply, hfc.FriendList) and reply.friends == (friend(1, 5, 1),)
    assert sync.merged == [sent]


async def test_a_friends_device_is_refused_before_the_store_is_read() -> None:
    service, sync = _service()
    stream = _Stream(STRANGER, _list(friend(2, 7, 2)))
    await service._handle(cast(Any, stream))
    assert isinstance(stream.reply(), hfc.Refused)
    assert sync.calls == []


async def test_a_device_whose_certificate_is_not_ours_is_refused() -> None:
    foreign = issue_certificate(SigningKey(b"\x0c" * 32), LAPTOP_KEY, "laptop").raw
    service, sync = _service(foreign)
    stream = _Stream(LAPTOP, _list(friend(2, 7, 2)))
    await service._handle(cast(Any, stream))
    assert isinstance(stream.reply(), hfc.Refused) and sync.calls == []


async def test_malformed_or_hostile_lists_change_nothing() -> None:
    ourselves = FriendState(OURS, bytes(OUR_KEY.verify_key), "me", b"s" * 32, 1, None, "", ())
    for incoming in (
        frame(b"\xff\x00garbage"),
        frame(cbor.dumps({"v": 1, "t": "list", "friends": "x", "removed": []})),
        _list(ourselves),
        _list(friend(2, 7, 2), friend(2, 8, 2)),
        _list(friend(2, 2**61, 2)),  # stamped far in the future
        b"\xff\xff\xff\xff",  # a frame over the limit
    ):
        service, sync = _service()
        stream = _Stream(LAPTOP, incoming)
        await service._handle(cast(Any, stream))
        assert isinstance(stream.reply(), hfc.Refused)
        assert "merge" not in sync.calls
