"""The pure parts of hole punching: address prediction and who starts the exchange."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
from libp2p.peer.id import ID

from citizen.net.nat.holepunch import predicted_addrs, starts_exchange
from tests.e2e.nat_peer import peer_id_of


def test_observed_ips_are_paired_with_our_listen_ports() -> None:
    observed = ["/ip4/198.51.100.2/tcp/53122", "/ip4/198.51.100.2/tcp/40001"]
    assert predicted_addrs(observed, [4747]) == ["/ip4/198.51.100.2/tcp/4747"]
    assert predicted_addrs(["/ip6/2001:db8::1/tcp/9"], [4747, 4748]) == [
        "/ip6/2001:db8::1/tcp/4747",
        "/ip6/2001:db8::1/tcp/4748",
    ]


def test_addresses_that_are_not_ip_tcp_are_ignored() -> None:
    odd = ["", "/dns4/example.org/tcp/1", "/ip4/1.2.3.4/udp/5", "/p2p-circuit", "garbage"]
    assert predicted_addrs(odd, [4747]) == []
    assert predicted_addrs(["/ip4/1.2.3.4/tcp/5"], []) == []


@given(st.lists(st.text(max_size=40), max_size=8), st.lists(st.integers(1, 65535), max_size=3))
def test_prediction_never_raises_and_never_repeats(observed: list[str], ports: list[int]) -> None:
    out = predicted_addrs(observed, ports)
    assert len(out) == len(set(out))


def test_exactly_one_side_starts_the_exchange() -> None:
    for _ in range(20):
        pa, pb = (ID.from_base58(peer_id_of(os.urandom(32))) for _ in range(2))
        assert starts_exchange(pa, pb) != starts_exchange(pb, pa)
