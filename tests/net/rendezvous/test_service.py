"""Rendezvous over real libp2p hosts on loopback: A serves, B registers, C discovers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import libp2p
import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from multiaddr import Multiaddr

from citizen.errors import RemoteProtocolError, UnreachableError
from citizen.net.rendezvous.codec import (
    DiscoverResponse,
    FrameDecoder,
    Message,
    Register,
    RegisterResponse,
    ResponseStatus,
    encode_frame,
)
from citizen.net.rendezvous.registry import DEFAULT_TTL, MAX_TTL
from citizen.net.rendezvous.service import (
    PROTOCOL_ID,
    RendezvousError,
    RendezvousServer,
    discover,
    register,
    unregister,
    verify_signed_peer_record,
)

NS = "citizen/test-namespace"


def _new_host() -> IHost:
    key_pair = create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return libp2p.new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
    )


class Served:
    """A rendezvous server whose handler reports each finished stream."""

    def __init__(self, host: IHost) -> None:
        self.server = RendezvousServer()
        self._send, self._finished = trio.open_memory_channel[None](100)
        host.set_stream_handler(PROTOCOL_ID, self._handle)

    async def _handle(self, stream: INetStream) -> None:
        await self.server.handle_stream(stream)
        self._send.send_nowait(None)

    async def stream_finished(self) -> None:
        """Wait until the server is done with one more stream."""
        await self._finished.receive()


@asynccontextmanager
async def _hosts(count: int) -> AsyncIterator[list[IHost]]:
    async with AsyncExitStack() as stack:
        hosts = [_new_host() for _ in range(count)]
        for host in hosts:
            await stack.enter_async_context(host.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]))
        point = hosts[0]
        for client in hosts[1:]:
            await client.connect(PeerInfo(point.get_id(), point.get_addrs()))
        yield hosts


async def _raw_exchange(host: IHost, point: IHost, data: bytes) -> Message | None:
    """Send raw bytes on a new rendezvous stream; the reply, or None if the stream died."""
    stream = await host.new_stream(point.get_id(), [PROTOCOL_ID])
    decoder = FrameDecoder()
    try:
        await stream.write(data)
        while (msg := decoder.next_message()) is None:
            chunk = await stream.read(4096)
            if not chunk:
                return None
            decoder.feed(chunk)
        return msg
    except BaseLibp2pError:
        return None
    finally:
        try:
            await stream.close()
        except BaseLibp2pError:
            pass


async def test_register_and_discover_across_three_hosts() -> None:
    async with _hosts(3) as (a, b, c):
        Served(a)
        granted = await register(b, a.get_id(), NS)  # ttl 0: the point's default
        assert granted == DEFAULT_TTL

        peers, cookie = await discover(c, a.get_id(), NS)
        assert [p.peer_id for p in peers] == [b.get_id()]
        assert peers[0].addrs == b.get_transport_addrs()
        assert all("/p2p/" not in str(addr) for addr in peers[0].addrs)

        # the cookie returns only what is new since
        assert await discover(c, a.get_id(), NS, cookie=cookie) == ([], cookie)
        assert (await discover(c, a.get_id(), "citizen/another"))[0] == []


async def test_explicit_ttl_refresh_and_unregister() -> None:
    async with _hosts(3) as (a, b, c):
        served = Served(a)
        assert await register(b, a.get_id(), NS, ttl=600) == 600
        await served.stream_finished()
        _, cookie = await discover(c, a.get_id(), NS)
        await served.stream_finished()
        # a refresh (say, after an address change) shows up behind the cookie
        moved = Multiaddr(f"/ip4/127.0.0.2/tcp/4001/p2p/{b.get_id()}")
        assert await register(b, a.get_id(), NS, ttl=900, addrs=[moved]) == 900
        await served.stream_finished()
        peers, _ = await discover(c, a.get_id(), NS, cookie=cookie)
        await served.stream_finished()
        assert [(p.peer_id, p.addrs) for p in peers] == [
            (b.get_id(), [Multiaddr("/ip4/127.0.0.2/tcp/4001")])
        ]

        await unregister(b, a.get_id(), NS)
        await served.stream_finished()  # unregister has no reply: wait for the server
        assert (await discover(c, a.get_id(), NS))[0] == []


async def test_server_errors_surface_typed() -> None:
    async with _hosts(2) as (a, b):
        Served(a)
        with pytest.raises(RendezvousError) as refused:
            await register(b, a.get_id(), NS, ttl=MAX_TTL + 1)
        assert refused.value.status is ResponseStatus.E_INVALID_TTL
        assert "TTL" in refused.value.status_text

        with pytest.raises(RendezvousError) as bad_cookie:
            await discover(b, a.get_id(), NS, cookie=b"not a cookie")
        assert bad_cookie.value.status is ResponseStatus.E_INVALID_COOKIE
        assert bad_cookie.value.hint


async def test_record_for_another_peer_is_refused() -> None:
    async with _hosts(2) as (a, b):
        served = Served(a)
        stranger = create_new_key_pair()
        # a valid record of another peer, relayed by B
        theirs = seal_record(
            PeerRecord(_id(stranger), [Multiaddr("/ip4/127.0.0.1/tcp/1")]),
            stranger.private_key,
        ).marshal_envelope()
        # a record claiming to be B, signed by another key
        forged = seal_record(
            PeerRecord(b.get_id(), [Multiaddr("/ip4/127.0.0.1/tcp/1")]),
            stranger.private_key,
        ).marshal_envelope()
        for record in (theirs, forged, b"not an envelope"):
            reply = await _raw_exchange(b, a, encode_frame(Register(NS, record)))
            assert isinstance(reply, RegisterResponse)
            assert reply.status is ResponseStatus.E_INVALID_SIGNED_PEER_RECORD
            await served.stream_finished()
        assert len(served.server.registry) == 0


async def test_oversize_or_malformed_frame_drops_the_stream_not_the_server() -> None:
    async with _hosts(3) as (a, b, c):
        served = Served(a)
        oversize = b"\x80\x80\x40" + b"\x00" * 100  # length prefix of 1 MiB
        assert await _raw_exchange(b, a, oversize) is None
        await served.stream_finished()
        unknown_type = b"\x02\x08\x09"  # a frame holding message type 9
        assert await _raw_exchange(b, a, unknown_type) is None
        await served.stream_finished()
        response_to_server = encode_frame(RegisterResponse(ResponseStatus.OK))
        assert await _raw_exchange(b, a, response_to_server) is None
        await served.stream_finished()

        assert await register(b, a.get_id(), NS) == DEFAULT_TTL
        peers, _ = await discover(c, a.get_id(), NS)
        assert [p.peer_id for p in peers] == [b.get_id()]


async def test_several_requests_on_one_stream() -> None:
    async with _hosts(2) as (a, b):
        Served(a)
        record = seal_record(PeerRecord(b.get_id(), []), b.get_private_key()).marshal_envelope()
        stream = await b.new_stream(a.get_id(), [PROTOCOL_ID])
        await stream.write(encode_frame(Register(NS, record)) + encode_frame(Register(NS, record)))
        decoder = FrameDecoder()
        replies: list[Message] = []
        while len(replies) < 2:
            decoder.feed(await stream.read(4096))
            while (msg := decoder.next_message()) is not None:
                replies.append(msg)
        await stream.close()
        assert replies == [RegisterResponse(ResponseStatus.OK, ttl=DEFAULT_TTL)] * 2


async def test_client_drops_registrations_it_cannot_verify() -> None:
    async with _hosts(2) as (a, b):
        honest = create_new_key_pair()
        stranger = create_new_key_pair()
        addr = Multiaddr("/ip4/127.0.0.1/tcp/4001")
        good = seal_record(PeerRecord(_id(honest), [addr]), honest.private_key).marshal_envelope()
        forged = seal_record(
            PeerRecord(_id(honest), [addr]), stranger.private_key
        ).marshal_envelope()
        answer = DiscoverResponse(
            registrations=(
                Register(NS, forged, 60),
                Register("citizen/elsewhere", good, 60),
                Register(NS, b"garbage", 60),
                Register(NS, good, 60),
            ),
            cookie=b"next",
        )

        async def rogue_point(stream: INetStream) -> None:
            decoder = FrameDecoder()
            while decoder.next_message() is None:
                decoder.feed(await stream.read(4096))
            await stream.write(encode_frame(answer))
            await stream.close()

        a.set_stream_handler(PROTOCOL_ID, rogue_point)
        peers, cookie = await discover(b, a.get_id(), NS)
        assert [(p.peer_id, p.addrs) for p in peers] == [(_id(honest), [addr])]
        assert cookie == b"next"


async def test_unreachable_point() -> None:
    async with _hosts(1) as (a,):
        nobody = _id(create_new_key_pair())
        with pytest.raises(UnreachableError):
            await discover(a, nobody, NS)


def test_verify_signed_peer_record() -> None:
    keys = create_new_key_pair()
    me = _id(keys)
    addr = Multiaddr("/ip4/127.0.0.1/tcp/4001")
    envelope = seal_record(PeerRecord(me, [addr]), keys.private_key).marshal_envelope()
    record = verify_signed_peer_record(envelope, expected=me)
    assert record.peer_id == me
    assert record.addrs == [addr]
    with pytest.raises(RemoteProtocolError, match="another peer"):
        verify_signed_peer_record(envelope, expected=_id(create_new_key_pair()))
    tampered = envelope[:-1] + bytes([envelope[-1] ^ 1])
    with pytest.raises(RemoteProtocolError):
        verify_signed_peer_record(tampered)


def _id(keys: KeyPair) -> ID:
    return ID.from_pubkey(keys.public_key)
