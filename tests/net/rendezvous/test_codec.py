"""Rendezvous codec: round trips, the spec's wire layout, framing, and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.net.rendezvous.codec import (
    MAX_FRAME_SIZE,
    Discover,
    DiscoverResponse,
    FrameDecoder,
    Message,
    Register,
    RegisterResponse,
    ResponseStatus,
    Unregister,
    decode_frame,
    decode_message,
    encode_frame,
    encode_message,
    encoded_registration_size,
)

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
TEXT = st.text(max_size=40)
BLOB = st.binary(max_size=80)
STATUS = st.sampled_from(list(ResponseStatus))

registers = st.builds(Register, ns=TEXT, signed_peer_record=BLOB, ttl=INT64)
messages: st.SearchStrategy[Message] = st.one_of(
    registers,
    st.builds(RegisterResponse, status=STATUS, status_text=TEXT, ttl=INT64),
    st.builds(Unregister, ns=TEXT),
    st.builds(Discover, ns=TEXT, limit=INT64, cookie=BLOB),
    st.builds(
        DiscoverResponse,
        registrations=st.lists(registers, max_size=4).map(tuple),
        cookie=BLOB,
        status=STATUS,
        status_text=TEXT,
    ),
)


# -- the spec's rendezvous.proto, compiled at test time by the real protobuf runtime -----


def _spec_message_class() -> Any:
    """`Message` from the spec's proto2 schema, built without protoc."""
    fdp = descriptor_pb2.FileDescriptorProto(name="rendezvous_test.proto", package="rdvtest")
    fdp.syntax = "proto2"
    msg = fdp.message_type.add(name="Message")
    t = descriptor_pb2.FieldDescriptorProto
    opt = t.LABEL_OPTIONAL
    kinds = msg.enum_type.add(name="MessageType")
    for name, number in [
        ("REGISTER", 0),
        ("REGISTER_RESPONSE", 1),
        ("UNREGISTER", 2),
        ("DISCOVER", 3),
        ("DISCOVER_RESPONSE", 4),
    ]:
        kinds.value.add(name=name, number=number)
    statuses = msg.enum_type.add(name="ResponseStatus")
    for status in ResponseStatus:
        statuses.value.add(name=status.name, number=int(status))

    def sub(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        nested = msg.nested_type.add(name=name)
        for field_name, number, label, kind, type_name in fields:
            f = nested.field.add(name=field_name, number=number, label=label, type=kind)
            if type_name:
                f.type_name = type_name

    sub(
        "Register",
        [
            ("ns", 1, opt, t.TYPE_STRING, ""),
            ("signedPeerRecord", 2, opt, t.TYPE_BYTES, ""),
            ("ttl", 3, opt, t.TYPE_INT64, ""),
        ],
    )
    sub(
        "RegisterResponse",
        [
            ("status", 1, opt, t.TYPE_ENUM, ".rdvtest.Message.ResponseStatus"),
            ("statusText", 2, opt, t.TYPE_STRING, ""),
            ("ttl", 3, opt, t.TYPE_INT64, ""),
        ],
    )
    sub("Unregister", [("ns", 1, opt, t.TYPE_STRING, ""), ("id", 2, opt, t.TYPE_BYTES, "")])
    sub(
        "Discover",
        [
            ("ns", 1, opt, t.TYPE_STRING, ""),
            ("limit", 2, opt, t.TYPE_INT64, ""),
            ("cookie", 3, opt, t.TYPE_BYTES, ""),
        ],
    )
    sub(
        "DiscoverResponse",
        [
            ("registrations", 1, t.LABEL_REPEATED, t.TYPE_MESSAGE, ".rdvtest.Message.Register"),
            ("cookie", 2, opt, t.TYPE_BYTES, ""),
            ("status", 3, opt, t.TYPE_ENUM, ".rdvtest.Message.ResponseStatus"),
            ("statusText", 4, opt, t.TYPE_STRING, ""),
        ],
    )
    for name, number, kind, type_name in [
        ("type", 1, t.TYPE_ENUM, ".rdvtest.Message.MessageType"),
        ("register", 2, t.TYPE_MESSAGE, ".rdvtest.Message.Register"),
        ("registerResponse", 3, t.TYPE_MESSAGE, ".rdvtest.Message.RegisterResponse"),
        ("unregister", 4, t.TYPE_MESSAGE, ".rdvtest.Message.Unregister"),
        ("discover", 5, t.TYPE_MESSAGE, ".rdvtest.Message.Discover"),
        ("discoverResponse", 6, t.TYPE_MESSAGE, ".rdvtest.Message.DiscoverResponse"),
    ]:
        msg.field.add(name=name, number=number, label=opt, type=kind, type_name=type_name)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("rdvtest.Message"))


