"""Liveness: the settings, the miss counter, the watch loop on a fake clock, pings on real hosts."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing
from libp2p.abc import IHost, INetConn
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from citizen.config import load_config
from citizen.errors import ConfigError
from citizen.net.host import FriendGate, new_host
from citizen.net.liveness import (
    PROTOCOL,
    LivenessService,
    LivenessSettings,
    LivenessStats,
    MissCounter,
    close_dead_connection,
    ping_connection,
)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
HANG = 30  # bounds a hung test; never a timing assumption

# -- settings and the counter (pure) -----------------------------------------------------


def test_keepalive_zero_turns_checking_off() -> None:
    assert LivenessSettings.from_keepalive(0) is None


@pytest.mark.parametrize(
    ("keepalive", "interval", "timeout"),
    [(30, 30.0, 10.0), (2, 2.0, 5.0), (15, 15.0, 5.0), (60, 60.0, 20.0), (3600, 3600.0, 30.0)],
)
def test_settings_follow_keepalive(keepalive: int, interval: float, timeout: float) -> None:
    settings = LivenessSettings.from_keepalive(keepalive)
    assert settings == LivenessSettings(interval=interval, timeout=timeout, misses=3)
    assert settings.gives_up_after == 3 * (interval + timeout)


def test_counter_needs_misses_in_a_row() -> None:
    counter = MissCounter(3)
    assert [counter.record(a) for a in (False, False, True, False, False)] == [False] * 5
    assert counter.record(False) is True
    assert counter.in_a_row == 3


def test_counter_of_one_gives_up_at_the_first_miss() -> None:
    assert MissCounter(1).record(False) is True
    with pytest.raises(ValueError):
        MissCounter(0)


def test_keepalive_config(tmp_path: Path) -> None:
    assert load_config(tmp_path).keepalive_s == 30  # no file: the default
    config = tmp_path / "config.toml"
    config.write_text("[network]\nkeepalive_s = 0\n")
    assert load_config(tmp_path).keepalive_s == 0
    for bad in ("-1", "3601", "true", "2.5", '"30"'):
        config.write_text(f"[network]\nkeepalive_s = {bad}\n")
        with pytest.raises(ConfigError, match="keepalive_s"):
            load_config(tmp_path)


# -- the watch loop, on trio's fake clock ------------------------------------------------


@dataclass(eq=False)
class FakeMuxed:
    peer_id: ID


@dataclass(eq=False)
class FakeConn:
    """A connection whose pings answer as `script` says, then while `alive`; counts them."""

    muxed_conn: FakeMuxed
    alive: bool = True
    script: list[bool] = field(default_factory=list)
    closed: bool = False
    pings: int = 0
    network: FakeNetwork | None = None

    @property
    def is_closed(self) -> bool:
        return self.closed

    def get_transport_addresses(self) -> list[Multiaddr]:
        return [Multiaddr("/ip4/192.0.2.1/tcp/4747")]


@dataclass
class FakeNetwork:
    conns: list[FakeConn] = field(default_factory=list)

    def get_connections(self) -> list[FakeConn]:
        return [c for c in self.conns if not c.closed]


class FakeHost:
    def __init__(self, network: FakeNetwork) -> None:
        self.network = network

    def get_network(self) -> FakeNetwork:
        return self.network


class FakeGate:
    def __init__(self) -> None:
        self.served: list[str] = []

    def serve_friends(self, protocol: str, handler: object) -> None:
        self.served.append(protocol)


async def _fake_ping(conn: INetConn, timeout: float) -> bool:
    fake: FakeConn = conn  # type: ignore[assignment]
    fake.pings += 1
    if fake.script.pop(0) if fake.script else fake.alive:
        return True
    await trio.sleep(timeout)  # a dead peer: the ping waits out its timeout
    return False


async def _fake_close(conn: INetConn) -> None:
    fake: FakeConn = conn  # type: ignore[assignment]
    fake.closed = True


FRIEND = ID(b"\x00\x24\x08\x01\x12\x20" + b"f" * 32)
STRANGER = ID(b"\x00\x24\x08\x01\x12\x20" + b"s" * 32)


def _service(network: FakeNetwork, keepalive: int = 30) -> tuple[LivenessService, FakeGate]:
    gate = FakeGate()
    service = LivenessService(
        FakeHost(network),  # type: ignore[arg-type]
        gate,  # type: ignore[arg-type]
        lambda peer: peer == FRIEND,
        keepalive,
        ping=_fake_ping,
        close=_fake_close,
    )
    return service, gate


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def test_only_the_dead_connection_of_a_friend_is_closed(
    mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    relayed, direct = FakeConn(FakeMuxed(FRIEND)), FakeConn(FakeMuxed(FRIEND))
    stranger = FakeConn(FakeMuxed(STRANGER))
    network = FakeNetwork([relayed, direct, stranger])
    service, gate = _service(network)
    assert gate.served == ["/ipfs/ping/1.0.0"]
    settings = service.settings
    assert settings is not None
    caplog.set_level(logging.INFO, logger="citizen.net.liveness")
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await trio.sleep(settings.interval * 10)
        assert not relayed.closed and not direct.closed  # healthy and idle: kept
        assert direct.pings >= 5
        direct.alive = False
        pings_before = direct.pings
        await trio.sleep(settings.gives_up_after + settings.interval)
        assert direct.closed and direct.pings - pings_before == settings.misses
        await trio.sleep(settings.interval * 10)
        assert not relayed.closed  # the peer's other connection still answers
        assert stranger.pings == 0  # strangers are the gate's business, never pinged
        assert service.statistics() == LivenessStats(
            watched=1, answered=relayed.pings + pings_before, closed_dead=1
        )
        nursery.cancel_scope.cancel()
    dead_lines = [r.getMessage() for r in caplog.records if "dead" in r.getMessage()]
    assert len(dead_lines) == 1
    assert str(FRIEND) in dead_lines[0] and "192.0.2.1" in dead_lines[0]


async def test_a_miss_between_answers_closes_nothing(mock_clock: trio.testing.MockClock) -> None:
    conn = FakeConn(FakeMuxed(FRIEND), script=[False, False, True] * 10, alive=False)
    service, _ = _service(FakeNetwork([conn]), keepalive=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        while conn.script:
            await trio.sleep(1)
        assert not conn.closed  # two misses, an answer, two misses, ...: kept
        while not conn.closed:  # and the three misses after the script end it
            await trio.sleep(1)
        assert conn.pings == 30 + 3
        nursery.cancel_scope.cancel()


async def test_connections_that_appear_later_are_watched_and_closed_ones_forgotten(
    mock_clock: trio.testing.MockClock,
) -> None:
    network = FakeNetwork()
    service, _ = _service(network)
    settings = service.settings
    assert settings is not None
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await trio.sleep(settings.interval * 3)
        late = FakeConn(FakeMuxed(FRIEND), alive=False)
        network.conns.append(late)
        await trio.sleep(settings.gives_up_after + 2 * settings.interval)
        assert late.closed
        gone = FakeConn(FakeMuxed(FRIEND))
        network.conns.append(gone)
        await trio.sleep(settings.interval * 3)
        assert service.statistics().watched == 1
        gone.closed = True  # closed elsewhere (the friend went away cleanly)
        await trio.sleep(settings.interval * 2)
        assert service.statistics().watched == 0
        assert service.statistics().closed_dead == 1
        nursery.cancel_scope.cancel()


async def test_keepalive_off_serves_ping_and_checks_nothing(
    mock_clock: trio.testing.MockClock,
) -> None:
    conn = FakeConn(FakeMuxed(FRIEND), alive=False)
    service, gate = _service(FakeNetwork([conn]), keepalive=0)
    assert gate.served == ["/ipfs/ping/1.0.0"]
    with trio.fail_after(1):
        await service.run()  # returns at once
    await trio.sleep(3600)
    assert conn.pings == 0 and not conn.closed


# -- pings on real hosts over loopback ----------------------------------------------------


@dataclass
class Node:
    host: IHost
    gate: FriendGate
    gone: list[ID] = field(default_factory=list)

    @property
    def id(self) -> ID:
        return self.host.get_id()


@asynccontextmanager
async def _hosts(*, serve_ping: list[bool]) -> AsyncIterator[list[Node]]:
    """Hosts that trust each other (but not outsiders); ping served where asked."""
    hosts = [new_host(os.urandom(32), [LOOPBACK]) for _ in serve_ping]
    ids = {h.get_id() for h in hosts}
    nodes = []
    for host, serve in zip(hosts, serve_ping, strict=True):
        gate = FriendGate(host, lambda p: p in ids)
        if serve:
            LivenessService(host, gate, lambda p: p in ids, 30)
        nodes.append(Node(host, gate))
    async with AsyncExitStack() as stack:
        for node in nodes:
            await stack.enter_async_context(node.host.run([Multiaddr(LOOPBACK)]))
        yield nodes


async def _connect(a: IHost, b: IHost) -> INetConn:
    await a.connect(PeerInfo(b.get_id(), b.get_addrs()))
    return a.get_network().get_connections(b.get_id())[0]


async def test_friends_answer_pings_on_the_connection_itself() -> None:
    with trio.fail_after(HANG):
        async with _hosts(serve_ping=[True, True]) as (a, b):
            conn = await _connect(a.host, b.host)
            for _ in range(3):
                assert await ping_connection(conn, 5.0)
            back = b.host.get_network().get_connections(a.id)[0]
            assert await ping_connection(back, 5.0)  # and the other way, same connection


async def test_a_friend_without_ping_still_counts_as_alive() -> None:
    with trio.fail_after(HANG):
        async with _hosts(serve_ping=[True, False]) as (a, b):
            conn = await _connect(a.host, b.host)
            assert await ping_connection(conn, 5.0)  # "na" is an answer
            assert not conn.is_closed


async def test_a_stranger_cannot_ping_and_is_disconnected() -> None:
    with trio.fail_after(HANG):
        async with _hosts(serve_ping=[True]) as (a,):
            stranger = new_host(os.urandom(32), [LOOPBACK])
            async with stranger.run([Multiaddr(LOOPBACK)]):
                await _connect(stranger, a.host)
                with pytest.raises(Exception):  # noqa: B017 - whichever way py-libp2p fails
                    await stranger.new_stream(a.id, [TProtocol(PROTOCOL)])
                while a.host.get_network().get_connections(stranger.get_id()):
                    await trio.sleep(0.05)  # the gate closes it


async def test_closing_a_dead_connection_tells_the_swarm_on_both_sides() -> None:
    with trio.fail_after(HANG):
        async with _hosts(serve_ping=[True, True]) as (a, b):
            conn = await _connect(a.host, b.host)
            await close_dead_connection(conn)
            assert conn.is_closed
            assert not a.host.get_network().get_connections(b.id)
            while b.host.get_network().get_connections(a.id):
                await trio.sleep(0.05)  # b reads the end of the TCP connection
