"""In-memory `Net` and `Peers` for service tests: devices linked by trio memory streams.

A `Switch` links devices; each device's `MemoryNet` serves handlers and opens
streams to linked devices like `citizen.net.network.Network` does over libp2p.
`MemoryPeers` is the `Peers` view a test drives: it says who is a friend and
when a device comes or goes, as the friends service does after hello.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager

import trio
import trio.testing

from citizen.errors import NotFoundError, UnreachableError
from citizen.identity.fingerprints import household_id
from citizen.ids import DeviceId, HouseholdId
from citizen.net.network import Handler, OfflineNetwork
from citizen.net.peers import FriendRemoved, PeerGone, PeerReady
from citizen.net.streams import Stream
from citizen.store.friend_records import Friend, FriendDevice


@contextmanager
def cancel_at_exit(nursery: trio.Nursery) -> Iterator[None]:
    """Cancel `nursery`'s tasks when the block ends, however it ends."""
    try:
        yield
    finally:
        nursery.cancel_scope.cancel()


class _PeerId:
    def __init__(self, device: DeviceId) -> None:
        self._device = device

    def to_base58(self) -> str:
        return self._device


class _Muxed:
    """What `citizen.net.conns.remote_device` reads off a stream."""

    def __init__(self, device: DeviceId) -> None:
        self.peer_id = _PeerId(device)


class MemoryStream:
    """One end of an in-memory stream, shaped like the libp2p streams features get."""

    def __init__(self, inner: trio.abc.Stream, remote: DeviceId) -> None:
        self._inner = inner
        self.muxed_conn = _Muxed(remote)

    async def read(self, n: int | None = None) -> bytes:
        return bytes(await self._inner.receive_some(n))

    async def write(self, data: bytes) -> None:
        await self._inner.send_all(data)

    async def close(self) -> None:
        await self._inner.aclose()

    async def reset(self) -> None:
        await self._inner.aclose()


class Switch:
    """Which devices are connected; runs each inbound handler in `nursery`."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.nets: dict[DeviceId, MemoryNet] = {}
        self._links: set[frozenset[str]] = set()

    def net(self, device: str) -> MemoryNet:
        net = MemoryNet(DeviceId(device), self)
        self.nets[net.device] = net
        return net

    def link(self, a: str, b: str) -> None:
        self._links.add(frozenset((a, b)))

    def unlink(self, a: str, b: str) -> None:
        self._links.discard(frozenset((a, b)))

    def linked(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._links

    async def open(self, src: DeviceId, dst: DeviceId, protocol: str) -> Stream:
        if not self.linked(src, dst):
            raise UnreachableError(f"{src} is not connected to {dst}.")
        handler = self.nets[dst].handlers.get(protocol)
        if handler is None:
            raise UnreachableError(f"{dst} does not serve {protocol}.")
        ours, theirs = trio.testing.memory_stream_pair()
        self.nursery.start_soon(handler, MemoryStream(theirs, src))
        return MemoryStream(ours, dst)


class MemoryNet(OfflineNetwork):
    """A `Net` on a `Switch`: serves what features register, reaches linked devices."""

    online = True

    def __init__(self, device: DeviceId, switch: Switch) -> None:
        super().__init__(device)
        self.switch = switch
        self.handlers: dict[str, Handler] = {}

    def serve_friends(self, protocol: str, handler: Handler) -> None:
        self.handlers[protocol] = handler

    async def open_stream(self, device: str, protocol: str) -> Stream:
        return await self.switch.open(self.device, DeviceId(device), protocol)

    def connected(self, device: str) -> bool:
        return self.switch.linked(self.device, device)


def friend_record(household_key: bytes, name: str, *devices: str) -> Friend:
    """A trusted friend household with `devices`, as pairing stores it."""
    household = household_id(household_key)
    return Friend(
        household=household,
        household_key=household_key,
        name=name,
        secret=b"\x00" * 32,
        paired_at=0,
        offer_bytes=None,
        devices=tuple(FriendDevice(DeviceId(d), household, d, b"", (), None) for d in devices),
    )


class MemoryPeers:
    """`Peers` a test drives; `woken` is set each time a service asks for `wake()`."""

    def __init__(self, household: HouseholdId) -> None:
        self._household = household
        self._friends: dict[HouseholdId, Friend] = {}
        self._devices: dict[DeviceId, HouseholdId] = {}
        self._online: dict[DeviceId, HouseholdId] = {}
        self._own_online: set[DeviceId] = set()
        self._ready: list[PeerReady] = []
        self._gone: list[PeerGone] = []
        self._removed: list[FriendRemoved] = []
        self.woken = trio.Event()

    # -- what a test does -----------------------------------------------------------------

    def add_friend(self, friend: Friend) -> None:
        self._friends[friend.household] = friend
        for d in friend.devices:
            self._devices[d.device] = friend.household

    def add_own_device(self, device: str) -> None:
        self._devices[DeviceId(device)] = self._household

    async def ready(self, device: str) -> None:
        """`device` said hello: call every `on_peer_ready` callback."""
        dev = DeviceId(device)
        household = self._devices[dev]
        if household == self._household:
            self._own_online.add(dev)
        else:
            self._online[dev] = household
        for callback in self._ready:
            await callback(dev, household)

    def gone(self, device: str) -> None:
        dev = DeviceId(device)
        self._online.pop(dev, None)
        self._own_online.discard(dev)
        for callback in self._gone:
            callback(dev)

    async def remove_friend(self, household: HouseholdId) -> None:
        friend = self._friends.pop(household)
        for d in friend.devices:
            self._devices.pop(d.device, None)
            self._online.pop(d.device, None)
        for callback in self._removed:
            await callback(household)

    # -- Peers ----------------------------------------------------------------------------

    @property
    def household(self) -> HouseholdId:
        return self._household

    @property
    def online(self) -> Mapping[DeviceId, HouseholdId]:
        return self._online

    @property
    def own_online(self) -> Set[DeviceId]:
        return self._own_online

    def household_of(self, device: str) -> HouseholdId | None:
        return self._devices.get(DeviceId(device))

    async def friend(self, household: HouseholdId) -> Friend:
        try:
            return self._friends[household]
        except KeyError:
            raise NotFoundError(f"No friend household {household}.") from None

    async def friends(self) -> list[Friend]:
        return list(self._friends.values())

    async def resolve(self, name_or_id: str) -> Friend:
        for f in self._friends.values():
            if name_or_id in (f.name, f.household):
                return f
        raise NotFoundError(f"No friend named {name_or_id!r}.")

    def on_peer_ready(self, callback: PeerReady) -> None:
        self._ready.append(callback)

    def on_peer_gone(self, callback: PeerGone) -> None:
        self._gone.append(callback)

    def on_friend_removed(self, callback: FriendRemoved) -> None:
        self._removed.append(callback)

    def wake(self) -> None:
        self.woken.set()
