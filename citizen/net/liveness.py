"""Finding connections to friends that died silently: a ping per connection, closed after misses.

Behind home NATs a connection can die without a FIN or a reset (the router
reboots, its NAT state times out, the ISP re-addresses it, a Wi-Fi link
drops). TCP then keeps it "up" until its retransmission timeout (about 15
minutes on Linux) while the swarm keeps opening streams on it: the friend
shows online and nothing syncs. This service pings every connection to a
trusted device (a friend's or our own household's) on that very connection,
and closes a connection that misses `misses` pings in a row; the swarm then
reports it gone, `FriendsService` marks the device offline (once it has no
connection left) and its dial loop redials.

The protocol is libp2p's own ping, `/ipfs/ping/1.0.0` (32 random bytes
echoed back), served through `FriendGate.serve_friends`: a friend's daemon,
ours or a js-libp2p one, answers it; a stranger asking for it is
disconnected like for any other protocol it may not use. A device that
answers "na" (a friend's older daemon without ping) has answered: it is
alive, and a connection is never dropped for speaking an older version.

Every connection is pinged every `interval`, busy or idle. py-libp2p offers
no cheap way to see when a connection last read anything (yamux keeps no
timestamp), the long-lived `/citizen/docs/1` stream means "no open streams"
never happens, and a ping costs a few hundred bytes per interval. The traffic
also keeps the home router's NAT mapping warm.

Settings, from `[network] keepalive_s` (30 by default, 0 turns this off):
- `interval = keepalive_s`: the pause between two pings of a connection.
- `timeout = keepalive_s / 3`, at least 5 s and at most 30 s: a live home
  uplink can queue a ping behind seconds of outgoing shares (bufferbloat on a
  slow uplink), so less than 5 s would call busy connections dead; past 30 s
  waiting longer tells nothing new and only delays the verdict.
- `misses = 3` in a row: one lost ping (a Wi-Fi hiccup, a burst of uploads)
  must not tear down a working connection, which would restart doc sync and
  break transfers in flight. A dead connection is closed within about
  `misses * (interval + timeout)`, two minutes by default.

py-libp2p's yamux sends its own PING frame every 30 s to measure the RTT,
but only records the answer: a missing one closes nothing. The swarm's
optional health monitor (`ConnectionConfig.enable_health_monitoring`) skips
connections with open streams and dials replacements itself, so it would
never check a friend's connection (the docs stream is always open); it stays
off.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import IHost, INetConn, INetStream
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.host.ping import handle_ping, perform_ping_roundtrip
from libp2p.peer.id import ID
from libp2p.protocol_muxer.exceptions import ProtocolNotSupportedError
from libp2p.protocol_muxer.multiselect_client import MultiselectClient
from libp2p.protocol_muxer.multiselect_communicator import MultiselectCommunicator

from citizen.net.host import FriendGate

log = logging.getLogger(__name__)

PROTOCOL = str(PING_PROTOCOL)
MISSES = 3
MIN_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0
CLOSE_TIMEOUT = 2.0  # for each step of closing a dead connection

Pinger = Callable[[INetConn, float], Awaitable[bool]]
Closer = Callable[[INetConn], Awaitable[None]]


# -- pure: settings and the miss counter ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class LivenessSettings:
    """How often a connection is pinged, how long a ping may take, how many may be missed."""

    interval: float
    timeout: float
    misses: int = MISSES

    @classmethod
    def from_keepalive(cls, keepalive_s: int) -> LivenessSettings | None:
        """The settings for `[network] keepalive_s`; None when it is 0 (checking off)."""
        if keepalive_s <= 0:
            return None
        timeout = min(MAX_TIMEOUT, max(MIN_TIMEOUT, keepalive_s / 3))
        return cls(interval=float(keepalive_s), timeout=timeout)

    @property
    def gives_up_after(self) -> float:
        """The longest a dead connection stays open: every ping waits out its timeout."""
        return self.misses * (self.interval + self.timeout)


class MissCounter:
    """Pings missed in a row on one connection; an answer starts the count again."""

    def __init__(self, misses: int) -> None:
        if misses < 1:
            raise ValueError("misses must be at least 1")
        self.misses = misses
        self.in_a_row = 0

    def record(self, answered: bool) -> bool:
        """Count one ping; True once `misses` pings in a row went unanswered (it is dead)."""
        self.in_a_row = 0 if answered else self.in_a_row + 1
        return self.in_a_row >= self.misses


# -- the trio shell -----------------------------------------------------------------------


async def ping_connection(conn: INetConn, timeout: float) -> bool:
    """Ping the peer on this one connection; whether it answered within `timeout` seconds.

    The stream is opened on `conn` itself (not `host.new_stream`, which picks
    the peer's "best" connection), so a peer's relayed and direct connections
    are judged separately. "na" to the ping protocol counts as an answer.
    """
    stream: INetStream | None = None
    answered = False
    try:
        with trio.fail_after(timeout):
            stream = await conn.new_stream()
            communicator = MultiselectCommunicator(stream)
            client = MultiselectClient()
            await client.handshake(communicator)
            try:
                await client.try_select(communicator, PING_PROTOCOL)
            except ProtocolNotSupportedError:
                answered = True  # it read our request and replied: alive
                return True
            await perform_ping_roundtrip(stream)
            answered = True
            return True
    except trio.TooSlowError:
        return False
    except Exception as exc:
        log.debug("ping to %s failed: %s", conn.muxed_conn.peer_id, exc)
        return False
    finally:
        if stream is not None:
            await _end_stream(stream, answered)


async def _end_stream(stream: INetStream, answered: bool) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
        try:
            await (stream.close() if answered else stream.reset())
        except Exception as exc:
            log.debug("ending a ping stream: %s", exc)


async def close_dead_connection(conn: INetConn) -> None:
    """Close a connection whose peer stopped answering, without waiting for that peer.

    The transport is closed first: a dead peer cannot read a goodbye, and a
    goodbye queued behind unsent data would wait for TCP's own timeout. Its
    reader then fails and the swarm forgets the connection and tells the
    notifees (`FriendsService._on_disconnected`); `conn.close()` makes sure.
    """
    secured: Any = getattr(conn.muxed_conn, "secured_conn", None)
    if secured is not None:
        with trio.move_on_after(CLOSE_TIMEOUT):
            try:
                await secured.close()
            except Exception as exc:
                log.debug("closing the transport of a dead connection: %s", exc)
    with trio.move_on_after(CLOSE_TIMEOUT):
        try:
            await conn.close()
        except Exception as exc:
            log.debug("closing a dead connection: %s", exc)


def _describe(conn: INetConn) -> str:
    try:
        addrs = [str(a) for a in conn.get_transport_addresses()]
    except Exception:
        addrs = []
    return addrs[0] if addrs else "an unknown address"


@dataclass(frozen=True, slots=True)
class LivenessStats:
    watched: int
    answered: int
    closed_dead: int


class LivenessService:
    """Pings each connection to a trusted device and closes the ones that stopped answering.

    Args:
        host: the libp2p host whose connections are watched.
        gate: serves the ping protocol to friends (always, even with checking off).
        is_trusted: peer -> whether it is a friend's or our own household's device.
        keepalive_s: `[network] keepalive_s`; 0 serves ping but checks nothing.
        ping: `ping_connection`, replaceable in tests.
        close: `close_dead_connection`, replaceable in tests.
    """

    def __init__(
        self,
        host: IHost,
        gate: FriendGate,
        is_trusted: Callable[[ID], bool],
        keepalive_s: int,
        *,
        ping: Pinger = ping_connection,
        close: Closer = close_dead_connection,
    ) -> None:
        self._network = host.get_network()
        self._is_trusted = is_trusted
        self.settings = LivenessSettings.from_keepalive(keepalive_s)
        self._ping = ping
        self._close = close
        self._watched: set[INetConn] = set()
        #: pings answered, and connections closed because they stopped answering, since start
        self.answered = 0
        self.closed_dead = 0
        gate.serve_friends(PROTOCOL, handle_ping)

    def statistics(self) -> LivenessStats:
        """Connections watched now; pings answered and dead connections closed so far."""
        return LivenessStats(len(self._watched), self.answered, self.closed_dead)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        settings = self.settings
        task_status.started()
        if settings is None:
            log.info("keepalive is off: silently dead connections are not detected")
            return
        async with trio.open_nursery() as nursery:
            while True:
                for conn in self._new_trusted(self._network.get_connections()):
                    self._watched.add(conn)
                    nursery.start_soon(self._watch, conn, settings)
                await trio.sleep(settings.interval)

    def _new_trusted(self, conns: Iterable[INetConn]) -> list[INetConn]:
        return [
            c
            for c in conns
            if c not in self._watched and not c.is_closed and self._is_trusted(c.muxed_conn.peer_id)
        ]

    async def _watch(self, conn: INetConn, settings: LivenessSettings) -> None:
        peer = conn.muxed_conn.peer_id
        counter = MissCounter(settings.misses)
        try:
            while not conn.is_closed:
                await trio.sleep(settings.interval)
                if conn.is_closed or not self._is_trusted(peer):
                    return  # closed by someone else, or the friend was removed
                answered = await self._ping(conn, settings.timeout)
                if conn.is_closed:
                    return
                if answered:
                    self.answered += 1
                else:
                    log.debug("%s missed ping %d of %d", peer, counter.in_a_row + 1, counter.misses)
                if counter.record(answered):
                    log.info(
                        "closing connection to %s at %s: dead, %d pings in a row got no answer"
                        " within %g s each",
                        peer,
                        _describe(conn),
                        counter.in_a_row,
                        settings.timeout,
                    )
                    self.closed_dead += 1
                    await self._close(conn)
                    return
        finally:
            self._watched.discard(conn)
