"""A configured public rendezvous point running a stock libp2p stack.

It identifies (and pings) the daemon on the connection the daemon dialed;
the friend gate lets it, and a new friendship is registered there at once
after pairing, not at the next ten-minute round.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import libp2p
import trio
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from citizen.net.rendezvous.registry import friendship_namespaces
from citizen.net.rendezvous.service import (
    PROTOCOL_ID,
    RendezvousServer,
    verify_signed_peer_record,
)
from citizen.testing.grid import open_grid

HANG = 120  # bounds a hung test only; the round it replaces came every 600 s


async def test_a_new_friendship_registers_at_a_stock_point_at_once(tmp_path: Path) -> None:
    point = libp2p.new_host()  # stock: serves identify and ping, identifies whoever connects
    server = RendezvousServer()
    point.set_stream_handler(PROTOCOL_ID, server.handle_stream)
    async with point.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        where = f"{point.get_addrs()[0]}"
        if "/p2p/" not in where:
            where += f"/p2p/{point.get_id()}"
        points = json.dumps([where])
        async with open_grid(
            2, tmp_path, pairing="none", configs={"alpha": {"rendezvous_points": points}}
        ) as grid:
            a, b = grid.nodes

            def dialed_the_point() -> bool:
                return bool(point.get_network().connections.get(ID.from_base58(a.device)))

            await trio.sleep(0)  # alpha's first round ran: no friendship to register yet
            await grid.pair(a, b)
            [friend] = await a.friends.store.list()
            namespaces = friendship_namespaces(friend.secret, time.time())

            def registered() -> bool:
                found = server.registry.discover(namespaces[0], 10, b"", trio.current_time())
                signed = [r.signed_peer_record for r in found.registrations]
                records = [verify_signed_peer_record(raw) for raw in signed]
                return any(str(record.peer_id) == a.device for record in records)

            await grid.wait_until(registered, "alpha's registration at the point", HANG)
            # the stock point identified alpha and is still connected: the gate let it
            assert dialed_the_point()
