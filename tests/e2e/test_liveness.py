"""Connections that die silently behind a NAT are found by pings, closed and redialed.

Alpha sits in home A behind its router, beta is public (tests/e2e/netns.py).
Both run with `[network] keepalive_s = 2`. A router that drops everything it
would forward (no FIN, no reset: packets vanish) stands for a router reboot, a
NAT entry timing out or a Wi-Fi link going away. Skipped, with the reason,
where namespaces or iptables are not available.
"""

from __future__ import annotations

import re

from tests.daemons import pair, wait_until
from tests.e2e.nat_daemons import NsDaemon, doc_value, online
from tests.e2e.netns import Topology

KEEPALIVE = 2
BLACKHOLE = ("iptables", "-w", "-I", "FORWARD", "1", "-j", "DROP")
UNBLOCK = ("iptables", "-w", "-D", "FORWARD", "1")
DEAD = re.compile(r"closing connection to (\S+) at .*: dead")


def _start_with_keepalive(*daemons: NsDaemon) -> None:
    for d in daemons:
        d.init()
        d.configure(keepalive_s=KEEPALIVE)
        d.start()


def _dead_closed(d: NsDaemon) -> list[str]:
    """The peers `d` closed a connection to because it stopped answering pings."""
    return DEAD.findall(d.log())


def test_a_silently_dead_connection_is_noticed_on_both_sides_and_redialed(
    topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    a, b = ns_daemons["alpha"], ns_daemons["beta"]
    _start_with_keepalive(a, b)
    pair(b, a)
    wait_until(lambda: online(a, "beta") and online(b, "alpha"), "alpha and beta online")
    doc = b.json("doc", "new", "Across the outage")["doc_id"]
    b.json("doc", "share", doc, "alpha", "--role", "writer")
    b.json("doc", "set", doc, "before", "true")
    wait_until(lambda: doc_value(a, doc) == {"before": True}, "beta's doc at alpha")

    topo.exec("router_a", *BLACKHOLE)  # packets vanish both ways; nobody sends a reset

    wait_until(lambda: not online(b, "alpha"), "beta to see alpha offline", timeout=180)
    wait_until(lambda: not online(a, "beta"), "alpha to see beta offline", timeout=180)
    # each side closed its connection to the other for missing pings
    assert a.status()["device"] in _dead_closed(b)
    assert b.status()["device"] in _dead_closed(a)
    b.json("doc", "set", doc, "during", "true")  # made while alpha is cut off

    topo.exec("router_a", *UNBLOCK)

    wait_until(
        lambda: online(a, "beta") and online(b, "alpha"), "alpha and beta online again", timeout=180
    )
    wait_until(
        lambda: doc_value(a, doc) == {"before": True, "during": True},
        "beta's change from the outage at alpha",
    )


def test_a_healthy_idle_connection_is_kept(ns_daemons: dict[str, NsDaemon]) -> None:
    a, b = ns_daemons["alpha"], ns_daemons["beta"]
    _start_with_keepalive(a, b)
    pair(b, a)
    wait_until(lambda: online(a, "beta") and online(b, "alpha"), "alpha and beta online")
    # many pings answered on both sides: several intervals went by, nobody idle was dropped
    for d in (a, b):
        wait_until(lambda d=d: d.status()["keepalive"]["answered"] >= 10, f"{d.name}'s pings")
    for d in (a, b):
        assert d.status()["keepalive"]["closed_dead"] == 0
        assert _dead_closed(d) == []
    assert online(a, "beta") and online(b, "alpha")
    doc = b.json("doc", "new", "Still here")["doc_id"]
    b.json("doc", "share", doc, "alpha", "--role", "writer")
    b.json("doc", "set", doc, "idle", "false")
    wait_until(lambda: doc_value(a, doc) == {"idle": False}, "beta's doc at alpha")
    a.json("doc", "set", doc, "seen", "true")
    wait_until(lambda: doc_value(b, doc) == {"idle": False, "seen": True}, "alpha's reply")
