"""A bare libp2p peer with `ReachabilityService`, run inside a test namespace by test_nat.py.

It is what the daemon's network layer will be once ReachabilityService is
wired into node.py: new_host + FriendGate + ReachabilityService + an echo
protocol. It connects to the `--connect` peers, reports what it knows as JSON
in `--report` (rewritten on every change), and when the test writes
`{"peer": ID, "addrs": [...]}` into `--dial`, connects to that peer with
`ReachabilityService.connect`, echoes a message over the connection and
reports the outcome.

    python -m tests.e2e.nat_peer --seed HEX --trust ID,ID --report FILE
        [--connect ID@MULTIADDR ...] [--dial FILE] [--listen MULTIADDR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from citizen.ids import DeviceId, HouseholdId
from citizen.net.host import FriendGate, advertised_addrs, key_pair_from_seed, new_host
from citizen.net.nat.reachability import ReachabilityService

ECHO = "/test/echo/1"
LISTEN = "/ip4/0.0.0.0/tcp/4747"


def peer_id_of(seed: bytes) -> str:
    return ID.from_pubkey(key_pair_from_seed(seed).public_key).to_base58()


async def _echo(stream: INetStream) -> None:
    data = await stream.read(1024)
    await stream.write(b"echo:" + data)
    await stream.close()


async def main(args: argparse.Namespace) -> None:
    listen = args.listen or LISTEN
    host = new_host(bytes.fromhex(args.seed), [listen])
    trusted = {ID.from_base58(t) for t in args.trust.split(",") if t}
    gate = FriendGate(host, lambda p: p in trusted)
    gate.serve_friends(ECHO, _echo)
    reach = ReachabilityService(host, gate, lambda: _public_addrs(host))
    report: dict[str, object] = {"id": host.get_id().to_base58()}

    def write() -> None:
        kinds = {p.to_base58(): reach.connection_kind(p) for p in trusted}
        s = reach.statistics()
        report.update(
            reachability=s.reachability.state,
            observed_addrs=list(s.reachability.observed),
            reached_addrs=list(s.reachability.reached),
            checked_by=s.reachability.checked_by,
            relay_addrs=list(s.relay_addrs),
            relaying_for=s.relaying_for,
            relay_circuits=s.relay_circuits,
            addrs=reach.addrs(),
            kinds=kinds,
        )
        tmp = Path(args.report + ".tmp")
        tmp.write_text(json.dumps(report))
        os.replace(tmp, args.report)

    async def connect(target: str) -> None:
        peer, addr = target.split("@", 1)
        pid = ID.from_base58(peer)
        while True:
            try:
                with trio.fail_after(10):
                    await host.connect(PeerInfo(pid, [Multiaddr(addr)]))
                break
            except Exception as exc:
                logging.info("connect to %s failed, retrying: %s", target, exc)
                await trio.sleep(0.5)

    async def dial_when_asked() -> None:
        path = Path(args.dial)
        while not path.exists():
            await trio.sleep(0.2)
        order = json.loads(path.read_text())
        pid = ID.from_base58(order["peer"])
        try:
            kind = await reach.connect(pid.to_base58(), list(order["addrs"]))
            with trio.fail_after(20):
                stream = await host.new_stream(pid, [TProtocol(ECHO)])
                await stream.write(b"across two NATs")
                reply = bytes(await stream.read(1024)).decode()
            report["dialed"] = {"kind": kind, "echo": reply, "now": reach.connection_kind(pid)}
        except Exception as exc:
            report["dialed"] = {"error": f"{type(exc).__name__}: {exc}"}
        write()

    async def follow_connections() -> None:
        # What FriendsService's hello does in the daemon: report friends coming and going.
        online: set[ID] = set()
        while True:
            now = {p for p in trusted if host.get_network().get_connections(p)}
            for peer in now - online:
                await reach.peer_ready(DeviceId(peer.to_base58()), HouseholdId("friend"))
            for peer in online - now:
                reach.peer_gone(DeviceId(peer.to_base58()))
            online = now
            await trio.sleep(0.5)

    async with host.run([Multiaddr(listen)]), trio.open_nursery() as nursery:
        await nursery.start(reach.run)
        nursery.start_soon(follow_connections)
        for target in args.connect:
            nursery.start_soon(connect, target)
        if args.dial:
            nursery.start_soon(dial_when_asked)
        while True:
            write()
            with trio.move_on_after(1):
                await reach.wait_changed()


def _public_addrs(host: object) -> list[str]:
    from libp2p.abc import IHost

    assert isinstance(host, IHost)
    return [a for a in advertised_addrs(host) if "/ip4/127." not in a]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", required=True)
    parser.add_argument("--trust", default="")
    parser.add_argument("--report", required=True)
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--dial", default="")
    parser.add_argument("--listen", default="")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    trio.run(main, parser.parse_args())
