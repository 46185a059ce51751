"""Resuming object transfers after a holder's connection breaks: how often, and waiting for it.

A relay resets a relayed connection once it has carried its byte or time
limit (``[relay]`` in config.toml), a relayed connection is closed once hole
punching gave a direct one, and a home router may forget a mapping. None of
that should fail a put or a get: every `/citizen/objects/1` request is
idempotent at the holder (a share is stored by hash, once per owner; fetch,
challenge, list and delete change nothing when repeated), so a `HolderLink`
sends the request that was in flight again, on a new stream, once the device
is connected again (`Presence`), a bounded number of times (`ResumePolicy`).
Requests already answered are never sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import trio

from citizen.ids import DeviceId, HouseholdId
from citizen.net.backoff import Backoff
from citizen.net.network import Net
from citizen.net.peers import Peers

#: how often a waiter re-checks a device's connections (a closed one makes no callback)
RECHECK = 1.0


@dataclass(frozen=True, slots=True)
class ResumePolicy:
    """How hard a `HolderLink` tries one request before giving the holder up.

    Attributes:
        attempts: sends of one request, the first included.
        reconnect_timeout: after a break, how long to wait for the device to be
            connected again (the friends service re-dials it meanwhile, through
            a relay if need be).
        backoff_min, backoff_max: pause before each retry, doubling from min to max.
    """

    attempts: int = 8
    reconnect_timeout: float = 60.0
    backoff_min: float = 0.5
    backoff_max: float = 10.0

    def may_retry(self, retry: int) -> bool:
        """Whether retry number `retry` (1 = the first retry) is still allowed."""
        return 1 <= retry < self.attempts

    def delay(self, retry: int) -> float:
        """The pause before retry number `retry` (1 = the first retry)."""
        return Backoff(self.backoff_min, self.backoff_max).after(retry)


class Presence:
    """Which friend devices are connected now, and waiting until one is (again).

    Args:
        is_connected: whether a device has said hello and has an open connection.
        wake: ask the friends service to dial offline devices now.
        is_known: whether a device still belongs to a friend (a removed friend's
            device is not waited for); every device counts as known without it.
    """

    def __init__(
        self,
        is_connected: Callable[[DeviceId], bool],
        wake: Callable[[], None],
        is_known: Callable[[DeviceId], bool] | None = None,
    ) -> None:
        self._is_connected = is_connected
        self._wake = wake
        self._is_known = is_known or (lambda _device: True)
        self._changed = trio.Event()

    def changed(self) -> None:
        """A device came or went: wake every waiter to look again."""
        self._changed.set()
        self._changed = trio.Event()

    async def peer_ready(self, device: DeviceId, household: HouseholdId) -> None:
        self.changed()

    def peer_gone(self, device: DeviceId) -> None:
        self.changed()

    def connected(self, device: DeviceId) -> bool:
        return self._is_connected(device)

    async def wait_connected(self, device: DeviceId, timeout: float) -> bool:
        """Wait until `device` is connected; False if it is not within `timeout` seconds,
        or once its household is no longer a friend."""
        with trio.move_on_after(timeout):
            while not self._is_connected(device):
                if not self._is_known(device):
                    return False
                self._wake()
                with trio.move_on_after(RECHECK):
                    await self._changed.wait()
            return True
        return False


def watch_friends(net: Net, peers: Peers) -> Presence:
    """A `Presence` fed by the comings and goings `peers` reports.

    A device counts as connected once it said hello and while it has an open connection.
    """

    def connected(device: DeviceId) -> bool:
        return device in peers.online and net.connected(device)

    def known(device: DeviceId) -> bool:
        return peers.household_of(device) is not None

    async def removed(household: HouseholdId) -> None:
        presence.changed()  # waiters for its devices give up

    presence = Presence(connected, peers.wake, known)
    peers.on_peer_ready(presence.peer_ready)
    peers.on_peer_gone(presence.peer_gone)
    peers.on_friend_removed(removed)
    return presence
