from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import LocalProtocolError, RemoteProtocolError
from citizen.net.nat import natpmp_codec as npc

ports = st.integers(0, 65535)
lifetimes = st.integers(0, npc.MAX_LIFETIME)
epochs = st.integers(0, 0xFFFFFFFF)
protocols = st.sampled_from(npc.Protocol)
map_requests = st.builds(npc.MapRequest, protocols, ports, ports, lifetimes)
requests = st.one_of(st.just(npc.ExternalAddressRequest()), map_requests)


@given(requests)
def test_request_round_trip(request: npc.Request) -> None:
    assert npc.decode_request(npc.encode(request)) == request


@given(epochs, st.ip_addresses(v=4).map(str))
def test_address_response_round_trip(epoch: int, address: str) -> None:
    reply = npc.ExternalAddressResponse(epoch, address)
    assert npc.decode_response(npc.encode(reply), npc.ExternalAddressRequest()) == reply


@given(map_requests, epochs, st.integers(1, 65535), st.integers(1, npc.MAX_LIFETIME))
def test_map_response_round_trip(
    request: npc.MapRequest, epoch: int, external: int, lifetime: int
) -> None:
    reply = npc.MapResponse(request.protocol, epoch, request.internal_port, external, lifetime)
    assert npc.decode_response(npc.encode(reply), request) == reply


def test_request_bytes_are_rfc_6886() -> None:
    assert npc.encode(npc.ExternalAddressRequest()) == b"\x00\x00"
    tcp = npc.MapRequest(npc.Protocol.TCP, 4747, 4747, 7200)
    assert npc.encode(tcp) == bytes.fromhex("0002 0000 128b 128b 00001c20")
    delete = npc.MapRequest(npc.Protocol.UDP, 4747, 0, 0)
    assert npc.encode(delete) == bytes.fromhex("0001 0000 128b 0000 00000000")


def test_decodes_a_routers_replies() -> None:
    address = bytes.fromhex("0080 0000 00000e10 c6336402")
    assert npc.decode_response(address, npc.ExternalAddressRequest()) == (
        npc.ExternalAddressResponse(3600, "198.51.100.2")
    )
    request = npc.MapRequest(npc.Protocol.TCP, 4747, 4747, 7200)
    mapped = bytes.fromhex("0082 0000 00000e10 128b c350 00000e10")
    assert npc.decode_response(mapped, request) == (
        npc.MapResponse(npc.Protocol.TCP, 3600, 4747, 50000, 3600)
    )
    # a delete is answered with external port 0 and lifetime 0
    delete = npc.MapRequest(npc.Protocol.TCP, 4747, 0, 0)
    deleted = bytes.fromhex("0082 0000 00000e10 128b 0000 00000000")
    assert npc.decode_response(deleted, delete).lifetime == 0  # type: ignore[union-attr]
    # trailing bytes (up to the RFC's 1100) are ignored
    assert npc.decode_response(address + b"\x00" * 20, npc.ExternalAddressRequest())


def test_refuses_short_long_wrong_version_and_wrong_opcode() -> None:
    request = npc.MapRequest(npc.Protocol.TCP, 4747, 4747, 7200)
    good = npc.encode(npc.MapResponse(npc.Protocol.TCP, 1, 4747, 4747, 7200))
    with pytest.raises(npc.NatPmpError, match="too short"):
        npc.decode_response(good[:7], request)
    with pytest.raises(npc.NatPmpError, match="too short"):
        npc.decode_response(good[:15], request)
    with pytest.raises(npc.NatPmpError, match="too long"):
        npc.decode_response(good + b"\x00" * npc.MAX_PACKET, request)
    with pytest.raises(npc.NatPmpError, match="version 2"):
        npc.decode_response(b"\x02" + good[1:], request)
    with pytest.raises(npc.NatPmpError, match="opcode 129, expected 130"):
        npc.decode_response(good[:1] + b"\x81" + good[2:], request)
    with pytest.raises(npc.NatPmpError, match="opcode 130, expected 128"):
        npc.decode_response(good, npc.ExternalAddressRequest())
    # an answer about another internal port is not ours
    with pytest.raises(npc.NatPmpError, match="internal port 4747, we asked for 4748"):
        npc.decode_response(good, npc.MapRequest(npc.Protocol.TCP, 4748, 4748, 7200))
    # a granted mapping with no port or no lifetime is nonsense
    zero = npc.encode(npc.MapResponse(npc.Protocol.TCP, 1, 4747, 0, 7200))
    with pytest.raises(npc.NatPmpError, match="external port 0"):
        npc.decode_response(zero, request)


def test_nonzero_result_is_a_refusal_with_its_code() -> None:
    request = npc.MapRequest(npc.Protocol.TCP, 4747, 4747, 7200)
    for code, text in ((2, "refuses"), (3, "no external address"), (4, "no mappings left")):
        with pytest.raises(npc.NatPmpRefusedError, match=text) as info:
            npc.decode_response(npc.encode_error(2, code, 5), request)
        assert info.value.result == code
        assert "port_mapping = false" in str(info.value)  # says what to do
    with pytest.raises(npc.NatPmpRefusedError, match="unknown result code 99"):
        npc.decode_response(npc.encode_error(0, 99, 5), npc.ExternalAddressRequest())


def test_encoding_out_of_range_values_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        npc.encode(npc.MapRequest(npc.Protocol.TCP, 70000, 0, 1))
    with pytest.raises(LocalProtocolError):
        npc.encode(npc.MapRequest(npc.Protocol.TCP, 1, 1, -1))
    with pytest.raises(LocalProtocolError):
        npc.encode(npc.ExternalAddressResponse(1, "not an address"))


def test_decode_request_refuses_garbage() -> None:
    for data, text in (
        (b"\x00", "too short"),
        (b"\x01\x00", "version 1"),
        (b"\x00\x07", "unknown opcode 7"),
        (b"\x00\x02\x00", "too short"),
    ):
        with pytest.raises(npc.NatPmpError, match=text):
            npc.decode_request(data)


@given(st.binary(max_size=npc.MAX_PACKET + 8), requests)
def test_arbitrary_bytes_raise_only_our_error(data: bytes, request: npc.Request) -> None:
    try:
        npc.decode_response(data, request)
    except npc.NatPmpError as exc:
        assert isinstance(exc, RemoteProtocolError)
    try:
        npc.decode_request(data)
    except npc.NatPmpError:
        pass


@given(st.binary(min_size=4, max_size=64), requests)
def test_valid_headers_with_arbitrary_bodies_raise_only_our_error(
    body: bytes, request: npc.Request
) -> None:
    opcode = 128 + (request.protocol if isinstance(request, npc.MapRequest) else 0)
    data = struct.pack(">BB", 0, opcode) + body
    try:
        npc.decode_response(data, request)
    except npc.NatPmpError:
        pass
