from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen import cbor
from citizen.errors import RemoteProtocolError
from citizen.net.nat import dialback_codec as dc

_addrs = st.lists(st.text(max_size=dc.MAX_ADDR_LEN), max_size=dc.MAX_ADDRS).map(tuple)
messages = st.one_of(
    st.builds(dc.DialRequest, _addrs),
    st.builds(dc.DialResult, st.text(max_size=dc.MAX_ADDR_LEN), _addrs, _addrs),
    st.builds(dc.DialRefused, st.text(max_size=200)),
)


@given(messages)
def test_round_trip(msg: dc.Message) -> None:
    assert dc.decode(dc.encode(msg)) == msg


@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_remote_error(data: bytes) -> None:
    try:
        dc.decode(data)
    except RemoteProtocolError:
        pass


def test_refuses_unknown_oversize_and_bad_addresses() -> None:
    with pytest.raises(RemoteProtocolError, match="unknown"):
        dc.decode(cbor.dumps({"t": "dial-surprise"}))
    with pytest.raises(RemoteProtocolError):
        dc.decode(b"\x00" * (dc.MAX_FRAME + 1))
    with pytest.raises(RemoteProtocolError, match="more than"):
        dc.decode(cbor.dumps({"t": "dial-request", "addrs": ["/ip4/1.2.3.4/tcp/1"] * 17}))
    with pytest.raises(RemoteProtocolError, match="short text"):
        dc.decode(cbor.dumps({"t": "dial-request", "addrs": [b"bytes"]}))


def test_dialback_only_ever_targets_the_observed_host() -> None:
    addrs = (
        "/ip4/10.0.1.2/tcp/4747",
        "/ip4/127.0.0.1/tcp/4747",
        "/ip4/192.0.2.9/tcp/80",
        "/ip4/198.51.100.1/tcp/4747/p2p/R/p2p-circuit",
        "/ip4/10.0.1.2/udp/4747/quic-v1",
        "/ip4/10.0.1.2/tcp/notaport",
        "garbage",
    )
    assert dc.dialback_candidates("/ip4/198.51.100.2/tcp/51000", addrs) == (
        "/ip4/198.51.100.2/tcp/4747",
        "/ip4/198.51.100.2/tcp/80",
    )
    assert dc.dialback_candidates("/ip6/2001:db8::1/tcp/5", ("/ip6/::/tcp/7",)) == (
        "/ip6/2001:db8::1/tcp/7",
    )
    assert dc.dialback_candidates("", addrs) == ()
    assert dc.dialback_candidates("/p2p-circuit", addrs) == ()
    many = tuple(f"/ip4/10.0.0.1/tcp/{p}" for p in range(1, 40))
    assert len(dc.dialback_candidates("/ip4/1.2.3.4/tcp/9", many)) == dc.MAX_ADDRS
