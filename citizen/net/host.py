"""The libp2p host: device key, TCP, Noise and Yamux only, and the friend-only gate.

py-libp2p's `new_host()` also offers TLS, secio and plaintext and serves
identify and ping to anyone; here security is pinned to Noise and muxing to
Yamux, and every inbound stream passes `FriendGate` first: a friend's device
reaches the full protocol set, a stranger reaches only the few protocols that
let it become trusted (pairing with a valid invite, presenting a device
certificate), cannot list protocols (`ls` answers "na"), and is disconnected
as soon as it asks for anything else. A rendezvous point the household
configured runs a stock libp2p stack, which opens identify and ping on every
connection: on connections we dialed to such a point, it reaches exactly
those two (identify without an agent string, listing only rendezvous,
identify and ping), and its other streams are refused without dropping it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import libp2p
import trio
from libp2p.abc import IHost, INetConn, INetStream, INotifee
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519
from libp2p.custom_types import TProtocol
from libp2p.host.ping import handle_ping
from libp2p.peer.id import ID
from libp2p.protocol_muxer.multiselect import Multiselect
from libp2p.protocol_muxer.multiselect_communicator import MultiselectCommunicator
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from multiaddr import Multiaddr

from citizen.net.conns import reset_quietly
from citizen.net.rendezvous.service import PROTOCOL_ID as RENDEZVOUS_PROTOCOL_ID

log = logging.getLogger(__name__)

StreamHandler = Callable[[INetStream], Awaitable[None]]
NEGOTIATE_TIMEOUT = 10
IDENTIFY = TProtocol("/ipfs/id/1.0.0")
PING = TProtocol("/ipfs/ping/1.0.0")
#: what identify tells a configured rendezvous point we speak with it
POINT_PROTOCOLS = (RENDEZVOUS_PROTOCOL_ID, IDENTIFY, PING)


def key_pair_from_seed(seed: bytes) -> KeyPair:
    private = Ed25519PrivateKey.from_bytes(seed)
    return KeyPair(private, private.get_public_key())


def new_host(seed: bytes, listen: Iterable[str], *, mdns: bool = False) -> IHost:
    """A host keyed by the device seed, Noise + Yamux only, no default protocols served.

    With `mdns`, py-libp2p's mDNS advertises the device on the LAN and puts the
    devices it hears of into the peerstore, where the friends service looks for
    a friend's current LAN address (strangers found this way are never dialed).
    """
    key_pair = key_pair_from_seed(seed)
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519().private_key)
    host = libp2p.new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        listen_addrs=[Multiaddr(a) for a in listen],
        enable_mDNS=mdns,
    )
    # Identify is not served (see FriendGate) and not asked for either: asking a
    # peer that does not know us yet would look like a stranger probing it.
    network: Any = host.get_network()
    network.notifees[:] = [n for n in network.notifees if type(n).__name__ != "_IdentifyNotifee"]
    # BasicHost also schedules identify after connect() and new_stream(); switch it off.
    host._schedule_identify = _no_identify  # type: ignore[attr-defined]
    # The swarm's auto-connector dials every peer in the peerstore whenever fewer
    # than 100 connections are open: friends removed, and strangers heard of on
    # the LAN, would be dialed again and again. Friends are dialed by the friends
    # service (with back-off), nobody else; an auto-connector never started never
    # dials.
    network.auto_connector.start = _not_started
    return host


def _no_identify(*_args: object, **_kwargs: object) -> None:
    return None


async def _not_started() -> None:
    return None


def advertised_addrs(host: IHost) -> list[str]:
    """Our dialable addresses: wildcard listeners expanded to each interface's address."""
    out: list[str] = []
    for addr in host.get_transport_addrs():
        text = str(addr)
        if text.startswith("/ip4/0.0.0.0/"):
            rest = text[len("/ip4/0.0.0.0") :]
            out.extend(f"/ip4/{ip}{rest}" for ip in _local_ipv4())
        else:
            out.append(text)
    return out


def _local_ipv4() -> list[str]:
    import ifaddr

    ips: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and ip.ip not in ips:
                ips.append(ip.ip)
    return ips


class _QuietMultiselect(Multiselect):
    """Multiselect that never answers `ls`, so peers cannot list our protocols."""

    async def negotiate(self, communicator: Any, negotiate_timeout: int = NEGOTIATE_TIMEOUT) -> Any:
        return await super().negotiate(_NoLs(communicator), negotiate_timeout)  # type: ignore[arg-type]


class _NoLs:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def read(self) -> str:
        command: str = await self._inner.read()
        # An unknown protocol name gets "na", exactly like a protocol we do not serve.
        return "\x00ls-refused" if command == "ls" else command

    async def write(self, msg: str) -> None:
        await self._inner.write(msg)


