"""Finding friends wherever they are: rendezvous under friendship-secret namespaces.

Each daemon registers its current addresses, under a namespace derived from
each friendship's secret (rotating daily), at every connected friend (they
serve rendezvous to friends) and at configured public points; it registers
again when its addresses change. To find a friend's device that moved, it
asks the same points.
"""

from __future__ import annotations

import logging
import time

import trio

from citizen.ids import DeviceId
from citizen.net.network import Network, parse_peer_addr
from citizen.net.rendezvous.registry import friendship_namespaces
from citizen.store.friend_records import Friend

log = logging.getLogger(__name__)

TIMEOUT = 10.0
REGISTER_EVERY = 600.0


class FriendFinder:
    """Registers us and looks friends up at rendezvous points.

    Args:
        net: the network (its `addrs()` are what we advertise: direct and relayed).
        points: configured public rendezvous points, as /p2p/ multiaddrs.

    Raises:
        ConfigError: a point is not a /p2p/ multiaddr.
    """

    def __init__(self, net: Network, points: tuple[str, ...]) -> None:
        self.net = net
        self.points = [parse_peer_addr(p) for p in points]
        self._registered_addrs: list[str] = []
        self._registered_at: dict[str, float] = {}

    def _all_points(self, online: list[DeviceId]) -> list[DeviceId]:
        points = list(online)
        return points + [p for p, _ in self.points if p not in points]

    def register_everywhere(self) -> None:
        """Register at every point in the next round (a friendship was added)."""
        self._registered_at.clear()

    async def lookup(self, online: list[DeviceId], friend: Friend, device: DeviceId) -> list[str]:
        """Ask every connected friend device (and configured points) where `device` is now."""
        for point in self._all_points(online):
            for ns in friendship_namespaces(friend.secret, time.time()):
                try:
                    with trio.fail_after(TIMEOUT):
                        peers = await self.net.rendezvous_discover(point, ns)
                except Exception as exc:
                    log.debug("rendezvous lookup at %s failed: %s", point, exc)
                    continue
                for found, addrs in peers:
                    if found == device and addrs:
                        log.info("found %s at %s via rendezvous", device, point)
                        return addrs
        return []

    async def register_round(self, online: list[DeviceId], friends: list[Friend]) -> None:
        """Register at each point not registered at recently (all of them if we moved)."""
        addrs = self.net.addrs()
        if addrs != self._registered_addrs:
            self._registered_at.clear()  # our addresses changed: register everywhere again
            self._registered_addrs = addrs
        now = trio.current_time()
        due: list[DeviceId] = []
        for device in online:
            if now - self._registered_at.get(device, -REGISTER_EVERY) >= REGISTER_EVERY:
                due.append(device)
        for point, addrs_of_point in self.points:
            if now - self._registered_at.get(point, -REGISTER_EVERY) >= REGISTER_EVERY:
                self.net.remember_addrs(point, addrs_of_point)
                due.append(point)
        for point in due:
            self._registered_at[point] = now
        if due:
            async with trio.open_nursery() as nursery:
                for point in due:
                    nursery.start_soon(self._register_at, point, friends)

    async def _register_at(self, point: DeviceId, friends: list[Friend]) -> None:
        addrs = self.net.addrs()
        for friend in friends:
            for ns in friendship_namespaces(friend.secret, time.time()):
                try:
                    with trio.fail_after(TIMEOUT):
                        await self.net.rendezvous_register(point, ns, addrs)
                except Exception as exc:
                    log.debug("rendezvous register at %s failed: %s", point, exc)
                    return
