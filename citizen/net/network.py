"""What feature code sees of libp2p: our device, streams to and from devices, dialing, facts.

Features (friends, household, docs, objects, backup) never import libp2p;
`citizen.node` builds one `Network` over the host and the friend gate and
hands it to each of them. Devices are named by `DeviceId` (the base58 peer
ID) and addresses by multiaddr text, so nothing above this module handles a
py-libp2p type. A daemon started offline gets `OfflineNetwork`: the same
surface, serving nothing and reaching no one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import trio
from libp2p.abc import IHost
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from multiaddr import Multiaddr

from citizen.errors import ConfigError, UnreachableError
from citizen.ids import DeviceId
from citizen.net import conns
from citizen.net.conns import Kind
from citizen.net.host import FriendGate, advertised_addrs, new_host, watch_connections
from citizen.net.ports import check_ports_free
from citizen.net.rendezvous import service as rendezvous
from citizen.net.streams import Stream
from citizen.net.tasks import must_propagate

log = logging.getLogger(__name__)

Handler = Callable[[Stream], Awaitable[None]]
DIAL_TIMEOUT = 10.0


class Dialer(Protocol):
    """How to reach a device by its addresses (the NAT-aware dialer in `net.nat`)."""

    async def connect(self, device: DeviceId, addrs: list[str]) -> Kind: ...


class Network:
    """Streams and connection facts over one libp2p host behind the friend gate.

    Args:
        host: the libp2p host (not necessarily listening yet).
        gate: the friend-only gate installed on it.
        dialer: dials a device's addresses; by default the host's own dial.
        addrs: our addresses to advertise; by default the host's listen addresses.
    """

    def __init__(
        self,
        host: IHost,
        gate: FriendGate,
        *,
        dialer: Dialer | None = None,
        addrs: Callable[[], list[str]] | None = None,
    ) -> None:
        self.host = host
        self.gate = gate
        self.device = DeviceId(host.get_id().to_base58())
        self.dialer = dialer
        self._addrs = addrs or (lambda: advertised_addrs(host))

    online = True

    @asynccontextmanager
    async def listening(self, listen: Iterable[str]) -> AsyncIterator[list[str]]:
        """Listen on `listen` for the block; yields our advertised addresses.

        Raises:
            PortInUseError: another socket already listens on a port of `listen`
                (py-libp2p's SO_REUSEPORT would otherwise share it silently).
            OSError: a listen address is not ours.
        """
        listen = list(listen)
        check_ports_free(listen)
        try:
            async with self.host.run([Multiaddr(a) for a in listen]):
                try:
                    yield advertised_addrs(self.host)
                finally:
                    await self.close_connections()
        finally:
            await self._close_listeners()

    async def _close_listeners(self) -> None:
        """Close the host's listening sockets.

        py-libp2p 0.8.1 leaves them open when `host.run` ends; with its
        SO_REUSEPORT, a node started again on the same port in this process
        would silently share the port with the dead listener (and be refused
        by the probe in `citizen.net.ports`).
        """
        network: Any = self.host.get_network()
        with trio.move_on_after(5) as scope:
            scope.shield = True
            for listener in list(getattr(network, "listeners", {}).values()):
                try:
                    await listener.close()
                except Exception as exc:
                    log.debug("closing a listener: %s", exc)

    async def close_connections(self) -> None:
        """Close every connection, so friends see us go at once.

        py-libp2p's host leaves them open when it stops (only garbage collection
        closes them), which is invisible when the process exits but leaves an
        embedded node's friends sending into the void.
        """
        network: Any = self.host.get_network()
        with trio.move_on_after(5) as scope:
            scope.shield = True
            for peer in list(network.connections):
                try:
                    await network.close_peer(peer)
                except Exception as exc:
                    log.debug("closing the connections to %s: %s", peer, exc)

    # -- serving ----------------------------------------------------------------------------

    def serve_friends(self, protocol: str, handler: Handler) -> None:
        """Serve `protocol` to devices of friend households and our own."""
        self.gate.serve_friends(protocol, contained(protocol, handler))

    def serve_anyone(self, protocol: str, handler: Handler) -> None:
        """Serve `protocol` to strangers too; the handler must authenticate them itself."""
        self.gate.serve_anyone(protocol, contained(protocol, handler))

    def watch(
        self, on_connected: Callable[[DeviceId], None], on_closed: Callable[[DeviceId], None]
    ) -> None:
        """Call `on_connected(device)` / `on_closed(device)` as connections open and close."""
        watch_connections(
            self.host,
            lambda peer: on_connected(DeviceId(peer.to_base58())),
            lambda peer: on_closed(DeviceId(peer.to_base58())),
        )

    # -- reaching devices ---------------------------------------------------------------

    def addrs(self) -> list[str]:
        """Every address a friend should try for us (direct, mapped and relayed)."""
        return self._addrs()

    def listen_addrs(self) -> list[str]:
        """Our own listen addresses only (wildcards expanded), as a device on the LAN dials."""
        return advertised_addrs(self.host)

    def known_addrs(self, device: str) -> list[str]:
        """Addresses the host heard of for `device` (mDNS, identify), besides what we store."""
        try:
            return [str(a) for a in self.host.get_peerstore().addrs(conns.peer_id(device))]
        except Exception:
            return []  # the peerstore has no entry (yet)

    def remember_addrs(self, device: str, addrs: Iterable[str], ttl: int = 3600) -> None:
        """Tell the host where `device` is, for `ttl` seconds."""
        maddrs = [m for m in (_maddr(a) for a in addrs) if m is not None]
        self.host.get_peerstore().add_addrs(conns.peer_id(device), maddrs, ttl)

    async def dial(self, device: str, addrs: list[str]) -> None:
        """Connect to `device` at one of `addrs` (the dialer races direct and relayed ones).

        Raises:
            UnreachableError: no address worked, or none is a multiaddr.
        """
        maddrs = [m for m in (_maddr(a) for a in addrs) if m is not None]
        if not maddrs:
            raise UnreachableError(f"No usable address for {device}.")
        if self.dialer is not None:
            await self.dialer.connect(DeviceId(device), addrs)  # raises UnreachableError itself
            return
        try:
            with trio.fail_after(DIAL_TIMEOUT):
                await self.host.connect(PeerInfo(conns.peer_id(device), maddrs))
        except Exception as exc:
            raise UnreachableError(
                f"Could not reach {device} at {', '.join(addrs)}: {exc}",
                "Check that the other daemon runs and both are online.",
            ) from exc

    async def open_stream(self, device: str, protocol: str) -> Stream:
        """A new stream to `device` for `protocol` over an existing (or new) connection.

        Raises:
            Exception: whatever py-libp2p raises when the device cannot be reached
                or does not serve `protocol`; callers treat any as "not now".
        """
        stream: Stream = await self.host.new_stream(conns.peer_id(device), [TProtocol(protocol)])
        return stream

    async def disconnect(self, device: str, why: str) -> None:
        """Close every connection to `device`, saying why in the log."""
        await self.gate.disconnect(conns.peer_id(device), why)

    # -- rendezvous (friends' Pis serve it to each other) ---------------------------------

    def serve_rendezvous(self) -> rendezvous.RendezvousServer:
        """Serve the rendezvous protocol to friends; the server keeps the registrations."""
        server = rendezvous.RendezvousServer()
        self.gate.serve_friends(rendezvous.PROTOCOL_ID, server.handle_stream)
        return server

    async def rendezvous_discover(self, point: str, ns: str) -> list[tuple[DeviceId, list[str]]]:
        """Who is registered under `ns` at `point`, with their verified addresses.

        Raises:
            CitizenError: the point refused, could not be reached or answered garbage.
        """
        peers, _cookie = await rendezvous.discover(self.host, conns.peer_id(point), ns)
        return [(DeviceId(i.peer_id.to_base58()), [str(a) for a in i.addrs]) for i in peers]

    async def rendezvous_register(self, point: str, ns: str, addrs: list[str]) -> None:
        """Register our signed peer record with `addrs` under `ns` at `point`.

        Raises:
            CitizenError: the point refused, could not be reached or answered garbage.
        """
        maddrs = [m for m in (_maddr(a) for a in addrs) if m is not None]
        await rendezvous.register(self.host, conns.peer_id(point), ns, addrs=maddrs)

    # -- facts ----------------------------------------------------------------------------

    def connected(self, device: str) -> bool:
        """Whether any open connection to `device` exists now."""
        return bool(conns.open_connections(self.host, device))

    def connection_kind(self, device: str) -> Kind | None:
        """How we are connected to `device` now: "direct" wins over "relayed"; None if not."""
        return conns.connection_kind(self.host, device)

    def direct(self, device: str) -> bool:
        """Whether an open direct (not relayed) connection to `device` exists now."""
        return conns.has_direct_connection(self.host, device)

    async def close_replaced_connections(self, device: str, keep: Stream) -> None:
        """Close the other inbound direct connections from `device` than the one `keep` is on.

        A device dials and says hello when it has lost its connection to us; if it
        lost it because its address changed (a NAT router re-addressed at night),
        our side of the old connection only sends into the void and would take
        TCP's retransmission timeout (many minutes) to notice, while the swarm
        keeps opening streams on it.
        """
        hello_muxer = getattr(keep, "muxed_conn", None)
        for conn in conns.open_connections(self.host, device):
            if conn.muxed_conn is hello_muxer:
                continue
            if getattr(getattr(conn, "direction", None), "name", "") != "INBOUND":
                continue
            if conns.conn_kind(conn) == "relayed":
                continue
            log.info("closing %s's older connection it replaced", device)
            with trio.move_on_after(2):
                try:
                    await conn.close()
                except Exception as exc:
                    log.debug("closing the replaced connection to %s: %s", device, exc)


def contained(protocol: str, handler: Handler) -> Handler:
    """`handler`, with whatever it raises logged and its stream reset: one stream's failure
    never reaches py-libp2p's connection nursery (nor the daemon). Cancellation passes."""

    async def serve(stream: Stream) -> None:
        try:
            await handler(stream)
        except BaseException as exc:
            if must_propagate(exc):
                raise
            try:
                who = conns.remote_device(stream)
            except Exception:
                who = DeviceId("?")
            log.info("%s stream from %s failed: %s", protocol, who, exc, exc_info=True)
            await conns.reset_quietly(stream)

    return serve