def _identify_for_points(host: IHost) -> StreamHandler:
    """Identify as a configured rendezvous point needs it: our key, addresses and
    signed peer record, no agent string, and only the protocols it may use with us."""
    from libp2p.identity.identify.identify import _mk_identify_protobuf
    from libp2p.utils import varint

    async def handle(stream: INetStream) -> None:
        # py-libp2p builds the message (key, addresses, signed peer record) only in this
        # private helper; what it would add beyond that is taken out again here
        message = _mk_identify_protobuf(host, None)
        message.agent_version = ""
        del message.protocols[:]
        message.protocols.extend(POINT_PROTOCOLS)
        body = message.SerializeToString()
        try:
            await stream.write(varint.encode_uvarint(len(body)) + body)
            await stream.close()
        except Exception as exc:
            log.debug("identify to rendezvous point broke: %s", exc)

    return handle


def _dialed_by_us(stream: INetStream) -> bool:
    """Whether the stream's connection is one this host opened (Yamux knows its side)."""
    return getattr(stream.muxed_conn, "is_initiator_value", False) is True


class FriendGate:
    """Decides, per inbound stream, which protocols a peer may reach.

    Args:
        host: the libp2p host whose swarm stream handler this replaces.
        is_trusted: peer ID -> whether it is a device of this or a friend household.
        on_refused: called with the peer and protocol when a stream is refused.
    """

    def __init__(
        self,
        host: IHost,
        is_trusted: Callable[[ID], bool],
        on_refused: Callable[[ID, str], None] | None = None,
    ) -> None:
        self._host = host
        self._is_trusted = is_trusted
        self._on_refused = on_refused
        self._trusted = _QuietMultiselect()
        self._open = _QuietMultiselect()
        self._point = _QuietMultiselect()
        self._point.add_handler(IDENTIFY, _identify_for_points(host))
        self._point.add_handler(PING, handle_ping)
        self._points: set[ID] = set()
        self._heard: dict[str, float] = {}
        host.get_network().set_stream_handler(self._handle)

    def last_heard(self, device: str) -> float | None:
        """When a trusted device last opened a stream to us (hello, ping, sync...), Unix time."""
        return self._heard.get(device)

    def allow_points(self, devices: Iterable[str]) -> None:
        """These configured rendezvous points may reach identify and ping on
        connections we dialed to them (a stock libp2p peer opens both at once)."""
        self._points = {ID.from_base58(d) for d in devices}

    def is_point(self, device: str) -> bool:
        return any(str(p) == device for p in self._points)

    def serve_friends(self, protocol: str, handler: StreamHandler) -> None:
        """Serve `protocol` to devices of friend households (and our own)."""
        self._trusted.add_handler(TProtocol(protocol), handler)

    def serve_anyone(self, protocol: str, handler: StreamHandler) -> None:
        """Serve `protocol` to strangers too; the handler must authenticate them itself."""
        self._trusted.add_handler(TProtocol(protocol), handler)
        self._open.add_handler(TProtocol(protocol), handler)

    async def _handle(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        trusted = self._is_trusted(peer)
        if trusted:
            self._heard[str(peer)] = time.time()
        point = not trusted and peer in self._points and _dialed_by_us(stream)
        mux = self._trusted if trusted else self._point if point else self._open
        try:
            protocol, handler = await mux.negotiate(
                MultiselectCommunicator(stream), NEGOTIATE_TIMEOUT
            )
        except Exception as exc:
            log.debug("stream from %s refused during negotiation: %s", peer, exc)
            await reset_quietly(stream)
            if not trusted and not point:
                await self.disconnect(peer, "stranger asked for a protocol it may not use")
            return
        if protocol is None or handler is None:
            await reset_quietly(stream)
            return
        stream.set_protocol(protocol)
        await handler(stream)

    async def disconnect(self, peer: ID, why: str) -> None:
        if self._on_refused is not None:
            self._on_refused(peer, why)
        log.info("closing connection to %s: %s", peer, why)
        with trio.move_on_after(5):
            try:
                await self._host.disconnect(peer)
            except Exception as exc:
                log.debug("disconnect %s failed: %s", peer, exc)


class _ConnectionWatcher(INotifee):
    def __init__(self, on_connected: Callable[[ID], None], on_closed: Callable[[ID], None]) -> None:
        self._on_connected = on_connected
        self._on_closed = on_closed

    async def connected(self, network: Any, conn: INetConn) -> None:
        self._on_connected(conn.muxed_conn.peer_id)

    async def disconnected(self, network: Any, conn: INetConn) -> None:
        self._on_closed(conn.muxed_conn.peer_id)

    async def opened_stream(self, network: Any, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: Any, stream: INetStream) -> None:
        pass

    async def listen(self, network: Any, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Multiaddr) -> None:
        pass


def watch_connections(
    host: IHost, on_connected: Callable[[ID], None], on_closed: Callable[[ID], None]
) -> None:
    """Call `on_connected(peer)` / `on_closed(peer)` as connections open and close."""
    host.get_network().register_notifee(_ConnectionWatcher(on_connected, on_closed))
