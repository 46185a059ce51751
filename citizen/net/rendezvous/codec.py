"""Rendezvous wire codec: libp2p `/rendezvous/1.0.0` protobuf messages <-> typed messages.

The schema is the one in the libp2p rendezvous spec (`rendezvous.proto`,
proto2), written out by hand so that this module stays pure and typed:

    Message          {1 type: MessageType, 2 register: Register,
                      3 registerResponse: RegisterResponse, 4 unregister: Unregister,
                      5 discover: Discover, 6 discoverResponse: DiscoverResponse}
    Register         {1 ns: string, 2 signedPeerRecord: bytes, 3 ttl: int64}
    RegisterResponse {1 status: ResponseStatus, 2 statusText: string, 3 ttl: int64}
    Unregister       {1 ns: string}            (2 id: bytes is deprecated, skipped)
    Discover         {1 ns: string, 2 limit: int64, 3 cookie: bytes}
    DiscoverResponse {1 registrations: repeated Register, 2 cookie: bytes,
                      3 status: ResponseStatus, 4 statusText: string}

On the stream every message is an unsigned-varint length prefix followed by
the protobuf bytes. Absent fields decode to their zero value (`""`, `b""`,
`0`); unknown fields are skipped; repeated occurrences of an embedded message
merge (protobuf semantics, done by concatenating their bytes). The encoder
always writes the fields other implementations (rust-libp2p, go-libp2p)
require to be present: the message type, the sub-message, `ns` and
`signedPeerRecord` of a Register, `status` and `ttl` of a RegisterResponse,
and `status` and `cookie` of a DiscoverResponse.

Every decoder here raises only `RemoteProtocolError`; encoders raise
`LocalProtocolError` for values the schema cannot carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from citizen.errors import LocalProtocolError, RemoteProtocolError

#: Largest frame body a server accepts (a request carries one signed peer record).
MAX_FRAME_SIZE = 64 * 1024
#: Largest frame body a client accepts: other implementations page DISCOVER
#: responses by count, not by size, so theirs can be far larger than ours.
MAX_RESPONSE_FRAME_SIZE = 1024 * 1024

_MAX_VARINT_BYTES = 10
_UINT64_LIMIT = 1 << 64
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MAX_FIELD_NUMBER = (1 << 29) - 1

# protobuf wire types
_VARINT = 0
_FIXED64 = 1
_LEN = 2
_FIXED32 = 5


class MessageType(IntEnum):
    """`Message.MessageType`: which sub-message a `Message` carries."""

    REGISTER = 0
    REGISTER_RESPONSE = 1
    UNREGISTER = 2
    DISCOVER = 3
    DISCOVER_RESPONSE = 4


class ResponseStatus(IntEnum):
    """`Message.ResponseStatus`: the outcome a rendezvous point reports."""

    OK = 0
    E_INVALID_NAMESPACE = 100
    E_INVALID_SIGNED_PEER_RECORD = 101
    E_INVALID_TTL = 102
    E_INVALID_COOKIE = 103
    E_NOT_AUTHORIZED = 200
    E_INTERNAL_ERROR = 300
    E_UNAVAILABLE = 400


@dataclass(frozen=True, slots=True)
class Register:
    """REGISTER: put the sender's signed peer record under `ns` for `ttl` seconds.

    Also the element type of `DiscoverResponse.registrations`, where `ttl`
    is the time the registration has left. `ttl == 0` means "absent": the
    rendezvous point's default.
    """

    ns: str
    signed_peer_record: bytes
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class RegisterResponse:
    """REGISTER_RESPONSE: the outcome of a REGISTER and the TTL actually granted."""

    status: ResponseStatus
    status_text: str = ""
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class Unregister:
    """UNREGISTER: drop the sender's registration under `ns` (no response)."""

    ns: str


@dataclass(frozen=True, slots=True)
class Discover:
    """DISCOVER: ask for registrations under `ns` newer than `cookie`.

    `limit == 0` means "absent" (the rendezvous point's maximum); an empty
    `cookie` means "from the start".
    """

    ns: str = ""
    limit: int = 0
    cookie: bytes = b""