class OfflineNetwork:
    """The `Network` of a daemon started with --offline: serves nothing, reaches no one."""

    online = False

    def __init__(self, device: DeviceId) -> None:
        self.device = device

    def serve_friends(self, protocol: str, handler: Handler) -> None:
        pass

    def serve_anyone(self, protocol: str, handler: Handler) -> None:
        pass

    def watch(
        self, on_connected: Callable[[DeviceId], None], on_closed: Callable[[DeviceId], None]
    ) -> None:
        pass

    def addrs(self) -> list[str]:
        return []

    def listen_addrs(self) -> list[str]:
        return []

    def known_addrs(self, device: str) -> list[str]:
        return []

    def remember_addrs(self, device: str, addrs: Iterable[str], ttl: int = 3600) -> None:
        pass

    async def dial(self, device: str, addrs: list[str]) -> None:
        raise _offline()

    async def open_stream(self, device: str, protocol: str) -> Stream:
        raise _offline()

    async def disconnect(self, device: str, why: str) -> None:
        pass

    def connected(self, device: str) -> bool:
        return False

    def connection_kind(self, device: str) -> Kind | None:
        return None

    def direct(self, device: str) -> bool:
        return False

    async def close_replaced_connections(self, device: str, keep: Stream) -> None:
        pass


