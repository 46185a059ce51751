"""Households behind home NATs, in network namespaces: what passes through, what a relay adds.

Homes A and C each sit behind their own MASQUERADE router with no port
forwarding; household B is in the public namespace, reachable by both (see
tests/e2e/netns.py). Skipped, with the reason, where namespaces or iptables
are not available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemons import pair, wait_until
from tests.e2e.nat_daemons import (
    PORT,
    NsDaemon,
    connection,
    doc_value,
    homes_paired_through_beta,
    online,
)
from tests.e2e.nat_peer import peer_id_of
from tests.e2e.netns import (
    HOME_A,
    HOME_C,
    PUBLIC_TO_A,
    PUBLIC_TO_C,
    ROUTER_A_WAN,
    ROUTER_C_WAN,
    Topology,
)

NEW_ROUTER_A_WAN = "198.51.100.7"  # router A's address after its ISP changed it


def test_the_routers_masquerade_and_keep_homes_closed(topo: Topology, tmp_path: Path) -> None:
    listener = (
        "import socket\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('0.0.0.0', {PORT})); s.listen()\n"
        "while True:\n"
        "    c, a = s.accept(); print(a[0], flush=True); c.close()\n"
    )
    procs = {
        ns: subprocess.Popen(
            [*topo.prefix(ns), sys.executable, "-c", listener], stdout=subprocess.PIPE, text=True
        )
        for ns in ("public", "home_a", "home_c")
    }
    try:
        for ns, ip in (("public", PUBLIC_TO_A), ("home_a", HOME_A), ("home_c", HOME_C)):
            wait_until(lambda ns=ns, ip=ip: topo.can_connect(ns, ip, PORT), f"{ns} listening")
        # both homes reach the public household, each seen as its router's WAN address
        assert topo.can_connect("home_a", PUBLIC_TO_A, PORT)
        assert topo.can_connect("home_c", PUBLIC_TO_C, PORT)
        # nobody reaches into a home: not the other home, not the public side
        for src, dst in (
            ("home_a", HOME_C),
            ("home_a", ROUTER_C_WAN),
            ("home_c", HOME_A),
            ("home_c", ROUTER_A_WAN),
            ("public", ROUTER_A_WAN),
            ("public", HOME_A),
        ):
            assert not topo.can_connect(src, dst, PORT, timeout=2), (src, dst)
    finally:
        for p in procs.values():
            p.kill()
    seen = set(procs["public"].communicate()[0].split())
    assert seen == {PUBLIC_TO_A, ROUTER_A_WAN, ROUTER_C_WAN}  # own probe + two routers, no home


def test_nated_daemons_reach_the_public_friend_and_each_other_only_relayed(
    topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    topo.make_symmetric("c")  # so alpha-gamma stays relayed (hole punching is tested below)
    a, b, c = ns_daemons["alpha"], ns_daemons["beta"], ns_daemons["gamma"]
    for d in (a, b, c):
        d.init()
        d.start()
    assert pair(b, a)["name"] == "beta"  # A dials out through its NAT: fine
    assert pair(b, c)["name"] == "beta"
    for x, y in ((b, "alpha"), (b, "gamma"), (a, "beta"), (c, "beta")):
        wait_until(lambda x=x, y=y: online(x, y), f"{x.name} to see {y} online")
    # both learn they are behind a NAT and that beta is public
    wait_until(lambda: a.status()["reachability"] == "behind_nat", "alpha behind NAT")
    wait_until(lambda: b.status()["reachability"] == "public", "beta public")
    # alpha's direct addresses lie inside home A: gamma reaches alpha only through beta
    wait_until(lambda: a.status().get("relay_addrs"), "alpha's reservation at beta")
    assert pair(a, c)["name"] == "alpha"
    wait_until(lambda: online(c, "alpha"), "gamma to see alpha")
    alpha = next(f for f in c.json("friends") if f["name"] == "alpha")
    assert alpha["devices"][0]["connection"] == "relayed"


def test_relay_at_public_friend_connects_two_nated_homes(topo: Topology, tmp_path: Path) -> None:
    """ReachabilityService in each namespace (tests/e2e/nat_peer.py), as the daemon will run it."""
    seeds = {name: os.urandom(32) for name in ("a", "b", "c")}
    ids = {name: peer_id_of(seed) for name, seed in seeds.items()}
    where = {"a": "home_a", "b": "public", "c": "home_c"}
    connect = {"a": [f"{ids['b']}@/ip4/{PUBLIC_TO_A}/tcp/4747"], "b": [], "c": []}
    connect["c"] = [f"{ids['b']}@/ip4/{PUBLIC_TO_C}/tcp/4747"]
    reports = {name: tmp_path / f"{name}.json" for name in seeds}
    dial_order = tmp_path / "c-dial.json"
    procs = []
    try:
        for name, seed in seeds.items():
            argv = [
                sys.executable, "-m", "tests.e2e.nat_peer",
                "--seed", seed.hex(),
                "--trust", ",".join(i for n, i in ids.items() if n != name),
                "--report", str(reports[name]),
            ]  # fmt: skip
            for target in connect[name]:
                argv += ["--connect", target]
            if name == "c":
                argv += ["--dial", str(dial_order)]
            log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
            procs.append(
                subprocess.Popen(
                    [*topo.prefix(where[name]), *argv],
                    stdout=log,
                    stderr=log,
                    cwd=Path(__file__).resolve().parents[2],
                )
            )

        def report(name: str) -> Any:
            return json.loads(reports[name].read_text()) if reports[name].exists() else {}

        # dialback: B (public) and A (NATed) learn what they are, A sees its router's address
        a_rep = wait_until(
            lambda: (r := report("a")).get("reachability") == "behind_nat" and r, "A behind NAT"
        )
        assert all(o.startswith(f"/ip4/{ROUTER_A_WAN}/tcp/") for o in a_rep["observed_addrs"])
        b_rep = wait_until(lambda: (r := report("b")).get("reachability") == "public" and r, "B")
        assert f"/ip4/{PUBLIC_TO_A}/tcp/4747" in b_rep["reached_addrs"]

        # A keeps a reservation at B and advertises its address through B
        a_rep = wait_until(lambda: (r := report("a")).get("relay_addrs") and r, "A's reservation")
        relayed = f"/ip4/{PUBLIC_TO_A}/tcp/4747/p2p/{ids['b']}/p2p-circuit"
        assert a_rep["relay_addrs"] == [relayed]
        # C is behind a NAT too and reserves as well; B itself is public and reserves nowhere
        wait_until(lambda: report("b").get("relaying_for") == 2, "B relaying for A and C")
        assert report("b")["relay_addrs"] == []

        # C (behind its own NAT) dials A: A's home address fails, the relay at B works
        dial_order.write_text(json.dumps({"peer": ids["a"], "addrs": a_rep["addrs"]}))
        dialed = wait_until(lambda: report("c").get("dialed"), "C's dial to A", timeout=120)
        assert dialed == {"kind": "relayed", "echo": "echo:across two NATs", "now": "relayed"}
        assert wait_until(lambda: report("a")["kinds"].get(ids["c"]) == "relayed", "A sees C")
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_symmetric_nat_homes_still_pair_and_sync_through_relay(
    topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    topo.make_symmetric("c")
    rules = topo.exec("router_c", "iptables", "-w", "-t", "nat", "-S", "POSTROUTING").stdout
    assert "--random-fully" in rules
    a, _b, c = homes_paired_through_beta(ns_daemons)
    assert c.status()["reachability"] == "behind_nat"
    # a hole punch is tried and fails: gamma's router maps port 4747 to a random port
    wait_until(lambda: c.status()["hole_punch"]["failed"] >= 1, "gamma's failed hole punch")
    assert a.status()["hole_punch"]["upgraded"] == c.status()["hole_punch"]["upgraded"] == 0
    assert connection(a, "gamma") == connection(c, "alpha") == "relayed"
    doc = c.json("doc", "new", "Through the relay")["doc_id"]
    c.json("doc", "share", doc, "alpha", "--role", "writer")
    c.json("doc", "set", doc, "nat", '"symmetric"')
    wait_until(lambda: doc_value(a, doc) == {"nat": "symmetric"}, "gamma's doc at alpha")


def test_relayed_connection_upgrades_to_direct_where_nat_allows(
    topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    a, b, c = homes_paired_through_beta(ns_daemons)  # through the relay: no home is reachable
    # no step by anyone: the relayed connection is upgraded by hole punching
    wait_until(
        lambda: connection(a, "gamma") == "direct" and connection(c, "alpha") == "direct",
        "alpha and gamma connected directly",
        timeout=180,
    )
    assert a.status()["hole_punch"]["upgraded"] + c.status()["hole_punch"]["upgraded"] >= 1
    # a real TCP connection between home A and router C's public address, port to port
    tcp = topo.exec("home_a", "ss", "-Htn", "state", "established").stdout
    assert f"{HOME_A}:{PORT}" in tcp and f"{ROUTER_C_WAN}:{PORT}" in tcp, tcp
    # and the relay leg is dropped once the direct one carries the traffic
    wait_until(lambda: b.status()["relay_circuits"] == 0, "beta to stop relaying alpha-gamma")
    doc = a.json("doc", "new", "Direct")["doc_id"]
    a.json("doc", "share", doc, "gamma", "--role", "writer")
    a.json("doc", "set", doc, "path", '"direct"')
    wait_until(lambda: doc_value(c, doc) == {"path": "direct"}, "alpha's doc at gamma")
    c.json("doc", "set", doc, "back", "true")
    wait_until(lambda: doc_value(a, doc) == {"path": "direct", "back": True}, "gamma's reply")


def test_friends_reconnect_after_the_home_routers_address_changes(
    topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    a, b = ns_daemons["alpha"], ns_daemons["beta"]
    for d in (a, b):
        d.init()
        d.start()
    pair(b, a)
    wait_until(lambda: online(a, "beta") and online(b, "alpha"), "alpha and beta online")
    wait_until(lambda: a.status()["observed_addrs"], "beta's dialback tells alpha its address")
    assert all(o.startswith(f"/ip4/{ROUTER_A_WAN}/tcp/") for o in a.status()["observed_addrs"])

    topo.readdress_router("a", NEW_ROUTER_A_WAN)

    # no manual step: alpha notices, re-dials beta, and beta sees it from the new address
    wait_until(
        lambda: (
            (o := a.status()["observed_addrs"])
            and all(x.startswith(f"/ip4/{NEW_ROUTER_A_WAN}/tcp/") for x in o)
        ),
        "alpha's observed address to follow its router",
        timeout=180,
    )
    wait_until(lambda: online(a, "beta") and online(b, "alpha"), "alpha and beta online again")
    assert a.status()["reachability"] == "behind_nat"
    # and the new connection carries sync both ways (beta's old one to alpha is dead)
    doc = b.json("doc", "new", "After the move")["doc_id"]
    b.json("doc", "share", doc, "alpha", "--role", "writer")
    b.json("doc", "set", doc, "where", '"new address"')
    wait_until(lambda: doc_value(a, doc) == {"where": "new address"}, "beta's doc at alpha")
    a.json("doc", "set", doc, "seen", "true")
    wait_until(lambda: doc_value(b, doc) == {"where": "new address", "seen": True}, "reply")