@dataclass(frozen=True, slots=True)
class DiscoverResponse:
    """DISCOVER_RESPONSE: a page of registrations and the cookie for the next one."""

    registrations: tuple[Register, ...] = ()
    cookie: bytes = b""
    status: ResponseStatus = ResponseStatus.OK
    status_text: str = ""


Message = Register | RegisterResponse | Unregister | Discover | DiscoverResponse


# -- encoding ------------------------------------------------------------------------


def encode_message(msg: Message) -> bytes:
    """Encode one message as a protobuf `Message` (without the length prefix).

    Raises:
        LocalProtocolError: an integer outside int64 or a string that is not UTF-8.
    """
    match msg:
        case Register():
            kind, field, body = MessageType.REGISTER, 2, _encode_register(msg)
        case RegisterResponse():
            kind, field, body = MessageType.REGISTER_RESPONSE, 3, _encode_register_response(msg)
        case Unregister():
            kind, field, body = MessageType.UNREGISTER, 4, _str_field(1, msg.ns)
        case Discover():
            kind, field, body = MessageType.DISCOVER, 5, _encode_discover(msg)
        case DiscoverResponse():
            kind, field, body = MessageType.DISCOVER_RESPONSE, 6, _encode_discover_response(msg)
    return _int_field(1, kind) + _len_field(field, body)


def encode_frame(msg: Message, *, max_size: int = MAX_FRAME_SIZE) -> bytes:
    """Encode one message with its unsigned-varint length prefix.

    Raises:
        LocalProtocolError: the message does not encode, or is larger than `max_size`.
    """
    body = encode_message(msg)
    if len(body) > max_size:
        raise LocalProtocolError(
            f"Rendezvous message is {len(body)} bytes, more than the {max_size} allowed."
        )
    return _uvarint(len(body)) + body


def encoded_registration_size(reg: Register) -> int:
    """Bytes `reg` adds to an encoded `DiscoverResponse` (tag, length and body)."""
    body = _encode_register(reg)
    return 1 + len(_uvarint(len(body))) + len(body)


def _encode_register(reg: Register) -> bytes:
    out = _str_field(1, reg.ns) + _len_field(2, reg.signed_peer_record)
    if reg.ttl:
        out += _int_field(3, reg.ttl)
    return out


def _encode_register_response(msg: RegisterResponse) -> bytes:
    out = _int_field(1, msg.status)
    if msg.status_text:
        out += _str_field(2, msg.status_text)
    return out + _int_field(3, msg.ttl)


def _encode_discover(msg: Discover) -> bytes:
    out = b""
    if msg.ns:
        out += _str_field(1, msg.ns)
    if msg.limit:
        out += _int_field(2, msg.limit)
    if msg.cookie:
        out += _len_field(3, msg.cookie)
    return out


def _encode_discover_response(msg: DiscoverResponse) -> bytes:
    parts = [_len_field(1, _encode_register(reg)) for reg in msg.registrations]
    parts.append(_len_field(2, msg.cookie))
    parts.append(_int_field(3, msg.status))
    if msg.status_text:
        parts.append(_str_field(4, msg.status_text))
    return b"".join(parts)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise LocalProtocolError(f"Rendezvous field {number} value {value} does not fit int64.")
    # Negative int64 values are sent as their 64-bit two's complement (10 bytes).
    return _uvarint(number << 3 | _VARINT) + _uvarint(value % _UINT64_LIMIT)


def _len_field(number: int, body: bytes) -> bytes:
    return _uvarint(number << 3 | _LEN) + _uvarint(len(body)) + body


def _str_field(number: int, text: str) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"Rendezvous field {number} is not valid UTF-8 text.") from exc
    return _len_field(number, data)


# -- decoding ------------------------------------------------------------------------


