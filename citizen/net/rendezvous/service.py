"""Rendezvous over libp2p: serve `/rendezvous/1.0.0` and register/discover/unregister at a point.

The trio shell around `rendezvous_codec` (bytes <-> messages) and
`rendezvous_state` (the registry). It does the parts that need libp2p:
sealing our signed peer record (a signed envelope of a libp2p PeerRecord,
domain "libp2p-peer-record") and verifying others', including that the
record's peer ID is the key that signed it and, on the server, the peer on
the other end of the stream. Registering anyone but oneself is refused.

The daemon wires `RendezvousServer.handle_stream` behind its friend-only
gate; this module never installs stream handlers itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.envelope import consume_envelope, seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PEER_RECORD_ENVELOPE_DOMAIN, PeerRecord
from libp2p.peer.peerinfo import PeerInfo
from libp2p.stream_muxer.exceptions import MuxedStreamEOF
from multiaddr import Multiaddr

from citizen.errors import (
    CitizenError,
    LocalProtocolError,
    RemoteProtocolError,
    UnreachableError,
)
from citizen.net.conns import close_quietly, reset_quietly
from citizen.net.rendezvous.codec import (
    MAX_FRAME_SIZE,
    MAX_RESPONSE_FRAME_SIZE,
    Discover,
    DiscoverResponse,
    FrameDecoder,
    Message,
    Register,
    RegisterResponse,
    ResponseStatus,
    Unregister,
    encode_frame,
)
from citizen.net.rendezvous.registry import MAX_NAMESPACE_BYTES, Registry

log = logging.getLogger(__name__)

PROTOCOL_ID = TProtocol("/rendezvous/1.0.0")
#: How long a request may take: a peer that stalls mid-request loses the stream.
REQUEST_TIMEOUT = 30.0
_READ_SIZE = 16 * 1024
_P2P_CODE = 0x01A5  # multicodec of the /p2p/<peer id> address component
#: What a broken connection or stream raises below libp2p's own error types.
_TRANSPORT_ERRORS = (BaseLibp2pError, trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_REQUEST_ERRORS = (*_TRANSPORT_ERRORS, trio.TooSlowError)


class RendezvousError(CitizenError):
    """The rendezvous point answered a request with an error status.

    Attributes:
        status: the spec's ResponseStatus (never OK).
        status_text: the point's explanation, possibly empty.
    """

    code = "rendezvous"

    def __init__(self, status: ResponseStatus, status_text: str) -> None:
        text = f": {status_text}" if status_text else "."
        super().__init__(
            f"The rendezvous point refused the request ({status.name}){text}",
            _HINTS.get(status, ""),
        )
        self.status = status
        self.status_text = status_text


_HINTS = {
    ResponseStatus.E_INVALID_COOKIE: "Discover again without a cookie.",
    ResponseStatus.E_UNAVAILABLE: "Try again later or use another rendezvous point.",
    ResponseStatus.E_INTERNAL_ERROR: "Try again later or use another rendezvous point.",
}


# -- server --------------------------------------------------------------------------


class RendezvousServer:
    """Serves the rendezvous protocol from one in-memory `Registry`.

    Args:
        registry: the registrations; a fresh one with default limits if omitted.
        clock: monotonic seconds for TTLs; `trio.current_time` if omitted.
    """

    def __init__(
        self, registry: Registry | None = None, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.registry = registry if registry is not None else Registry()
        self._clock = clock if clock is not None else trio.current_time

    async def handle_stream(self, stream: INetStream) -> None:
        """Answer requests on `stream` until the client closes it.

        Never raises for anything the client does: a malformed, oversize or
        out-of-place message, a stall or a broken stream resets this stream
        only and leaves the registry as it was.
        """
        peer = stream.muxed_conn.peer_id
        decoder = FrameDecoder(max_size=MAX_FRAME_SIZE)
        try:
            while True:
                with trio.fail_after(REQUEST_TIMEOUT):
                    msg = await _receive(stream, decoder)
                if msg is None:
                    break
                reply = self._answer(peer, msg)
                if reply is not None:
                    await stream.write(encode_frame(reply))
        except (CitizenError, trio.TooSlowError) as exc:
            log.info("rendezvous stream from %s dropped: %s", peer, exc)
            await reset_quietly(stream)
            return
        except _TRANSPORT_ERRORS as exc:
            log.debug("rendezvous stream from %s broke: %s", peer, exc)
            await reset_quietly(stream)
            return
        await close_quietly(stream)

    def _answer(self, peer: ID, msg: Message) -> Message | None:
        now = self._clock()
        match msg:
            case Register(ns=ns, signed_peer_record=record, ttl=ttl):
                try:
                    verify_signed_peer_record(record, expected=peer)
                except RemoteProtocolError as exc:
                    return RegisterResponse(
                        ResponseStatus.E_INVALID_SIGNED_PEER_RECORD, exc.message
                    )
                return self.registry.register(ns, peer.to_base58(), record, ttl, now)
            case Unregister(ns=ns):
                self.registry.unregister(ns, peer.to_base58())
                return None
            case Discover(ns=ns, limit=limit, cookie=cookie):
                return self.registry.discover(ns, limit, cookie, now)
            case RegisterResponse() | DiscoverResponse():
                raise RemoteProtocolError("A rendezvous client sent a response message.")


# -- client --------------------------------------------------------------------------


async def register(
    host: IHost,
    rendezvous_peer: ID,
    ns: str,
    ttl: int = 0,
    *,
    addrs: Sequence[Multiaddr] | None = None,
) -> int:
    """Register this host's signed peer record under `ns` at `rendezvous_peer`.

    Args:
        ttl: seconds to stay registered; 0 asks for the point's default (2 h).
        addrs: addresses to advertise; `host.get_addrs()` if omitted.

    Returns:
        The TTL the point granted, in seconds: register again before it ends.

    Raises:
        RendezvousError: the point refused (bad namespace or TTL, too many registrations...).
        UnreachableError: the point could not be reached or did not answer in time.
        RemoteProtocolError: the point answered something malformed.
        LocalProtocolError: `ns` is empty or longer than 255 bytes.
    """
    _check_namespace(ns)
    record = PeerRecord(
        host.get_id(), [_without_p2p(a) for a in (host.get_addrs() if addrs is None else addrs)]
    )
    envelope = seal_record(record, host.get_private_key())
    request = Register(ns=ns, signed_peer_record=envelope.marshal_envelope(), ttl=ttl)
    match await _request(host, rendezvous_peer, request):
        case RegisterResponse(status=ResponseStatus.OK, ttl=granted):
            return granted
        case RegisterResponse(status=status, status_text=text):
            raise RendezvousError(status, text)
        case _:
            raise RemoteProtocolError("The rendezvous point answered REGISTER with another type.")


async def discover(
    host: IHost, rendezvous_peer: ID, ns: str, limit: int = 100, cookie: bytes = b""
) -> tuple[list[PeerInfo], bytes]:
    """Peers registered under `ns` at `rendezvous_peer`, and the cookie for the next call.

    Pass the returned cookie back to get the next page, or later to get only
    registrations made or refreshed since. Each returned peer's record was
    verified (signature, and peer ID matching the signing key); registrations
    that fail are dropped and logged. Our own registration is included if present.

    Raises:
        RendezvousError: the point refused (E_INVALID_COOKIE: retry without a cookie).
        UnreachableError: the point could not be reached or did not answer in time.
        RemoteProtocolError: the point answered something malformed.
        LocalProtocolError: `ns` is empty or longer than 255 bytes.
    """
    _check_namespace(ns)
    response = await _request(host, rendezvous_peer, Discover(ns=ns, limit=limit, cookie=cookie))
    match response:
        case DiscoverResponse(status=ResponseStatus.OK):
            return _verified_peers(rendezvous_peer, ns, response.registrations), response.cookie
        case DiscoverResponse(status=status, status_text=text):
            raise RendezvousError(status, text)
        case _:
            raise RemoteProtocolError("The rendezvous point answered DISCOVER with another type.")


async def unregister(host: IHost, rendezvous_peer: ID, ns: str) -> None:
    """Drop this host's registration under `ns` at `rendezvous_peer` (the spec sends no reply).

    Raises:
        UnreachableError: the point could not be reached.
        LocalProtocolError: `ns` is empty or longer than 255 bytes.
    """
    _check_namespace(ns)
    frame = encode_frame(Unregister(ns=ns))
    try:
        with trio.fail_after(REQUEST_TIMEOUT):
            stream = await host.new_stream(rendezvous_peer, [PROTOCOL_ID])
            try:
                await stream.write(frame)
            finally:
                await close_quietly(stream)
    except _REQUEST_ERRORS as exc:
        raise _unreachable(rendezvous_peer, exc) from exc


def verify_signed_peer_record(data: bytes, expected: ID | None = None) -> PeerRecord:
    """Open a signed peer record envelope and check who it speaks for.

    Args:
        data: a marshalled libp2p signed envelope holding a PeerRecord.
        expected: if given, the peer the record must describe.

    Raises:
        RemoteProtocolError: not an envelope, bad signature, not a PeerRecord,
            signed by a key other than the record's peer ID, or for another peer.
    """
    try:
        envelope, record = consume_envelope(data, PEER_RECORD_ENVELOPE_DOMAIN)
        signer = ID.from_pubkey(envelope.public_key)
        peer_id = record.peer_id
    except Exception as exc:  # libp2p and protobuf raise many types for garbage
        raise RemoteProtocolError(f"The signed peer record is invalid: {exc}") from exc
    if peer_id != signer:
        raise RemoteProtocolError("The peer record is signed by a key that is not its peer's.")
    if expected is not None and peer_id != expected:
        raise RemoteProtocolError(
            "The peer record describes another peer than the one registering it."
        )
    return record


def _verified_peers(
    rendezvous_peer: ID, ns: str, registrations: Sequence[Register]
) -> list[PeerInfo]:
    peers: list[PeerInfo] = []
    for reg in registrations:
        if reg.ns != ns:
            log.info("rendezvous point %s answered with another namespace", rendezvous_peer)
            continue
        try:
            record = verify_signed_peer_record(reg.signed_peer_record)
        except RemoteProtocolError as exc:
            log.info("dropping a registration from rendezvous point %s: %s", rendezvous_peer, exc)
            continue
        peers.append(PeerInfo(record.peer_id, record.addrs))
    return peers


async def _request(host: IHost, rendezvous_peer: ID, request: Message) -> Message:
    frame = encode_frame(request)
    try:
        with trio.fail_after(REQUEST_TIMEOUT):
            stream = await host.new_stream(rendezvous_peer, [PROTOCOL_ID])
            try:
                await stream.write(frame)
                response = await _receive(stream, FrameDecoder(max_size=MAX_RESPONSE_FRAME_SIZE))
            finally:
                await close_quietly(stream)
    except _REQUEST_ERRORS as exc:
        raise _unreachable(rendezvous_peer, exc) from exc
    if response is None:
        raise RemoteProtocolError("The rendezvous point closed the stream without answering.")
    return response


async def _receive(stream: INetStream, decoder: FrameDecoder) -> Message | None:
    """The next message on `stream`, or None at a clean end of stream."""
    while True:
        msg = decoder.next_message()
        if msg is not None:
            return msg
        try:
            data = await stream.read(_READ_SIZE)
        except (StreamEOF, MuxedStreamEOF):
            data = b""
        if not data:
            if decoder.buffered:
                raise RemoteProtocolError("The rendezvous stream ended inside a message.")
            return None
        decoder.feed(data)


def _check_namespace(ns: str) -> None:
    if not ns or len(ns.encode("utf-8")) > MAX_NAMESPACE_BYTES:
        raise LocalProtocolError(
            f"A rendezvous namespace is 1 to {MAX_NAMESPACE_BYTES} bytes, not {ns!r}."
        )


def _without_p2p(addr: Multiaddr) -> Multiaddr:
    # Peer records carry transport addresses; the peer ID is the record's own field.
    return addr.decapsulate_code(_P2P_CODE)


def _unreachable(peer: ID, exc: BaseException) -> UnreachableError:
    return UnreachableError(
        f"Rendezvous point {peer} could not be reached: {exc or type(exc).__name__}",
        "Check that it is online, or use another rendezvous point.",
    )
