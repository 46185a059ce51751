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
from collections.abc import Callable

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from citizen.errors import ConfigError
from citizen.ids import DeviceId
from citizen.net.rendezvous import service as rendezvous
from citizen.net.rendezvous.registry import friendship_namespaces
from citizen.store.friend_records import Friend

log = logging.getLogger(__name__)

TIMEOUT = 10.0
REGISTER_EVERY = 600.0


class FriendFinder:
    """Registers us and looks friends up at rendezvous points.

    Args:
        host: the libp2p host.
        addrs: our current addresses to advertise (direct and relayed).
        points: configured public rendezvous points, as /p2p/ multiaddrs.
    """

    def __init__(
        self, host: IHost, addrs: Callable[[], list[str]], points: tuple[str, ...]
    ) -> None:
        self.host = host
        self._addrs = addrs
        self.points = [_point(p) for p in points]
        self._registered_addrs: list[str] = []
        self._registered_at: dict[str, float] = {}

    def _all_points(self, online: list[DeviceId]) -> list[ID]:
        points = [ID.from_base58(d) for d in online]
        return points + [p for p, _ in self.points if p not in points]

    async def lookup(self, online: list[DeviceId], friend: Friend, device: DeviceId) -> list[str]:
        """Ask every connected friend device (and configured points) where `device` is now."""
        for point in self._all_points(online):
            for ns in friendship_namespaces(friend.secret, time.time()):
                try:
                    with trio.fail_after(TIMEOUT):
                        peers, _cookie = await rendezvous.discover(self.host, point, ns)
                except Exception as exc:
                    log.debug("rendezvous lookup at %s failed: %s", point, exc)
                    continue
                for info in peers:
                    if info.peer_id.to_base58() == device and info.addrs:
                        log.info("found %s at %s via rendezvous", device, point)
                        return [str(a) for a in info.addrs]
        return []

    async def register_round(self, online: list[DeviceId], friends: list[Friend]) -> None:
        """Register at each point not registered at recently (all of them if we moved)."""
        addrs = self._addrs()
        if addrs != self._registered_addrs:
            self._registered_at.clear()  # our addresses changed: register everywhere again
            self._registered_addrs = addrs
        now = trio.current_time()
        due: list[ID] = []
        for device in online:
            if now - self._registered_at.get(device, -REGISTER_EVERY) >= REGISTER_EVERY:
                due.append(ID.from_base58(device))
        for point, addrs_of_point in self.points:
            if now - self._registered_at.get(point.to_base58(), -REGISTER_EVERY) >= REGISTER_EVERY:
                self.host.get_peerstore().add_addrs(point, addrs_of_point, 3600)
                due.append(point)
        for point in due:
            self._registered_at[point.to_base58()] = now
        if due:
            async with trio.open_nursery() as nursery:
                for point in due:
                    nursery.start_soon(self._register_at, point, friends)

    async def _register_at(self, point: ID, friends: list[Friend]) -> None:
        addrs = [Multiaddr(a) for a in self._addrs()]
        for friend in friends:
            for ns in friendship_namespaces(friend.secret, time.time()):
                try:
                    with trio.fail_after(TIMEOUT):
                        await rendezvous.register(self.host, point, ns, addrs=addrs)
                except Exception as exc:
                    log.debug("rendezvous register at %s failed: %s", point, exc)
                    return


def _point(text: str) -> tuple[ID, list[Multiaddr]]:
    from libp2p.peer.peerinfo import info_from_p2p_addr

    try:
        info = info_from_p2p_addr(Multiaddr(text))
    except Exception as exc:
        raise ConfigError(
            f"The rendezvous point {text!r} is not a multiaddr with /p2p/PEERID.",
            "Fix network.rendezvous_points in config.toml.",
        ) from exc
    return info.peer_id, list(info.addrs)
