"""Keeping the friend list the same on all of a household's devices, over household-friends/1.

When another device of our household completes hello, and after every local
pairing, removal or offer change (pushed to our devices online), the two
devices swap their whole friend lists, tombstones included, and each merges
the other's in one transaction (`citizen.store.friend_sync`, last writer wins
per friend household). A merge that added a friend wakes the dialer; one that
removed a friend then does what `citizen friends remove` does after the store
(`FriendsService.forget`: disconnect, drop grants and held shares, repair); one
that changed anything is passed on to our other devices online.

Friend lists hold friendship secrets: they are sent only to, and accepted only
from, a device whose stored certificate chains to our household key and which
is not revoked. Anyone else is refused before the store is read.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

import trio

from citizen.errors import CitizenError, NotAuthorizedError, RemoteProtocolError
from citizen.household import friend_list_codec as hfc
from citizen.identity.certs import verify_certificate_for
from citizen.ids import DeviceId, HouseholdId
from citizen.net.conns import remote_device
from citizen.net.network import Net
from citizen.net.peers import Peers
from citizen.net.streams import Stream, read_frame, write_frame
from citizen.store.friend_merge import Entry, check_entries
from citizen.store.friend_sync import FriendSync
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdStore

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

TIMEOUT = 30.0


class Forgetting(Protocol):
    """What `citizen friends remove` does after the store (the friends service does it)."""

    async def forget(self, household: HouseholdId, devices: list[DeviceId]) -> None: ...


class HouseholdFriendsService:
    """Swaps and merges friend lists with the household's other devices.

    Args:
        net: opens streams; serves the protocol to trusted peers (the handler narrows it).
        peers: own devices online, our household, waking the dialer.
        forgetting: disconnects a friend removed on another device and tells everyone.
        sync: the household-shared view of the trust store.
        store: the trust store (its change hook pushes our list; reloaded after a merge).
        own: our devices, to check that a peer is one of them.
        household_key: our household public key.
    """

    def __init__(
        self,
        net: Net,
        peers: Peers,
        forgetting: Forgetting,
        sync: FriendSync,
        *,
        store: FriendStore,
        own: HouseholdStore,
        household_key: bytes,
    ) -> None:
        self._net = net
        self._peers = peers
        self._forgetting = forgetting
        self._sync = sync
        self._store = store
        self._own = own
        self._household_key = household_key
        self._nursery: trio.Nursery | None = None
        self._push = trio.Event()
        net.serve_friends(hfc.PROTOCOL, self._handle)
        peers.on_peer_ready(self._peer_ready)
        store.on_change.append(self.push_soon)

    def push_soon(self) -> None:
        """Send our list to every device of ours online (a local change happened)."""
        self._push.set()

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                await self._push.wait()
                self._push = trio.Event()
                for device in list(self._peers.own_online):
                    nursery.start_soon(self._exchange, device)

    async def _peer_ready(self, device: DeviceId, household: HouseholdId) -> None:
        if household != self._peers.household:
            # a friend's device said hello: our other devices learn where we saw it
            self.push_soon()
        elif self._nursery is not None:
            self._nursery.start_soon(self._exchange, device)

    async def _own_device(self, device: str) -> bool:
        """Whether `device` is ours: known, not revoked, its certificate signed by our key."""
        own = self._own
        if not own.is_own_device(device):
            return False
        try:
            stored = await own.get(device)
            verify_certificate_for(
                stored.cert, household_key=self._household_key, device=DeviceId(device)
            )
        except CitizenError as exc:
            log.warning("household device %s has no valid certificate: %s", device, exc)
            return False
        return True

    async def _list(self) -> hfc.FriendList:
        friends, removed = await self._sync.entries()
        return hfc.FriendList(friends, removed)

    # -- both directions -------------------------------------------------------------

    async def _handle(self, stream: Stream) -> None:
        peer = remote_device(stream)
        if not await self._own_device(peer):
            # a friend's device: trusted by the gate, but not with our friend list
            log.info("refused household friend list from %s: not our device", peer)
            await _send_refusal(stream, "Only this household's own devices may swap friend lists.")
            return
        try:
            with trio.fail_after(TIMEOUT):
                msg = hfc.decode(await read_frame(stream, hfc.MAX_FRAME))
                if not isinstance(msg, hfc.FriendList):
                    raise RemoteProtocolError("expected a friend list")
                await self._check(msg)
                await write_frame(stream, hfc.encode(await self._list()))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            why = exc.message if isinstance(exc, CitizenError) else "timed out"
            log.warning("household friend list from %s refused: %s", peer, why)
            await _send_refusal(stream, why)
            return
        except Exception as exc:  # transport failures: the device went away
            log.info("household friend list from %s broke: %s", peer, exc)
            return
        await self._merge(peer, msg)

    async def _exchange(self, device: DeviceId) -> None:
        if not await self._own_device(device):
            return
        try:
            with trio.fail_after(TIMEOUT):
                stream = await self._net.open_stream(device, hfc.PROTOCOL)
                await write_frame(stream, hfc.encode(await self._list()))
                reply = hfc.decode(await read_frame(stream, hfc.MAX_FRAME))
                await stream.close()
            match reply:
                case hfc.FriendList():
                    await self._check(reply)
                case hfc.Refused(message=message):
                    raise NotAuthorizedError(f"the device refused our friend list: {message}")
        except (CitizenError, trio.TooSlowError) as exc:
            why = exc.message if isinstance(exc, CitizenError) else "timed out"
            log.warning("swapping friend lists with %s failed: %s", device, why)
            return
        except Exception as exc:
            log.info("swapping friend lists with %s broke: %s", device, exc)
            return
        await self._merge(device, reply)

    async def _check(self, msg: hfc.FriendList) -> None:
        entries: tuple[Entry, ...] = (*msg.friends, *msg.removed)
        now_ms = int(time.time() * 1000)
        # one signature per device certificate: off the trio thread
        await trio.to_thread.run_sync(
            lambda: check_entries(entries, ours=self._peers.household, now_ms=now_ms)
        )

    async def _merge(self, source: DeviceId, msg: hfc.FriendList) -> None:
        merged = await self._sync.merge((*msg.friends, *msg.removed))
        if not merged.writes:
            return
        await self._store.load()  # the gate's mirror of who is trusted
        log.info(
            "merged friend list from %s: %d changed, %d added, %d removed",
            source,
            len(merged.writes),
            len(merged.added),
            len(merged.removed),
        )
        for gone in merged.removed:
            await self._forgetting.forget(
                HouseholdId(gone.household), [DeviceId(d.device) for d in gone.devices]
            )
        self._peers.wake()
        if self._nursery is not None:
            for device in self._peers.own_online - {source}:
                self._nursery.start_soon(self._exchange, device)


async def _send_refusal(stream: Stream, message: str) -> None:
    with trio.move_on_after(2):
        try:
            await write_frame(stream, hfc.encode(hfc.Refused(message[:1024])))
            await stream.close()
        except Exception as exc:
            log.debug("could not send the refusal: %s", exc)