def decode_message(data: bytes) -> Message:
    """Decode one protobuf `Message` (without the length prefix).

    Raises:
        RemoteProtocolError: malformed protobuf, an unknown message type or
            status, a string that is not UTF-8, or a field of the wrong wire type.
    """
    kind = 0
    subs: dict[int, bytearray] = {}
    for number, wire_type, value in _fields(data, "rendezvous message"):
        if number == 1:
            kind = _expect_int(number, wire_type, value)
        elif 2 <= number <= 6:
            # An embedded message seen twice merges, which for protobuf is
            # exactly decoding the concatenation of both encodings.
            subs.setdefault(number, bytearray()).extend(_expect_bytes(number, wire_type, value))
    body = bytes(subs.get(kind + 2, b""))
    match kind:
        case MessageType.REGISTER:
            return _decode_register(body)
        case MessageType.REGISTER_RESPONSE:
            return _decode_register_response(body)
        case MessageType.UNREGISTER:
            return _decode_unregister(body)
        case MessageType.DISCOVER:
            return _decode_discover(body)
        case MessageType.DISCOVER_RESPONSE:
            return _decode_discover_response(body)
        case _:
            raise RemoteProtocolError(f"Unknown rendezvous message type {kind}.")


def decode_frame(data: bytes, *, max_size: int = MAX_FRAME_SIZE) -> Message:
    """Decode exactly one length-prefixed frame that fills all of `data`.

    Raises:
        RemoteProtocolError: bad prefix, oversize, truncated, trailing bytes, or
            a body `decode_message` refuses.
    """
    decoder = FrameDecoder(max_size=max_size)
    decoder.feed(data)
    msg = decoder.next_message()
    if msg is None:
        raise RemoteProtocolError("Rendezvous frame is truncated.")
    if decoder.buffered:
        raise RemoteProtocolError(
            f"Rendezvous frame has {decoder.buffered} trailing bytes after the message."
        )
    return msg


