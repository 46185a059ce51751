"""Reachability behind home NATs: dialback checks with friends, relaying for friends, relayed dials.

Three jobs, all friend-only (every protocol here is served through
`FriendGate.serve_friends`, so a stranger is disconnected before it reaches them):

- Dialback (`/citizen/dialback/1`, AutoNAT-like): a device asks each friend it
  is directly connected to what address the connection comes from and to open
  a fresh connection back to that host at each port we listen on. A friend
  that got through makes us "public"; friends that tried and failed make us
  "behind NAT"; no answer leaves "unknown".
- Circuit relay v2, with py-libp2p's `CircuitV2Protocol` as the hop (relay) and
  stop (destination) sides, bounded by `RelayOptions`. A device that is not
  known to be public keeps a reservation at each friend it reached by dialing
  out directly, and advertises `/…/p2p/RELAY/p2p-circuit` addresses for itself.
- `connect(peer, addrs)`: dial direct addresses first, then relayed ones
  (py-libp2p's swarm skips `/p2p-circuit` addresses, so those go through
  py-libp2p's `CircuitV2Transport` here).

`FriendsService` and `node.py` call in through `addrs()`, `connect()`,
`peer_ready()`, `peer_gone()`, `connection_kind()` and `statistics()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.pb.circuit_pb2 import HopMessage
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import STOP_PROTOCOL_ID as STOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.relay.circuit_v2.utils import read_delimited_msg, write_delimited_msg
from multiaddr import Multiaddr

from citizen.errors import CitizenError, UnreachableError
from citizen.ids import DeviceId, HouseholdId
from citizen.net import conns
from citizen.net.conns import Kind, is_circuit
from citizen.net.host import FriendGate
from citizen.net.nat import dialback_codec as dc
from citizen.net.nat.holepunch import HolePuncher, PunchStats
from citizen.net.streams import read_frame, write_frame

log = logging.getLogger(__name__)

State = Literal["public", "behind_nat", "unknown"]

DIALBACK_TIMEOUT = 20.0  # whole exchange, the friend's dials included
PROBE_TIMEOUT = 5.0  # one dial back
CHECK_EVERY = 600.0  # re-ask a friend this often (addresses change at night)
RESERVE_MARGIN = 120  # renew a reservation this many seconds before it expires
RESERVE_RETRY = 60.0  # after a refused or failed reservation
DIAL_TIMEOUT = 10.0
RELAY_AFTER = 1.0  # head start of direct dials over relayed ones
DIAL_STAGGER = 0.25  # between dials to a friend's successive direct addresses
STATUS_OK = 100  # circuit v2 Status.OK


@dataclass(frozen=True, slots=True)
class RelayOptions:
    """What this device offers friends as a relay, and whether it reserves at theirs.

    Defaults are sized for a Raspberry Pi on a home uplink: a relayed circuit
    is meant for control traffic, doc sync and resumable object transfers.
    """

    serve: bool = True
    reserve: bool = True
    max_reservations: int = 16
    max_circuits: int = 8  # concurrent circuits per reserved device
    circuit_duration: int = 30 * 60  # seconds, then the circuit is reset
    circuit_bytes: int = 128 * 1024 * 1024  # per circuit, both directions together
    reservation_ttl: int = 3600

    def limits(self) -> RelayLimits:
        return RelayLimits(
            duration=self.circuit_duration,
            data=self.circuit_bytes,
            max_circuit_conns=self.max_circuits,
            max_reservations=self.max_reservations,
            reservation_ttl=self.reservation_ttl,
        )


@dataclass(frozen=True, slots=True)
class Reachability:
    """What friends' dialbacks say about us."""

    state: State
    observed: tuple[str, ...]  # addresses friends saw our connections come from
    reached: tuple[str, ...]  # addresses at which a friend opened a new connection to us
    checked_by: int  # friend devices whose answer counted


def summarize(results: dict[DeviceId, dc.DialResult]) -> Reachability:
    """Fold friends' dialback answers into one verdict (pure)."""
    observed: list[str] = []
    reached: list[str] = []
    counted = 0
    for result in results.values():
        if result.observed and result.observed not in observed:
            observed.append(result.observed)
        if not result.tried:
            continue  # the friend could not tell (relayed connection, no TCP listener)
        counted += 1
        reached.extend(a for a in result.reached if a not in reached)
    state: State = "unknown" if counted == 0 else ("public" if reached else "behind_nat")
    return Reachability(state, tuple(observed), tuple(reached), counted)


def circuit_addr(relay_addr: str, relay: str) -> str:
    """Our relayed address through `relay` reached at `relay_addr` (spec form, no target)."""
    base = relay_addr.split("/p2p/")[0]
    return f"{base}/p2p/{relay}/p2p-circuit"