def _offline() -> UnreachableError:
    return UnreachableError(
        "This daemon runs offline.", "Restart it without --offline to reach friends."
    )


def _maddr(text: str) -> Multiaddr | None:
    try:
        return Multiaddr(text)
    except Exception:
        log.debug("skipping bad address %r", text)
        return None


def parse_peer_addr(text: str) -> tuple[DeviceId, list[str]]:
    """A /p2p/PEERID multiaddr as the device and its addresses (rendezvous points in config).

    Raises:
        ConfigError: `text` is not a multiaddr ending in /p2p/PEERID.
    """
    try:
        info = info_from_p2p_addr(Multiaddr(text))
    except Exception as exc:
        raise ConfigError(
            f"The rendezvous point {text!r} is not a multiaddr with /p2p/PEERID.",
            "Fix network.rendezvous_points in config.toml.",
        ) from exc
    return DeviceId(info.peer_id.to_base58()), [str(a) for a in info.addrs]


#: what features are handed: the live network, or the offline one
Net = Network | OfflineNetwork


@asynccontextmanager
async def open_one_stream(
    seed: bytes, device: str, addrs: list[str], protocol: str, timeout: float
) -> AsyncIterator[Stream]:
    """A stream to `device` for `protocol` from a short-lived host keyed by `seed`.

    For a device that runs no daemon yet (joining a household): the host lives
    for the block only.

    Raises:
        UnreachableError: `device` could not be reached at `addrs` within `timeout`.
    """
    host = new_host(seed, ["/ip4/0.0.0.0/tcp/0"])
    async with host.run([Multiaddr("/ip4/0.0.0.0/tcp/0")]):
        peer = conns.peer_id(device)
        try:
            with trio.fail_after(timeout):
                await host.connect(PeerInfo(peer, [Multiaddr(a) for a in addrs]))
                stream: Stream = await host.new_stream(peer, [TProtocol(protocol)])
        except Exception as exc:
            raise UnreachableError(
                f"Could not reach the household's device: {exc}",
                "Check that its daemon runs and this device can reach it.",
            ) from exc
        yield stream
