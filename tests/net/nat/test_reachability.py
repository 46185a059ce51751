"""Reachability over real libp2p hosts on loopback: dialback, relay reservations, relayed dials.

A relays (and is reachable), B pretends to be behind a NAT (it advertises a
port nobody listens on, so dialbacks to it fail), C dials B through A, S is a
stranger to everyone. All hosts are `new_host` + `FriendGate`, as in the daemon.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from multiaddr import Multiaddr

from citizen.errors import UnreachableError
from citizen.ids import DeviceId, HouseholdId
from citizen.net.host import FriendGate, advertised_addrs, new_host
from citizen.net.nat import dialback_codec as dc
from citizen.net.nat.reachability import (
    ReachabilityService,
    RelayOptions,
    circuit_addr,
    summarize,
)

ECHO = "/test/echo/1"
SINK = "/test/sink/1"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"
UNREACHABLE = "/ip4/127.0.0.1/tcp/1"  # nothing listens there: a NATed device's listen port
HANG = 30  # bounds a hung test; never a timing assumption


@dataclass
class Peer:
    host: IHost
    gate: FriendGate
    reach: ReachabilityService | None

    @property
    def id(self) -> ID:
        return self.host.get_id()

    @property
    def device(self) -> DeviceId:
        return DeviceId(self.id.to_base58())

    @property
    def r(self) -> ReachabilityService:
        assert self.reach is not None
        return self.reach

    def info(self) -> PeerInfo:
        return PeerInfo(self.id, self.host.get_addrs())


async def _echo(stream: INetStream) -> None:
    data = await stream.read(1024)
    await stream.write(b"echo:" + data)
    await stream.close()


async def _sink(stream: INetStream) -> None:
    """Read to the end, then answer with the number of bytes read."""
    total = 0
    while True:
        try:
            chunk = await stream.read(65536)
        except Exception:  # py-libp2p signals the end of a stream with StreamEOF
            break
        if not chunk:
            break
        total += len(chunk)
    await stream.write(str(total).encode())
    await stream.close()


AddrsOf = Callable[[IHost], list[str]]
Role = tuple[bool, AddrsOf | None, RelayOptions]


@asynccontextmanager
async def _network(spec: Mapping[str, Role]) -> AsyncIterator[dict[str, Peer]]:
    """Hosts named in `spec`: (trusted by the others, its direct addrs or None for no service)."""
    hosts = {name: new_host(os.urandom(32), [LOOPBACK]) for name in spec}
    friends = {hosts[n].get_id() for n, (trusted, _, _) in spec.items() if trusted}
    peers: dict[str, Peer] = {}
    for name, (_, addrs, options) in spec.items():
        host = hosts[name]
        gate = FriendGate(host, lambda p: p in friends)
        gate.serve_friends(ECHO, _echo)
        gate.serve_friends(SINK, _sink)
        reach = None
        if addrs is not None:
            reach = ReachabilityService(host, gate, _bound(addrs, host), options)
        peers[name] = Peer(host, gate, reach)
    async with AsyncExitStack() as stack:
        for peer in peers.values():
            await stack.enter_async_context(peer.host.run([Multiaddr(LOOPBACK)]))
        async with trio.open_nursery() as nursery:
            for peer in peers.values():
                if peer.reach is not None:
                    await nursery.start(peer.reach.run)
            yield peers
            nursery.cancel_scope.cancel()


def _bound(addrs: AddrsOf, host: IHost) -> Callable[[], list[str]]:
    return lambda: addrs(host)


def _real(host: IHost) -> list[str]:
    return advertised_addrs(host)


def _natted(_host: IHost) -> list[str]:
    return [UNREACHABLE]


async def _until(reach: ReachabilityService, check: Callable[[], bool]) -> None:
    with trio.fail_after(HANG):
        while not check():
            await reach.wait_changed()


async def _ready(a: Peer, b: Peer) -> None:
    """What FriendsService does after hello: tell both services the other is online."""
    hh = HouseholdId("test")
    if a.reach is not None:
        await a.reach.peer_ready(b.device, hh)
    if b.reach is not None:
        await b.reach.peer_ready(a.device, hh)


async def _echo_through(src: Peer, dst: Peer, payload: bytes) -> bytes:
    with trio.fail_after(HANG):
        stream = await src.host.new_stream(dst.id, [TProtocol(ECHO)])
        await stream.write(payload)
        return bytes(await stream.read(1024))


async def test_dialback_relay_reservation_and_relayed_dial() -> None:
    spec: dict[str, Role] = {
        "a": (True, _real, RelayOptions()),
        "b": (True, _natted, RelayOptions()),
        "c": (True, _natted, RelayOptions()),
    }
    async with _network(spec) as p:
        a, b, c = p["a"], p["b"], p["c"]
        with trio.fail_after(HANG):
            await b.host.connect(a.info())  # B dials out to A: A is reachable from B
        await _ready(a, b)

        # B asked A for a dialback: A saw B at 127.0.0.1 and could not reach B's port
        await _until(b.r, lambda: b.r.reachability().state == "behind_nat")
        rb = b.r.reachability()
        assert rb.checked_by == 1 and rb.reached == ()
        assert rb.observed and rb.observed[0].startswith("/ip4/127.0.0.1/tcp/")
        # A asked B: B reached A's real listen address on a fresh connection
        await _until(a.r, lambda: a.r.reachability().state == "public")
        assert a.r.reachability().reached == tuple(
            dc.dialback_candidates("/ip4/127.0.0.1/tcp/9", tuple(advertised_addrs(a.host)))
        )

        # B (behind NAT) reserves at A and advertises a relayed address; A (public) does not
        await _until(b.r, lambda: bool(b.r.relay_addrs()))
        [relayed] = b.r.relay_addrs()
        assert relayed.endswith(f"/p2p/{a.id}/p2p-circuit")
        assert b.r.addrs() == [UNREACHABLE, relayed]
        assert a.r.relay_addrs() == []
        assert a.r.statistics().relaying_for == 1

        # C, a friend of A and B, reaches B only through A
        with trio.fail_after(HANG):
            await c.host.connect(a.info())
            kind = await c.r.connect(b.id.to_base58(), b.r.addrs())
        assert kind == "relayed"
        assert await _echo_through(c, b, b"over the relay") == b"echo:over the relay"
        assert c.r.connection_kind(b.id) == "relayed"
        assert b.r.connection_kind(c.id) == "relayed"
        assert c.r.connection_kind(a.id) == "direct"


async def test_relay_refuses_strangers_and_devices_without_reservation() -> None:
    spec: dict[str, Role] = {
        "a": (True, _real, RelayOptions()),
        "c": (True, _natted, RelayOptions()),
        "s": (False, None, RelayOptions()),
    }
    async with _network(spec) as p:
        a, c, s = p["a"], p["c"], p["s"]
        with trio.fail_after(HANG):
            await s.host.connect(a.info())
        # a stranger cannot even open the hop protocol, let alone reserve
        with pytest.raises(Exception), trio.fail_after(HANG):  # noqa: B017 - any refusal
            await s.host.new_stream(a.id, [HOP_PROTOCOL])
        assert a.r.statistics().relaying_for == 0
        # a friend asking for a circuit to a device with no reservation is refused
        with trio.fail_after(HANG):
            await c.host.connect(a.info())
        nobody = new_host(os.urandom(32), [LOOPBACK]).get_id()
        via_a = circuit_addr(str(a.host.get_addrs()[0]), a.id.to_base58())
        with pytest.raises(UnreachableError, match="Could not reach"):
            await c.r.connect(nobody.to_base58(), [via_a])


async def test_relay_resets_a_circuit_past_its_data_limit() -> None:
    small = RelayOptions(circuit_bytes=64 * 1024)
    spec: dict[str, Role] = {
        "a": (True, _real, small),
        "b": (True, _natted, RelayOptions()),
        "c": (True, _natted, RelayOptions()),
    }
    async with _network(spec) as p:
        a, b, c = p["a"], p["b"], p["c"]
        with trio.fail_after(HANG):
            await b.host.connect(a.info())
        await _ready(a, b)
        await _until(b.r, lambda: bool(b.r.relay_addrs()))
        with trio.fail_after(HANG):
            await c.host.connect(a.info())
            await c.r.connect(b.id.to_base58(), b.r.relay_addrs())
        assert await _echo_through(c, b, b"small") == b"echo:small"

        async def send(size: int) -> bytes:
            with trio.fail_after(HANG):
                stream = await c.host.new_stream(b.id, [TProtocol(SINK)])
                await stream.write(b"x" * size)
                await stream.close()
                return bytes(await stream.read(64))

        assert await send(1000) == b"1000"
        # the relay counts both directions of the circuit together: 256 KiB cannot pass
        with pytest.raises(Exception):  # noqa: B017 - a reset surfaces as various errors
            await send(256 * 1024)


# -- pure parts ---------------------------------------------------------------------------


def _result(observed: str, reached: tuple[str, ...], tried: tuple[str, ...]) -> dc.DialResult:
    return dc.DialResult(observed, reached, tried)


def test_summarize() -> None:
    d1, d2, d3 = DeviceId("d1"), DeviceId("d2"), DeviceId("d3")
    assert summarize({}).state == "unknown"
    relayed_only = {d3: _result("", (), ())}
    assert summarize(relayed_only).state == "unknown"
    nat = {d1: _result("/ip4/1.2.3.4/tcp/5", (), ("/ip4/1.2.3.4/tcp/4747",))}
    assert summarize(nat) == summarize(nat | relayed_only)
    assert summarize(nat).state == "behind_nat"
    assert summarize(nat).observed == ("/ip4/1.2.3.4/tcp/5",)
    public = {
        d2: _result("/ip4/1.2.3.4/tcp/6", ("/ip4/1.2.3.4/tcp/4747",), ("/ip4/1.2.3.4/tcp/4747",))
    }
    both = summarize(nat | public | {d3: _result("/ip4/1.2.3.4/tcp/5", (), ())})
    assert summarize(public).state == "public"
    assert both.state == "public" and both.checked_by == 2
    assert both.observed == ("/ip4/1.2.3.4/tcp/5", "/ip4/1.2.3.4/tcp/6")
    assert both.reached == ("/ip4/1.2.3.4/tcp/4747",)


def test_circuit_addr() -> None:
    assert circuit_addr("/ip4/10.0.0.1/tcp/4747", "R") == "/ip4/10.0.0.1/tcp/4747/p2p/R/p2p-circuit"
    assert (
        circuit_addr("/ip4/10.0.0.1/tcp/4747/p2p/R", "R")
        == "/ip4/10.0.0.1/tcp/4747/p2p/R/p2p-circuit"
    )