@dataclass(slots=True)
class ReachStatus:
    """How friends reach us now (`citizen status`)."""

    reachability: Reachability
    relay_addrs: tuple[str, ...]  # our addresses through friends' relays
    relaying_for: int  # relay reservations we hold for friends
    relay_circuits: int  # circuits we relay for friends now
    hole_punch: PunchStats


@dataclass(frozen=True, slots=True)
class _Reservation:
    relay_addr: str
    expires: int


@dataclass(slots=True)
class _Checked:
    at: float
    addrs: tuple[str, ...]


@dataclass(slots=True)
class _Relays:
    held: dict[DeviceId, _Reservation] = field(default_factory=dict)
    retry_at: dict[DeviceId, float] = field(default_factory=dict)


class ReachabilityService:
    """Dialback checks, relay service for friends, reservations, and relayed dialing.

    Args:
        host: the running libp2p host.
        gate: the friend gate; dialback, hop and stop are served to friends only.
        direct_addrs: our directly dialable addresses (`host.advertised_addrs`).
        options: relay limits and switches.
    """

    def __init__(
        self,
        host: IHost,
        gate: FriendGate,
        direct_addrs: Callable[[], list[str]],
        options: RelayOptions | None = None,
    ) -> None:
        self.host = host
        self.options = options or RelayOptions()
        self._direct_addrs = direct_addrs
        self._online: set[DeviceId] = set()
        self._results: dict[DeviceId, dc.DialResult] = {}
        self._checked: dict[DeviceId, _Checked] = {}
        self._relays = _Relays()
        self._wake = trio.Event()
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None
        # py-libp2p's relay: we only use its stream handlers (served through the
        # gate, not host.set_stream_handler, which the gate bypasses) and its
        # transport's dial; its Service.run() is never started.
        self.relay = CircuitV2Protocol(host, self.options.limits(), allow_hop=self.options.serve)
        self._transport = CircuitV2Transport(host, self.relay, RelayConfig(roles=RelayRole.STOP))
        gate.serve_friends(dc.PROTOCOL, self._handle_dialback)
        gate.serve_friends(STOP_PROTOCOL, self.relay._handle_stop_stream)
        if self.options.serve:
            gate.serve_friends(HOP_PROTOCOL, self.relay._handle_hop_stream)
        self.punch = HolePuncher(
            host,
            gate,
            lambda: self.reachability().observed,
            self.connection_kind,
            lambda: self._online,
        )

    # -- wiring ---------------------------------------------------------------------------

    async def peer_ready(self, device: DeviceId, household: HouseholdId) -> None:
        """A friend device finished hello: check reachability with it, maybe reserve there."""
        self._online.add(device)
        self._wake.set()
        await self.punch.peer_ready(device, household)

    def peer_gone(self, device: DeviceId) -> None:
        self._online.discard(device)
        self._results.pop(device, None)
        self._checked.pop(device, None)
        if self._relays.held.pop(device, None) is not None:
            log.info("lost the relay reservation at %s", device)
        self._notify()

    async def wait_changed(self) -> None:
        """Wait until a dialback answer or a relay reservation changes what we know."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
        self._wake.set()

    def reachability(self) -> Reachability:
        return summarize(self._results)

    def relay_addrs(self) -> list[str]:
        now = int(time.time())
        return [
            circuit_addr(r.relay_addr, device)
            for device, r in self._relays.held.items()
            if r.expires > now
        ]

    def addrs(self) -> list[str]:
        """Every address friends should try for us: direct ones, then relayed ones."""
        return self._direct_addrs() + self.relay_addrs()

    def connection_kind(self, peer: ID | str) -> Kind | None:
        """How we are connected to `peer` now: "direct" wins over "relayed"; None if not."""
        return conns.connection_kind(self.host, peer if isinstance(peer, str) else peer.to_base58())

    def statistics(self) -> ReachStatus:
        """What friends' dialbacks say, our relay addresses, what we relay, hole punches."""
        return ReachStatus(
            self.reachability(),
            tuple(self.relay_addrs()),
            len(self.relay.resource_manager._reservations),
            len(self.relay._active_relays),
            self.punch.statistics(),
        )

    # -- dialing --------------------------------------------------------------------------

    async def connect(self, device: str, addrs: list[str]) -> Kind:
        """Connect to `device`: its direct addresses, and its relays `RELAY_AFTER` later.

        Whichever connects first wins and the other attempt is cancelled, so a
        friend behind a NAT costs one second more than its relay, not the
        direct attempts' whole timeout (a relay that resets a circuit at its
        limit makes us redial often).

        Raises:
            UnreachableError: no address worked.
        """
        peer = conns.peer_id(device)
        direct = [a for a in addrs if not is_circuit(a)]
        relayed = [a for a in addrs if is_circuit(a)]
        now = self.connection_kind(peer)
        if now is not None:
            return now  # already connected (the friend dialed us meanwhile)
        errors: list[str] = []
        won: list[Kind] = []

        async def via_direct(done: trio.CancelScope) -> None:
            if await self._dial_direct(peer, direct, DIAL_TIMEOUT, errors):
                won.append("direct")
                done.cancel()

        async def via_relays(done: trio.CancelScope) -> None:
            await trio.sleep(RELAY_AFTER if direct else 0)
            for addr in relayed:
                target = addr if addr.endswith(f"/p2p/{peer}") else f"{addr}/p2p/{peer}"
                try:
                    with trio.fail_after(DIAL_TIMEOUT):
                        await self._transport.dial(_maddr(target))
                except Exception as exc:
                    errors.append(f"{addr}: {exc or type(exc).__name__}")
                    continue
                log.info("connected to %s through a relay: %s", peer, addr)
                won.append("relayed")
                done.cancel()
                return

        async with trio.open_nursery() as nursery:
            if direct:
                nursery.start_soon(via_direct, nursery.cancel_scope)
            if relayed:
                nursery.start_soon(via_relays, nursery.cancel_scope)
        if won:
            return won[0]
        raise UnreachableError(
            f"Could not reach {peer}: {'; '.join(errors) or 'no address known'}.",
            "Check that the other daemon runs; behind a NAT it needs a reachable friend as relay.",
        )

    async def _dial_direct(
        self, peer: ID, addrs: list[str], timeout: float, errors: list[str]
    ) -> bool:
        """Dial every direct address, a little staggered, until one connects.

        py-libp2p's own dial tries only one TCP address per peer, so a friend
        known at its LAN, mapped and interface addresses would be tried at one.
        """
        maddrs = [_maddr(a) for a in addrs]
        self.host.get_peerstore().add_addrs(peer, maddrs, 3600)
        network: Any = self.host.get_network()
        connected = False

        async def attempt(maddr: Multiaddr, delay: float, done: trio.CancelScope) -> None:
            nonlocal connected
            await trio.sleep(delay)
            try:
                await network.dial_addr(maddr, peer)
            except Exception as exc:
                errors.append(f"{maddr}: {exc or type(exc).__name__}")
                return
            connected = True
            done.cancel()

        with trio.move_on_after(timeout) as timer:
            async with trio.open_nursery() as nursery:
                for i, maddr in enumerate(maddrs):
                    nursery.start_soon(attempt, maddr, i * DIAL_STAGGER, nursery.cancel_scope)
        if timer.cancelled_caught and not connected:
            errors.append(f"direct: no answer within {timeout:g} s")
        return connected

    # -- run ------------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.punch.run)
            task_status.started()
            while True:
                self._wake = trio.Event()
                await self._tick(nursery)
                with trio.move_on_after(5):
                    await self._wake.wait()

    async def _tick(self, nursery: trio.Nursery) -> None:
        now = trio.current_time()
        ours = tuple(self._direct_addrs())
        for device in list(self._online):
            checked = self._checked.get(device)
            if checked is None or checked.addrs != ours or now - checked.at > CHECK_EVERY:
                self._checked[device] = _Checked(now, ours)
                nursery.start_soon(self._check, device, ours)
        if not self.options.reserve or self.reachability().state == "public":
            return
        wall = int(time.time())
        for device in list(self._online):
            held = self._relays.held.get(device)
            if held is not None and held.expires - wall > RESERVE_MARGIN:
                continue
            if self._relays.retry_at.get(device, 0.0) > now:
                continue
            relay_addr = self._outbound_direct_addr(ID.from_base58(device))
            if relay_addr is None:
                continue  # not known to be reachable from here
            self._relays.retry_at[device] = now + RESERVE_RETRY
            nursery.start_soon(self._reserve, device, relay_addr)

    # -- dialback, asking side ------------------------------------------------------------

    async def _check(self, device: DeviceId, ours: tuple[str, ...]) -> None:
        peer = ID.from_base58(device)
        if self.connection_kind(peer) != "direct":
            return  # a friend cannot see our address through a relay
        try:
            with trio.fail_after(DIALBACK_TIMEOUT):
                stream = await self.host.new_stream(peer, [TProtocol(dc.PROTOCOL)])
                await write_frame(stream, dc.encode(dc.DialRequest(ours[: dc.MAX_ADDRS])))
                reply = dc.decode(await read_frame(stream, dc.MAX_FRAME))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            log.info("dialback check with %s failed: %s", device, exc)
            return
        except Exception as exc:  # the connection went away
            log.debug("dialback check with %s broke: %s", device, exc)
            return
        match reply:
            case dc.DialResult():
                self._results[device] = reply
                log.info(
                    "dialback by %s: seen as %s, reached %s of %s",
                    device,
                    reply.observed or "?",
                    len(reply.reached),
                    len(reply.tried),
                )
                self._notify()
            case dc.DialRefused(message=message):
                log.info("%s refused a dialback check: %s", device, message)
            case _:
                log.info("%s answered a dialback check with the wrong message", device)

    # -- dialback, answering side ---------------------------------------------------------

    async def _handle_dialback(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        try:
            with trio.fail_after(DIALBACK_TIMEOUT):
                msg = dc.decode(await read_frame(stream, dc.MAX_FRAME))
                if not isinstance(msg, dc.DialRequest):
                    await write_frame(stream, dc.encode(dc.DialRefused("expected a request")))
                    return
                observed = _observed_addr(stream)
                tried = dc.dialback_candidates(observed, msg.addrs)
                reached: list[str] = []
                async with trio.open_nursery() as nursery:
                    for addr in tried:
                        nursery.start_soon(self._probe, peer, addr, reached)
                result = dc.DialResult(observed, tuple(a for a in tried if a in reached), tried)
                await write_frame(stream, dc.encode(result))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            log.info("dialback for %s failed: %s", peer, exc)
        except Exception as exc:
            log.debug("dialback for %s broke: %s", peer, exc)

    async def _probe(self, peer: ID, addr: str, reached: list[str]) -> None:
        """Open a new TCP connection to `addr` and check, by the Noise handshake, that it is `peer`.

        The connection never joins the swarm: it only proves the address works.
        """
        network: Any = self.host.get_network()
        raw: Any = None
        with trio.move_on_after(PROBE_TIMEOUT):
            try:
                maddr = _maddr(addr)
                transport = network.transport_manager.transport_for_dialing(maddr)
                if transport is None:
                    return
                raw = await transport.dial(maddr)
                secured = await network.upgrader.upgrade_security(raw, True, peer)
                reached.append(addr)
                await secured.close()
            except Exception as exc:
                log.debug("dialback to %s at %s failed: %s", peer, addr, exc)
        if raw is not None:
            with trio.move_on_after(1):
                try:
                    await raw.close()
                except Exception:
                    pass

    # -- relay reservations ---------------------------------------------------------------

    def _outbound_direct_addr(self, peer: ID) -> str | None:
        """The address at which we dialed `peer` directly, if we did (then it is reachable)."""
        for conn in self.host.get_network().get_connections(peer):
            outbound = getattr(getattr(conn, "direction", None), "name", "") == "OUTBOUND"
            if not outbound or conns.conn_kind(conn) != "direct":
                continue
            remote = _remote_of(conn)
            if remote is not None:
                return remote
        return None

    async def _reserve(self, device: DeviceId, relay_addr: str) -> None:
        relay = ID.from_base58(device)
        try:
            with trio.fail_after(DIAL_TIMEOUT):
                stream = await self.host.new_stream(relay, [HOP_PROTOCOL])
                request = HopMessage(type=HopMessage.RESERVE)
                request.peer.id = self.host.get_id().to_bytes()
                await write_delimited_msg(stream, request)
                reply = await read_delimited_msg(stream, HopMessage)
                await stream.close()
        except Exception as exc:
            log.info("no relay reservation at %s: %s", device, exc or type(exc).__name__)
            return
        if reply.type != HopMessage.STATUS or reply.status != STATUS_OK:
            log.info("%s refused a relay reservation (status %s)", device, reply.status)
            return
        expires = reply.reservation.expire if reply.HasField("reservation") else 0
        if expires <= int(time.time()):
            log.info("%s granted a relay reservation that has already expired", device)
            return
        self._relays.held[device] = _Reservation(relay_addr, int(expires))
        self._relays.retry_at.pop(device, None)
        log.info("relay reservation at %s: %s", device, circuit_addr(relay_addr, device))
        self._notify()


def _maddr(text: str) -> Multiaddr:
    try:
        return Multiaddr(text)
    except Exception as exc:
        raise UnreachableError(f"{text!r} is not a valid address.") from exc


def _remote_of(conn: Any) -> str | None:
    try:
        remote = conn.muxed_conn.get_remote_address()
    except Exception:
        return None
    return _tcp_text(remote)


def _observed_addr(stream: INetStream) -> str:
    """The address the stream's connection comes from, "" for a relayed one."""
    if conns.stream_relayed(stream):
        return ""
    try:
        return _tcp_text(stream.get_remote_address()) or ""
    except Exception:
        return ""


def _tcp_text(remote: object) -> str | None:
    if not isinstance(remote, tuple) or len(remote) < 2:
        return None
    ip, port = remote[0], remote[1]
    if not isinstance(ip, str) or not isinstance(port, int):
        return None
    return f"/{'ip6' if ':' in ip else 'ip4'}/{ip}/tcp/{port}"
