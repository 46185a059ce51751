"""Hole punching between friends that reach each other only through a relay (DCUtR).

Two households behind home NATs first connect through a friend's relay
(`reachability.py`). Over that relayed connection they then run py-libp2p's
DCUtR exchange (`/libp2p/dcutr`, served to friends only through the gate): each
side sends the addresses at which it expects to be reachable, the initiator
measures the round trip, and both dial each other at the same moment *from
their listen port*, so that each home router's outbound mapping lets the other
side's packets in (TCP simultaneous open). When that works, the swarm opens
new streams on the direct connection (it prefers direct ones) and the relayed
connection is closed after a grace period.

What we feed DCUtR: our routers' public IPs as friends saw them in dialback
checks, each with our listen port (a home router that preserves ports maps
our listen port to the same port outside; a symmetric NAT does not, and the
connection stays relayed). One side starts the exchange — the device whose
peer ID sorts first — so the two never run competing sessions; a failed
attempt is retried after `RETRY_EVERY`, three times per connection.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.dcutr import PROTOCOL_ID, DCUtRProtocol
from multiaddr import Multiaddr

from citizen.ids import DeviceId, HouseholdId
from citizen.net.host import FriendGate

log = logging.getLogger(__name__)

RETRY_EVERY = 120.0  # seconds between attempts for a friend that is still relayed only
FIRST_TRY_AFTER = 1.0  # let the relayed connection settle (hello, reservations) first


def predicted_addrs(observed: Sequence[str], listen_ports: Sequence[int]) -> list[str]:
    """Where friends should dial us: each observed public IP at each of our listen ports (pure).

    `observed` holds addresses like `/ip4/198.51.100.2/tcp/53122` (the port is
    the router's mapping of one outgoing connection and useless to others).
    """
    out: list[str] = []
    for addr in observed:
        parts = addr.split("/")
        if len(parts) < 5 or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
            continue
        for port in listen_ports:
            candidate = f"/{parts[1]}/{parts[2]}/tcp/{port}"
            if candidate not in out:
                out.append(candidate)
    return out


def starts_exchange(ours: ID, theirs: ID) -> bool:
    """Whether we, not the friend, start the DCUtR exchange (pure, the same answer on both)."""
    return ours.to_bytes() < theirs.to_bytes()


class _FriendsDCUtR(DCUtRProtocol):
    """py-libp2p's DCUtR with our address prediction and dials from our listen port."""

    def __init__(self, host: IHost, punch: HolePuncher) -> None:
        super().__init__(host)
        self._punch = punch

    async def _try_unilateral_upgrade(self, peer_id: ID) -> bool:
        # Our dialer tried every direct address before it fell back to the relay;
        # py-libp2p's extra attempt only waited out its 10 s dial timeout.
        return False

    async def _get_observed_addrs(self) -> list[bytes]:
        addrs = predicted_addrs(self._punch.observed(), self._punch.listen_ports())
        return [Multiaddr(a).to_bytes() for a in addrs[:20]]

    async def _dial_peer(
        self,
        peer_id: ID,
        addr: Multiaddr,
        source: tuple[str, int] | None = None,
        as_responder: bool = False,
    ) -> None:
        if not self._punch.worth_dialing(str(addr)):
            return  # loopback or one of our own: a dial from our port would reach ourselves
        # py-libp2p binds to the first of host.get_addrs(), which may be a
        # loopback address; bind to the wildcard at our listen port instead.
        ports = self._punch.listen_ports()
        if ports and "/ip4/" in str(addr):
            source = ("0.0.0.0", ports[0])
        await super()._dial_peer(peer_id, addr, source, as_responder)


@dataclass(slots=True)
class PunchStats:
    upgraded: int = 0
    failed: int = 0


class HolePuncher:
    """Upgrades friends' relayed connections to direct ones where the NATs allow.

    Args:
        host: the running libp2p host.
        gate: the friend gate (DCUtR is served to friends only).
        observed: our addresses as friends observed them (dialback).
        kind: how we are connected to a peer now ("direct", "relayed", None).
        online: the friend devices that completed hello and are connected.
    """

    def __init__(
        self,
        host: IHost,
        gate: FriendGate,
        observed: Callable[[], Sequence[str]],
        kind: Callable[[ID], str | None],
        online: Callable[[], Iterable[DeviceId]],
    ) -> None:
        self.host = host
        self.observed = observed
        self._kind = kind
        self._online = online
        self.stats = PunchStats()
        self._nursery: trio.Nursery | None = None
        self._busy: set[DeviceId] = set()
        self.dcutr = _FriendsDCUtR(host, self)
        gate.serve_friends(PROTOCOL_ID, self._handle)

    def listen_ports(self) -> list[int]:
        ports: list[int] = []
        for addr in self.host.get_transport_addrs():
            parts = str(addr).split("/")
            if len(parts) >= 5 and parts[3] == "tcp" and parts[4].isdigit():
                port = int(parts[4])
                if port not in ports:
                    ports.append(port)
        return ports

    def worth_dialing(self, addr: str) -> bool:
        """Whether a hole-punch dial to `addr` could reach someone else than us."""
        parts = addr.split("/")
        if len(parts) < 3:
            return False
        try:
            ip = ipaddress.ip_address(parts[2])
        except ValueError:
            return True  # a DNS name: let the dialer resolve it
        if ip.is_loopback or ip.is_unspecified:
            return False
        own = {str(a).split("/")[2] for a in self.host.get_addrs() if str(a).count("/") >= 2}
        return parts[2] not in own

    def statistics(self) -> PunchStats:
        """Relayed connections upgraded to direct ones so far, and attempts that failed."""
        return PunchStats(self.stats.upgraded, self.stats.failed)

    async def peer_ready(self, device: DeviceId, household: HouseholdId) -> None:
        self._consider(device)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.dcutr._nursery = nursery  # closes the relayed connection after an upgrade
            task_status.started()
            while True:
                await trio.sleep(RETRY_EVERY)
                for device in list(self._online()):
                    self._consider(device)

    def _consider(self, device: DeviceId) -> None:
        peer = ID.from_base58(device)
        if self._nursery is None or device in self._busy:
            return
        if self._kind(peer) != "relayed" or not starts_exchange(self.host.get_id(), peer):
            return
        self._busy.add(device)
        self._nursery.start_soon(self._punch, device, peer)

    async def _punch(self, device: DeviceId, peer: ID) -> None:
        try:
            await trio.sleep(FIRST_TRY_AFTER)
            if self._kind(peer) != "relayed":
                return
            log.info("trying to upgrade the relayed connection to %s to a direct one", device)
            ok = await self.dcutr.initiate_hole_punch(peer)
        except Exception as exc:  # the relayed connection went away mid-exchange
            log.info("hole punch with %s broke: %s", device, exc)
            ok = False
        finally:
            self._busy.discard(device)
        self._count(device, ok)

    async def _handle(self, stream: Any) -> None:
        peer = stream.muxed_conn.peer_id
        was_direct = self._kind(peer) == "direct"
        await self.dcutr._handle_dcutr_stream(stream)
        if not was_direct:
            self._count(DeviceId(peer.to_base58()), self._kind(peer) == "direct")

    def _count(self, device: DeviceId, ok: bool) -> None:
        if ok:
            self.stats.upgraded += 1
            log.info("connected directly to %s (hole punch)", device)
        else:
            self.stats.failed += 1
            log.info("no direct connection to %s: staying relayed", device)