SpecMessage = _spec_message_class()


def _spec_register(pb: Any) -> Register:
    return Register(pb.ns, pb.signedPeerRecord, pb.ttl)


def _from_spec(pb: Any) -> Message:
    """Our reading of a message the real protobuf runtime parsed."""
    match pb.type:
        case 0:
            return _spec_register(pb.register)
        case 1:
            r = pb.registerResponse
            return RegisterResponse(ResponseStatus(r.status), r.statusText, r.ttl)
        case 2:
            return Unregister(pb.unregister.ns)
        case 3:
            d = pb.discover
            return Discover(d.ns, d.limit, d.cookie)
        case _:
            d = pb.discoverResponse
            return DiscoverResponse(
                tuple(_spec_register(r) for r in d.registrations),
                d.cookie,
                ResponseStatus(d.status),
                d.statusText,
            )


@given(messages)
def test_round_trip(msg: Message) -> None:
    assert decode_message(encode_message(msg)) == msg
    assert decode_frame(encode_frame(msg)) == msg


@given(messages)
def test_real_protobuf_reads_what_we_write(msg: Message) -> None:
    pb = SpecMessage()
    pb.ParseFromString(encode_message(msg))
    assert _from_spec(pb) == msg
    # Fields other implementations insist on are present, not merely zero.
    assert pb.HasField("type")
    match msg:
        case Register():
            assert pb.register.HasField("ns") and pb.register.HasField("signedPeerRecord")
        case RegisterResponse():
            assert pb.registerResponse.HasField("status") and pb.registerResponse.HasField("ttl")
        case DiscoverResponse():
            assert pb.discoverResponse.HasField("status")
            assert pb.discoverResponse.HasField("cookie")
        case _:
            pass


@given(messages)
def test_we_read_what_real_protobuf_writes(msg: Message) -> None:
    pb = SpecMessage()
    pb.ParseFromString(encode_message(msg))
    # Re-serialised by the protobuf runtime (its own field order and encoding).
    assert decode_message(pb.SerializeToString()) == msg


def test_known_encoding_of_a_register() -> None:
    msg = Register(ns="ab", signed_peer_record=b"\x01", ttl=7200)
    # type=REGISTER, register={ns:"ab", signedPeerRecord:01, ttl:7200}
    assert encode_message(msg) == bytes.fromhex("0800" + "120a" + "0a026162" + "120101" + "18a038")


def test_unknown_fields_and_deprecated_unregister_id_are_skipped() -> None:
    pb = SpecMessage()
    pb.type = 2
    pb.unregister.ns = "x"
    pb.unregister.id = b"old-style peer id"
    extra = (
        bytes.fromhex("3805")  # field 7, varint
        + bytes.fromhex("410102030405060708")  # field 8, fixed64
        + bytes.fromhex("4d01020304")  # field 9, fixed32
        + bytes.fromhex("5203616263")  # field 10, bytes
    )
    assert decode_message(pb.SerializeToString() + extra) == Unregister("x")


def test_absent_fields_decode_to_defaults() -> None:
    assert decode_message(b"") == Register(ns="", signed_peer_record=b"", ttl=0)
    assert decode_message(bytes.fromhex("0803")) == Discover()


def test_repeated_submessage_merges() -> None:
    first = bytes.fromhex("0803") + bytes.fromhex("2a03") + b"\x0a\x01a"  # discover{ns:"a"}
    second = bytes.fromhex("2a02") + b"\x10\x05"  # discover{limit:5}
    assert decode_message(first + second) == Discover(ns="a", limit=5)