class FrameDecoder:
    """Incremental decoder of length-prefixed frames, fed bytes as they arrive.

    Refuses an oversize frame as soon as its length prefix is read, so a
    peer cannot make us buffer more than `max_size` plus one read.
    """

    def __init__(self, max_size: int = MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Append bytes received from the stream."""
        self._buffer += data

    def next_message(self) -> Message | None:
        """Return the next complete message, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: a bad or oversize length prefix, or a bad body.
        """
        header = self._read_prefix()
        if header is None:
            return None
        length, prefix_len = header
        end = prefix_len + length
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[prefix_len:end])
        del self._buffer[:end]
        return decode_message(body)

    def _read_prefix(self) -> tuple[int, int] | None:
        value = 0
        for index, byte in enumerate(self._buffer[:_MAX_VARINT_BYTES]):
            value |= (byte & 0x7F) << (7 * index)
            if value > self._max_size:
                raise RemoteProtocolError(
                    f"Rendezvous frame is larger than the {self._max_size} bytes allowed."
                )
            if not byte & 0x80:
                return value, index + 1
        if len(self._buffer) >= _MAX_VARINT_BYTES:
            raise RemoteProtocolError("Rendezvous frame length prefix is not a valid varint.")
        return None


def _decode_register(data: bytes) -> Register:
    ns, record, ttl = "", b"", 0
    for number, wire_type, value in _fields(data, "Register"):
        match number:
            case 1:
                ns = _expect_str(number, wire_type, value)
            case 2:
                record = _expect_bytes(number, wire_type, value)
            case 3:
                ttl = _int64(_expect_int(number, wire_type, value))
    return Register(ns=ns, signed_peer_record=record, ttl=ttl)


def _decode_register_response(data: bytes) -> RegisterResponse:
    status, text, ttl = ResponseStatus.OK, "", 0
    for number, wire_type, value in _fields(data, "RegisterResponse"):
        match number:
            case 1:
                status = _status(_expect_int(number, wire_type, value))
            case 2:
                text = _expect_str(number, wire_type, value)
            case 3:
                ttl = _int64(_expect_int(number, wire_type, value))
    return RegisterResponse(status=status, status_text=text, ttl=ttl)


def _decode_unregister(data: bytes) -> Unregister:
    ns = ""
    for number, wire_type, value in _fields(data, "Unregister"):
        if number == 1:
            ns = _expect_str(number, wire_type, value)
    return Unregister(ns=ns)


def _decode_discover(data: bytes) -> Discover:
    ns, limit, cookie = "", 0, b""
    for number, wire_type, value in _fields(data, "Discover"):
        match number:
            case 1:
                ns = _expect_str(number, wire_type, value)
            case 2:
                limit = _int64(_expect_int(number, wire_type, value))
            case 3:
                cookie = _expect_bytes(number, wire_type, value)
    return Discover(ns=ns, limit=limit, cookie=cookie)


def _decode_discover_response(data: bytes) -> DiscoverResponse:
    registrations: list[Register] = []
    cookie, status, text = b"", ResponseStatus.OK, ""
    for number, wire_type, value in _fields(data, "DiscoverResponse"):
        match number:
            case 1:
                registrations.append(_decode_register(_expect_bytes(number, wire_type, value)))
            case 2:
                cookie = _expect_bytes(number, wire_type, value)
            case 3:
                status = _status(_expect_int(number, wire_type, value))
            case 4:
                text = _expect_str(number, wire_type, value)
    return DiscoverResponse(
        registrations=tuple(registrations), cookie=cookie, status=status, status_text=text
    )


def _fields(data: bytes, what: str) -> list[tuple[int, int, int | bytes]]:
    """Split protobuf bytes into (field number, wire type, int or bytes value)."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_uvarint(data, pos, what)
        number, wire_type = key >> 3, key & 0x7
        if not 1 <= number <= _MAX_FIELD_NUMBER:
            raise RemoteProtocolError(f"{what} has an invalid field number {number}.")
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = _read_uvarint(data, pos, what)
        elif wire_type == _LEN:
            length, pos = _read_uvarint(data, pos, what)
            if length > len(data) - pos:
                raise RemoteProtocolError(f"{what} field {number} runs past the end.")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if size > len(data) - pos:
                raise RemoteProtocolError(f"{what} field {number} runs past the end.")
            value, pos = int.from_bytes(data[pos : pos + size], "little"), pos + size
        else:
            # 3/4 are proto2 groups, which nothing in this schema or its peers uses.
            raise RemoteProtocolError(f"{what} field {number} has wire type {wire_type}.")
        out.append((number, wire_type, value))
    return out


def _read_uvarint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    value = 0
    for index in range(_MAX_VARINT_BYTES):
        if pos + index >= len(data):
            raise RemoteProtocolError(f"{what} ends inside a varint.")
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if value >= _UINT64_LIMIT:
                raise RemoteProtocolError(f"{what} has a varint larger than 64 bits.")
            return value, pos + index + 1
    raise RemoteProtocolError(f"{what} has a varint longer than 10 bytes.")


def _expect_int(number: int, wire_type: int, value: int | bytes) -> int:
    if wire_type != _VARINT or not isinstance(value, int):
        raise RemoteProtocolError(f"Rendezvous field {number} should be a varint.")
    return value


def _expect_bytes(number: int, wire_type: int, value: int | bytes) -> bytes:
    if wire_type != _LEN or not isinstance(value, bytes):
        raise RemoteProtocolError(f"Rendezvous field {number} should be length-delimited.")
    return value


def _expect_str(number: int, wire_type: int, value: int | bytes) -> str:
    try:
        return _expect_bytes(number, wire_type, value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"Rendezvous field {number} is not valid UTF-8.") from exc


def _int64(value: int) -> int:
    return value - _UINT64_LIMIT if value > _INT64_MAX else value


def _status(value: int) -> ResponseStatus:
    try:
        return ResponseStatus(value)
    except ValueError:
        raise RemoteProtocolError(f"Unknown rendezvous response status {value}.") from None
