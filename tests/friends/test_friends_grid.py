"""Pairing, the friend-only network, finding a moved friend and removal, on an in-process grid.

Moved from tests/e2e/test_friends.py; the CLI's pairing flow itself stays
there (`test_pair_through_the_cli`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from citizen.errors import InviteError
from citizen.net.host import new_host
from citizen.testing.grid import open_grid, wait_until


async def test_pair_replay_and_expiry(tmp_path: Path) -> None:
    async with open_grid(3, tmp_path, pairing="none") as grid:
        a, b, c = grid.nodes
        invite = await a.friends.create_invite(600)
        code = str(invite["code"])
        accepted = await b.friends.accept(code, None)
        assert accepted["name"] == "alpha"
        assert accepted["household"] == a.household_id
        sas = accepted["sas"]
        assert isinstance(sas, list) and len(sas) == 4
        await grid.wait_connected(a, b)
        on_a = await a.friend("beta")
        assert on_a is not None
        assert on_a["sas"] == sas and on_a["household"] == b.household_id
        on_b = await b.friend("alpha")
        assert on_b is not None and on_b["sas"] == sas
        used = await a.friends.invite_status(str(invite["invite_id"]))
        assert used["used"] is True and used["name"] == "beta" and used["sas"] == sas

        # the same code from another household: refused on both sides, nothing stored
        with pytest.raises(InviteError, match="already used"):
            await c.friends.accept(code, None)
        assert await c.friends.list_json() == []
        assert [f["name"] for f in await a.friends.list_json()] == ["beta"]

        # an invite that expired at the inviter
        short = await a.friends.create_invite(1)
        expires = int(str(short["expires"]))
        await wait_until(lambda: time.time() > expires, "the invite to expire", 5)
        with pytest.raises(InviteError, match="expired"):
            await c.friends.accept(str(short["code"]), None)
        assert await c.friends.list_json() == []

        # garbled codes
        garbled = code[:-3] + ("AAA" if code[-3:] != "AAA" else "BBB")
        with pytest.raises(InviteError, match="garbled"):
            await c.friends.accept(garbled, None)
        assert await c.friends.list_json() == [] and len(await a.friends.list_json()) == 1


async def test_stranger_learns_nothing(tmp_path: Path) -> None:
    async with open_grid(1, tmp_path) as grid:
        (a,) = grid.nodes
        await a.friends.create_invite(600)  # even with a pending invite, only pairing is open
        addr = a.listen[0]
        device = ID.from_base58(a.device)
        protocols = [
            "/citizen/docs/1",
            "/citizen/objects/1",
            "/rendezvous/1.0.0",
            "/ipfs/id/1.0.0",
            "/ipfs/ping/1.0.0",
            "/citizen/enroll/1",
        ]
        stranger = new_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
        results: dict[str, str] = {}
        async with stranger.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            for proto in protocols:
                try:
                    with trio.fail_after(20):
                        await stranger.connect(PeerInfo(device, [Multiaddr(addr)]))
                        await stranger.new_stream(device, [proto])  # type: ignore[list-item]
                    results[proto] = "opened"
                except Exception as exc:
                    results[proto] = f"refused: {type(exc).__name__}"
            # multistream `ls` must not list anything
            from libp2p.protocol_muxer.multiselect_client import MultiselectClient
            from libp2p.protocol_muxer.multiselect_communicator import MultiselectCommunicator

            try:
                with trio.fail_after(20):
                    await stranger.connect(PeerInfo(device, [Multiaddr(addr)]))
                    conn = stranger.get_network().get_connections(device)[0]
                    stream = await conn.new_stream()
                    comm = MultiselectCommunicator(stream)
                    await MultiselectClient().handshake(comm)
                    await comm.write("ls")
                    results["ls"] = await comm.read()
            except Exception as exc:
                results["ls"] = f"refused: {type(exc).__name__}"
        for proto in protocols:
            assert results[proto].startswith("refused"), (proto, results[proto])
        assert "/citizen" not in results["ls"] and "ipfs" not in results["ls"], results["ls"]
        assert await a.friends.list_json() == [] and a.running  # and the node is still up


async def test_rendezvous_finds_a_moved_friend_and_removal(tmp_path: Path) -> None:
    async with open_grid(3, tmp_path) as grid:
        a, b, c = grid.nodes
        old = c.listen
        await grid.stop(c)
        await grid.wait_disconnected(a, c)
        await grid.start(c)  # a new random port: alpha's stored address for gamma is stale
        new = c.listen
        assert new[0] != old[0]

        async def gamma_at_new_address() -> bool:
            f = await a.friend("gamma")
            return bool(f and f["online"] and new[0] in f["devices"][0]["addrs"])  # type: ignore[index]

        await grid.wait_until(gamma_at_new_address, "alpha to reach gamma at its new address")

        # removing a friend closes its connections and refuses its next one
        seen = len(a.log())
        removed = await a.friends.remove("beta")
        assert removed["removed"] is True and removed["name"] == "beta"
        assert await a.friend("beta") is None
        await grid.wait_disconnected(a, b)
        await grid.wait_until(
            lambda: "not a friend" in a.log()[seen:], "alpha to refuse beta's reconnection"
        )
        assert await a.friend("beta") is None
        assert not await b.is_online("alpha")
        # the other friendships are untouched
        assert await a.is_online(c) and await b.is_online(c)


async def test_pairing_again_after_only_the_inviter_removed_the_friendship(
    tmp_path: Path,
) -> None:
    # alpha removed beta, beta still counts alpha as a friend; alpha invites again and
    # beta accepts: both sides hold the new friendship (once beta refused with
    # "already friends" while alpha had stored it, each side with another secret)
    async with open_grid(2, tmp_path) as grid:
        a, b = grid.nodes
        await a.friends.remove("beta")
        assert await b.friend("alpha") is not None
        invite = await a.friends.create_invite(600)
        accepted = await b.friends.accept(str(invite["code"]), None)
        assert accepted["name"] == "alpha" and accepted["welcomed_back"] is False
        on_a = await a.friends.store.get(b.household_id)
        on_b = await b.friends.store.get(a.household_id)
        assert on_a.secret == on_b.secret and on_a.sas == on_b.sas
        await grid.wait_until(lambda: a.is_online("beta"), "alpha to reach beta again")
        await grid.wait_until(lambda: b.is_online("alpha"), "beta to reach alpha again")
