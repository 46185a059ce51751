"""The friend gate and a configured rendezvous point that runs a stock libp2p stack.

Such a point opens identify and ping on the connection we dialed to it; it
gets exactly those two there, and nothing else, and is not dropped.
"""

from __future__ import annotations

import os

import libp2p
import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.identity.identify.identify import parse_identify_response
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.utils import decode_varint_with_size
from multiaddr import Multiaddr

from citizen.net.host import IDENTIFY, PING, POINT_PROTOCOLS, FriendGate, new_host

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
HANG = 30  # bounds a hung test; never a timing assumption
FRIENDS_ONLY = "/citizen/docs/1"


async def _read_all(stream: INetStream) -> bytes:
    data = b""
    try:
        while chunk := await stream.read(4096):
            data += chunk
    except StreamEOF:
        pass
    return data


async def _refused(host: IHost, peer: ID, protocol: str) -> bool:
    try:
        stream = await host.new_stream(peer, [TProtocol(protocol)])
    except Exception:
        return True
    try:
        return await stream.read(1) == b""
    except Exception:
        return True


async def _dial(host: IHost, other: IHost) -> None:
    await host.connect(PeerInfo(other.get_id(), other.get_addrs()))


async def _served(_stream: INetStream) -> None:
    raise AssertionError("a friends-only protocol was reached")


@pytest.mark.parametrize("configured", [True, False])
async def test_a_point_we_dialed_gets_identify_and_ping_only(configured: bool) -> None:
    me = new_host(os.urandom(32), [LOOPBACK])
    point = libp2p.new_host()  # a stock stack: identify and ping served, asked for at once
    gate = FriendGate(me, lambda _peer: False)
    gate.serve_friends(FRIENDS_ONLY, _served)
    if configured:
        gate.allow_points([str(point.get_id())])
    with trio.fail_after(HANG):
        async with me.run([Multiaddr(LOOPBACK)]), point.run([Multiaddr(LOOPBACK)]):
            await _dial(me, point)
            if not configured:
                # a stranger asking for identify is dropped (it learns nothing)
                assert await _refused(point, me.get_id(), IDENTIFY)
                while me.get_network().connections.get(point.get_id()):
                    await trio.sleep(0.01)
                return
            stream = await point.new_stream(me.get_id(), [IDENTIFY])
            raw = await _read_all(stream)
            size, used = decode_varint_with_size(raw)
            identify = parse_identify_response(raw[used : used + size])
            assert identify.agent_version == ""
            assert tuple(identify.protocols) == POINT_PROTOCOLS
            assert identify.public_key == me.get_public_key().serialize()

            ping = await point.new_stream(me.get_id(), [PING])
            payload = os.urandom(32)
            await ping.write(payload)
            assert await ping.read(32) == payload
            await ping.close()

            # anything else is refused, and the point stays connected
            assert await _refused(point, me.get_id(), FRIENDS_ONLY)
            assert await _refused(point, me.get_id(), "/citizen/hello/1")
            assert me.get_network().connections.get(point.get_id())


async def test_a_point_that_dialed_us_is_a_stranger() -> None:
    me = new_host(os.urandom(32), [LOOPBACK])
    point = libp2p.new_host()
    gate = FriendGate(me, lambda _peer: False)
    gate.allow_points([str(point.get_id())])
    with trio.fail_after(HANG):
        async with me.run([Multiaddr(LOOPBACK)]), point.run([Multiaddr(LOOPBACK)]):
            await _dial(point, me)
            assert await _refused(point, me.get_id(), IDENTIFY)
