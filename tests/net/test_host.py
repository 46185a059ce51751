"""The libp2p host: it dials nobody by itself."""

from __future__ import annotations

import os

import trio
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from citizen.net.host import new_host

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
HANG = 30  # bounds a hung test; never a timing assumption


async def test_a_peer_in_the_peerstore_is_not_dialed_by_the_swarm() -> None:
    # mDNS and removed friends leave peers in the peerstore; py-libp2p's
    # auto-connector would dial them whenever fewer than 100 connections are open
    me, stranger = new_host(os.urandom(32), [LOOPBACK]), new_host(os.urandom(32), [LOOPBACK])
    with trio.fail_after(HANG):
        async with (
            me.run([Multiaddr(LOOPBACK)]),
            stranger.run([Multiaddr(LOOPBACK)]),
        ):
            addr = stranger.get_addrs()[0]
            me.get_peerstore().add_addrs(ID.from_base58(str(stranger.get_id())), [addr], 3600)
            network = me.get_network()
            await network.auto_connector.maybe_connect()  # what its timer and every disconnect call
            assert network.get_total_connections() == 0
            assert stranger.get_network().get_total_connections() == 0
