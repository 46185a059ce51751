"""NAT-PMP (RFC 6886) packets: bytes <-> typed messages, pure, no I/O.

A client asks the home router (UDP port 5351 on the default gateway) for its
external IPv4 address and for TCP/UDP port mappings with a lifetime; lifetime
0 deletes a mapping. Every reply starts with version 0, the request's opcode
plus 128, a result code and the router's seconds-since-start epoch. Both
directions are here: `encode`/`decode_response` are what a client uses,
`decode_request`/`encode` of responses let tests play the router.

`decode_response` raises only `NatPmpError` (a `RemoteProtocolError`): a
short, oversized, wrong-version or wrong-opcode packet is malformed; a
well-formed reply with a non-zero result raises its subclass
`NatPmpRefusedError`, which carries the result code.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum

from citizen.errors import LocalProtocolError, RemoteProtocolError

PORT = 5351
VERSION = 0
RESPONSE_BIT = 128
MAX_PACKET = 1100  # RFC 6886: a client should accept (and ignore the rest of) up to 1100 bytes
MAX_LIFETIME = 0xFFFFFFFF

OP_EXTERNAL_ADDRESS = 0

_HEADER = struct.Struct(">BBHI")  # version, opcode, result, epoch (responses)
_ADDRESS_REQUEST = struct.Struct(">BB")
_ADDRESS_RESPONSE = struct.Struct(">BBHI4s")
_MAP_REQUEST = struct.Struct(">BBHHHI")  # version, opcode, reserved, internal, external, lifetime
_MAP_RESPONSE = struct.Struct(">BBHIHHI")  # version, opcode, result, epoch, int, ext, lifetime


class Protocol(IntEnum):
    """The mapping opcodes: what kind of port is mapped."""

    UDP = 1
    TCP = 2


class Result(IntEnum):
    """Result codes of RFC 6886 section 3.5."""

    SUCCESS = 0
    UNSUPPORTED_VERSION = 1
    REFUSED = 2  # not authorized (mapping disabled by the router's owner)
    NETWORK_FAILURE = 3  # the router has no external address yet
    OUT_OF_RESOURCES = 4
    UNSUPPORTED_OPCODE = 5


_RESULT_TEXT = {
    Result.UNSUPPORTED_VERSION: "does not speak NAT-PMP version 0",
    Result.REFUSED: "refuses port mappings (switched off by its owner)",
    Result.NETWORK_FAILURE: "has no external address yet",
    Result.OUT_OF_RESOURCES: "has no mappings left",
    Result.UNSUPPORTED_OPCODE: "does not support this request",
}


class NatPmpError(RemoteProtocolError):
    """The router's NAT-PMP reply is malformed or not the answer to our request."""

    code = "natpmp"


class NatPmpRefusedError(NatPmpError):
    """A well-formed NAT-PMP reply with a non-zero result code.

    Attributes:
        result: the router's result code (see `Result`; unknown codes pass through).
    """

    code = "natpmp_refused"

    def __init__(self, result: int) -> None:
        try:
            text = _RESULT_TEXT[Result(result)]
        except (ValueError, KeyError):
            text = f"answered with unknown result code {result}"
        super().__init__(
            f"The router {text} (NAT-PMP result {result}).",
            "Turn on NAT-PMP or UPnP on the router, or set network.port_mapping = false.",
        )
        self.result = result


# -- messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExternalAddressRequest:
    """Ask for the router's external IPv4 address."""


@dataclass(frozen=True, slots=True)
class MapRequest:
    """Map `external_port` (a suggestion; 0 = any) to our `internal_port`; lifetime 0 deletes."""

    protocol: Protocol
    internal_port: int
    external_port: int
    lifetime: int


@dataclass(frozen=True, slots=True)
class ExternalAddressResponse:
    epoch: int
    address: str  # dotted IPv4


@dataclass(frozen=True, slots=True)
class MapResponse:
    """The mapping the router made: `external_port` may differ from the one we asked for."""

    protocol: Protocol
    epoch: int
    internal_port: int
    external_port: int
    lifetime: int


Request = ExternalAddressRequest | MapRequest
Response = ExternalAddressResponse | MapResponse
Message = Request | Response