def test_negative_int64_uses_ten_bytes() -> None:
    data = encode_message(Register("n", b"r", ttl=-1))
    assert data.endswith(b"\x18" + b"\xff" * 9 + b"\x01")
    assert decode_message(data) == Register("n", b"r", ttl=-1)


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("0809"),  # unknown message type
        bytes.fromhex("0801") + bytes.fromhex("1a02") + bytes.fromhex("0801"),  # unknown status
        bytes.fromhex("0a00"),  # type field with the wrong wire type
        bytes.fromhex("0800") + bytes.fromhex("1203") + bytes.fromhex("0a01ff"),  # ns not UTF-8
        bytes.fromhex("0800") + bytes.fromhex("1205") + b"\x0a",  # length past the end
        bytes.fromhex("0b"),  # group wire type
        bytes.fromhex("00"),  # field number 0
        bytes.fromhex("08") + b"\xff" * 10 + b"\x01",  # varint longer than 10 bytes
        bytes.fromhex("08") + b"\xff" * 9 + b"\x7f",  # varint beyond 64 bits
        bytes.fromhex("08"),  # ends inside a varint
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_message(data)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    for decode in (decode_message, decode_frame):
        try:
            decode(data)
        except RemoteProtocolError:
            pass


@given(messages, st.binary(max_size=60), st.integers(min_value=0, max_value=200))
def test_arbitrary_corruption_only_raises_remote_protocol_error(
    msg: Message, noise: bytes, at: int
) -> None:
    data = encode_frame(msg)
    at = min(at, len(data))
    corrupted = data[:at] + noise + data[at + len(noise) :]
    decoder = FrameDecoder()
    try:
        decoder.feed(corrupted)
        while decoder.next_message() is not None:
            pass
    except RemoteProtocolError:
        pass


@given(st.lists(messages, min_size=1, max_size=4), st.integers(min_value=1, max_value=7))
def test_frame_decoder_fed_in_pieces(msgs: list[Message], step: int) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)
    decoder = FrameDecoder()
    out: list[Message] = []
    for i in range(0, len(stream), step):
        decoder.feed(stream[i : i + step])
        while (m := decoder.next_message()) is not None:
            out.append(m)
    assert out == msgs
    assert decoder.buffered == 0


def test_oversize_frame_refused_from_its_prefix_alone() -> None:
    decoder = FrameDecoder(max_size=100)
    decoder.feed(bytes([101]))  # just the length prefix of a 101-byte frame
    with pytest.raises(RemoteProtocolError, match="larger than"):
        decoder.next_message()


def test_frame_of_exactly_max_size_is_accepted() -> None:
    msg = Register("n", b"x" * 100)
    body_len = len(encode_message(msg))
    assert decode_frame(encode_frame(msg), max_size=body_len) == msg
    with pytest.raises(RemoteProtocolError):
        decode_frame(encode_frame(msg), max_size=body_len - 1)


def test_endless_length_prefix_refused() -> None:
    decoder = FrameDecoder(max_size=1 << 80)
    decoder.feed(b"\x80" * 10)
    with pytest.raises(RemoteProtocolError, match="varint"):
        decoder.next_message()


def test_truncated_and_trailing_frames_refused() -> None:
    frame = encode_frame(Unregister("ns"))
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_frame(frame[:-1])
    with pytest.raises(RemoteProtocolError, match="trailing"):
        decode_frame(frame + b"\x00")


def test_encoder_refuses_what_the_schema_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(Register("n", b"", ttl=1 << 63))
    with pytest.raises(LocalProtocolError):
        encode_message(Unregister("\ud800"))
    with pytest.raises(LocalProtocolError):
        encode_frame(Register("n", b"x" * MAX_FRAME_SIZE))


@given(registers)
def test_encoded_registration_size_is_exact(reg: Register) -> None:
    without = len(encode_message(DiscoverResponse(cookie=b"c")))
    with_one = len(encode_message(DiscoverResponse(registrations=(reg,), cookie=b"c")))
    # The response's own length prefix inside Message may grow by a byte or two.
    assert 0 <= with_one - without - encoded_registration_size(reg) <= 2
