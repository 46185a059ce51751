"""Pairing, the friend-only network and rendezvous, through real daemons and the CLI."""

from __future__ import annotations

import time
from collections.abc import Callable

import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from citizen.net.host import new_host
from tests.daemons import Daemon, friend_named, pair, started, wait_until


def test_pair_replay_and_expiry(make_daemon: Callable[[str], Daemon]) -> None:
    a, b, c = started(make_daemon, "alpha", "beta", "gamma")
    code = a.json("invite", "--expires", "10m")["code"]
    accepted = b.json("accept", code)
    assert accepted["name"] == "alpha"
    assert accepted["household"] == a.status()["household"]
    sas = accepted["sas"]
    assert len(sas) == 4

    on_a = wait_until(lambda: friend_named(a, "beta"), "alpha to list beta")
    assert on_a["sas"] == sas
    assert on_a["household"] == b.status()["household"]
    assert friend_named(b, "alpha")["sas"] == sas

    # the same code from another household: refused on both sides, nothing stored
    replay = c.cli("accept", code, check=False)
    assert replay.returncode == 1
    assert "already used" in replay.stderr
    assert c.json("friends") == []
    assert [f["name"] for f in a.json("friends")] == ["beta"]

    # an invite that expired at the inviter
    short = a.json("invite", "--expires", "1s")["code"]
    time.sleep(1.5)
    expired = c.cli("accept", short, check=False)
    assert expired.returncode == 1 and "expired" in expired.stderr
    assert c.json("friends") == []

    # garbled and forged codes
    garbled = c.cli("accept", code[:-3] + ("AAA" if code[-3:] != "AAA" else "BBB"), check=False)
    assert garbled.returncode == 1 and "garbled" in garbled.stderr
    assert "Traceback" not in garbled.stderr
    assert c.json("friends") == [] and len(a.json("friends")) == 1


def test_stranger_learns_nothing(make_daemon: Callable[[str], Daemon]) -> None:
    (a,) = started(make_daemon, "alpha")
    a.json("invite")  # even with a pending invite, only pairing is open to strangers
    addr = a.status()["listen"][0]
    device = a.status()["device"]
    protocols = [
        "/citizen/docs/1",
        "/citizen/objects/1",
        "/rendezvous/1.0.0",
        "/ipfs/id/1.0.0",
        "/ipfs/ping/1.0.0",
        "/citizen/enroll/1",
    ]

    async def probe() -> dict[str, str]:
        import os

        stranger = new_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
        results: dict[str, str] = {}
        async with stranger.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            for proto in protocols:
                try:
                    with trio.fail_after(20):
                        await stranger.connect(PeerInfo(ID.from_base58(device), [Multiaddr(addr)]))
                        await stranger.new_stream(ID.from_base58(device), [proto])  # type: ignore[list-item]
                    results[proto] = "opened"
                except Exception as exc:
                    results[proto] = f"refused: {type(exc).__name__}"
            # multistream `ls` must not list anything
            from libp2p.protocol_muxer.multiselect_client import MultiselectClient
            from libp2p.protocol_muxer.multiselect_communicator import (
                MultiselectCommunicator,
            )

            try:
                with trio.fail_after(20):
                    await stranger.connect(PeerInfo(ID.from_base58(device), [Multiaddr(addr)]))
                    conn = stranger.get_network().get_connections(ID.from_base58(device))[0]
                    stream = await conn.new_stream()
                    comm = MultiselectCommunicator(stream)
                    await MultiselectClient().handshake(comm)
                    await comm.write("ls")
                    results["ls"] = await comm.read()
            except Exception as exc:
                results["ls"] = f"refused: {type(exc).__name__}"
        return results

    results = trio.run(probe)
    for proto in protocols:
        assert results[proto].startswith("refused"), (proto, results[proto])
    assert "/citizen" not in results["ls"] and "ipfs" not in results["ls"], results["ls"]
    assert a.status()["friends"] == 0  # and the daemon is still up


def test_rendezvous_finds_a_moved_friend_and_removal(make_daemon: Callable[[str], Daemon]) -> None:
    a, b, c = started(make_daemon, "alpha", "beta", "gamma")
    pair(a, b)
    pair(b, c)
    pair(a, c)
    for x, y in ((a, "beta"), (a, "gamma"), (b, "gamma"), (c, "alpha")):
        wait_until(lambda x=x, y=y: (friend_named(x, y) or {}).get("online"), f"{y} online")

    old = c.status()["listen"][0]
    c.stop()
    wait_until(lambda: not friend_named(a, "gamma")["online"], "alpha to see gamma offline")
    c.start()  # a new random port: alpha's stored address for gamma is stale
    assert c.status()["listen"][0] != old
    gamma = wait_until(
        lambda: (f := friend_named(a, "gamma")) and f["online"] and f, "alpha to reach gamma"
    )
    assert c.status()["listen"][0] in gamma["devices"][0]["addrs"]

    # removing a friend closes its connections and refuses its next one
    a.json("friends", "remove", "beta")
    assert friend_named(a, "beta") is None
    wait_until(lambda: not friend_named(b, "alpha")["online"], "beta to see alpha offline")
    wait_until(lambda: "not a friend" in a.log(), "alpha to refuse beta's reconnection")
    assert friend_named(a, "beta") is None
    assert not friend_named(b, "alpha")["online"]
