"""Objects between NATed homes through a friend's relay, whose byte limit resets circuits.

Alpha (home A) and gamma (home C) reach each other only through beta's relay
(public). Router C is a symmetric NAT, so hole punching cannot make the
connection direct and every byte between alpha and gamma crosses beta.
Alpha needs a share of every segment at gamma (k = n = happiness = 2), and
beta resets each circuit after a few MiB: transfers must resume on the next
circuit instead of failing. Skipped, with the reason, where namespaces or
iptables are not available.
"""

from __future__ import annotations

import random
from pathlib import Path

from citizen.testing.datadir import share_files
from tests.daemons import Daemon, wait_until
from tests.e2e.nat_daemons import NsDaemon, connection, homes_paired_through_beta, online
from tests.e2e.netns import Topology

MIB = 1024 * 1024
CIRCUIT_MIB = 2  # beta's relay limit per circuit, both directions together


def _relayed_homes(
    topo: Topology, ns_daemons: dict[str, NsDaemon], alpha: dict[str, int], beta: dict[str, int]
) -> tuple[NsDaemon, NsDaemon, NsDaemon]:
    """Start the households with these config values and pair them; A to C stays relayed."""
    topo.make_symmetric("c")
    a, b, c = homes_paired_through_beta(ns_daemons, {"alpha": alpha, "beta": beta})
    assert connection(a, "gamma") == "relayed"
    return a, b, c


def _both_online(a: Daemon, c: Daemon) -> None:
    wait_until(lambda: online(a, "gamma") and online(c, "alpha"), "alpha and gamma online")


def _resumed(d: Daemon, request: str) -> int:
    return d.log().count(f"is back; sending {request} again")


def test_large_object_crosses_a_relay_that_resets_every_few_mib(
    topo: Topology, ns_daemons: dict[str, NsDaemon], tmp_path: Path
) -> None:
    a, b, c = _relayed_homes(
        topo, ns_daemons, alpha={"k": 2, "n": 2, "happiness": 2}, beta={"circuit_mib": CIRCUIT_MIB}
    )
    size = 12 * MIB  # 12 segments: gamma's half of them is 3 times the circuit limit
    data = random.Random(7).randbytes(size)
    (tmp_path / "in.bin").write_bytes(data)

    put = a.json("put", str(tmp_path / "in.bin"))
    object_id = put["object_id"]
    assert put["state"] == "complete" and put["segments"] == 12
    households = {a.status()["household"]: "alpha"} | {
        d.status()["household"]: d.name for d in (b, c)
    }
    assert sorted(households[h] for h in put["placement"].values()) == ["beta", "gamma"]
    # beta's relay reset circuits mid-put, and alpha sent the broken stores again
    assert _resumed(a, "StoreShare") >= 1
    # gamma holds one share of every segment for alpha, each exactly once
    assert len(share_files(c.data_dir)) == 12
    held = {h["name"]: h["used"] for h in c.json("storage")["held_for_friends"]}
    assert held["alpha"] == sum(f.stat().st_size for f in share_files(c.data_dir))

    _both_online(a, c)
    report = a.json("verify", object_id)[0]
    assert report["healthy"], report

    # without its local copy alpha needs gamma's shares back through the relay
    a.json("evict", object_id)
    fetched_before = _resumed(a, "FetchShare")
    _both_online(a, c)
    a.json("get", object_id, "-o", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == data
    assert _resumed(a, "FetchShare") > fetched_before
    assert connection(a, "gamma") == "relayed"  # symmetric NAT: it never became direct
    for d in (a, b, c):
        assert "Traceback" not in d.log(), d.name


def test_small_object_crosses_a_relay_with_default_limits_in_one_go(
    topo: Topology, ns_daemons: dict[str, NsDaemon], tmp_path: Path
) -> None:
    a, _, c = _relayed_homes(topo, ns_daemons, alpha={"k": 2, "n": 2, "happiness": 2}, beta={})
    data = random.Random(8).randbytes(3 * MIB + 5)
    (tmp_path / "in.bin").write_bytes(data)
    object_id = a.json("put", str(tmp_path / "in.bin"))["object_id"]
    assert len(share_files(c.data_dir)) == 4
    a.json("evict", object_id)
    a.json("get", object_id, "-o", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == data
    # 128 MiB per circuit by default: nothing had to be sent twice
    assert _resumed(a, "StoreShare") == _resumed(a, "FetchShare") == 0