def encode(msg: Message) -> bytes:
    """The packet for `msg`.

    Raises:
        LocalProtocolError: a port, lifetime or address is out of range.
    """
    try:
        match msg:
            case ExternalAddressRequest():
                return _ADDRESS_REQUEST.pack(VERSION, OP_EXTERNAL_ADDRESS)
            case MapRequest():
                return _MAP_REQUEST.pack(
                    VERSION,
                    int(msg.protocol),
                    0,
                    msg.internal_port,
                    msg.external_port,
                    msg.lifetime,
                )
            case ExternalAddressResponse():
                packed = ipaddress.IPv4Address(msg.address).packed
                return _ADDRESS_RESPONSE.pack(
                    VERSION, RESPONSE_BIT + OP_EXTERNAL_ADDRESS, 0, msg.epoch, packed
                )
            case MapResponse():
                return _MAP_RESPONSE.pack(
                    VERSION,
                    RESPONSE_BIT + int(msg.protocol),
                    0,
                    msg.epoch,
                    msg.internal_port,
                    msg.external_port,
                    msg.lifetime,
                )
    except (struct.error, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode NAT-PMP {type(msg).__name__}: {exc}") from exc


def encode_error(request_opcode: int, result: int, epoch: int) -> bytes:
    """A router's error reply (header only) to a request with `request_opcode` (for tests)."""
    return _HEADER.pack(VERSION, (RESPONSE_BIT + request_opcode) & 0xFF, result, epoch)


def decode_request(data: bytes) -> Request:
    """Decode a client's request (the router's side). Raises only `NatPmpError`."""
    if len(data) < 2:
        raise NatPmpError(f"NAT-PMP request of {len(data)} bytes is too short")
    version, opcode = data[0], data[1]
    if version != VERSION:
        raise NatPmpError(f"NAT-PMP request has version {version}, not {VERSION}")
    if opcode == OP_EXTERNAL_ADDRESS:
        return ExternalAddressRequest()
    if opcode not in (Protocol.UDP, Protocol.TCP):
        raise NatPmpError(f"NAT-PMP request has unknown opcode {opcode}")
    if len(data) < _MAP_REQUEST.size:
        raise NatPmpError(f"NAT-PMP mapping request of {len(data)} bytes is too short")
    _v, _op, _reserved, internal, external, lifetime = _MAP_REQUEST.unpack_from(data)
    return MapRequest(Protocol(opcode), internal, external, lifetime)


def decode_response(data: bytes, request: Request) -> Response:
    """Decode the router's reply to `request`.

    Raises:
        NatPmpRefusedError: a well-formed reply with a non-zero result code.
        NatPmpError: the packet is short, oversized, of another version, the
            answer to a different request, or otherwise malformed.
    """
    if len(data) > MAX_PACKET:
        raise NatPmpError(f"NAT-PMP reply of {len(data)} bytes is too long")
    if len(data) < _HEADER.size:
        raise NatPmpError(f"NAT-PMP reply of {len(data)} bytes is too short")
    version, opcode, result, epoch = _HEADER.unpack_from(data)
    if version != VERSION:
        raise NatPmpError(f"NAT-PMP reply has version {version}, not {VERSION}")
    expected = RESPONSE_BIT + _opcode(request)
    if opcode != expected:
        raise NatPmpError(f"NAT-PMP reply has opcode {opcode}, expected {expected}")
    if result != Result.SUCCESS:
        raise NatPmpRefusedError(result)
    match request:
        case ExternalAddressRequest():
            if len(data) < _ADDRESS_RESPONSE.size:
                raise NatPmpError(f"NAT-PMP address reply of {len(data)} bytes is too short")
            *_, packed = _ADDRESS_RESPONSE.unpack_from(data)
            return ExternalAddressResponse(epoch, str(ipaddress.IPv4Address(packed)))
        case MapRequest():
            if len(data) < _MAP_RESPONSE.size:
                raise NatPmpError(f"NAT-PMP mapping reply of {len(data)} bytes is too short")
            *_, internal, external, lifetime = _MAP_RESPONSE.unpack_from(data)
            if internal != request.internal_port:
                raise NatPmpError(
                    f"NAT-PMP reply maps internal port {internal}, "
                    f"we asked for {request.internal_port}"
                )
            if request.lifetime and not (0 < external < 65536 and lifetime > 0):
                raise NatPmpError(
                    f"NAT-PMP reply maps to external port {external} for {lifetime} s"
                )
            return MapResponse(request.protocol, epoch, internal, external, lifetime)


def _opcode(request: Request) -> int:
    match request:
        case ExternalAddressRequest():
            return OP_EXTERNAL_ADDRESS
        case MapRequest():
            return int(request.protocol)
