"""Port mapping on a real home router: miniupnpd (UPnP IGD + NAT-PMP) on router A, in namespaces.

alpha sits in home A behind router A, which runs miniupnpd (tests/e2e/igd.py);
beta is in the public namespace, gamma in home C behind a plain NAT (see
tests/e2e/netns.py). Only alpha ever has port mapping on, and only inside these
namespaces. Skipped, with the reason, without root, namespaces or miniupnpd.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemons import pair, wait_until
from tests.e2e.igd import Igd
from tests.e2e.nat_daemons import PORT, NsDaemon, connection, online
from tests.e2e.netns import HOME_A, ROUTER_A_WAN, Topology

MAPPED = f"/ip4/{ROUTER_A_WAN}/tcp/{PORT}"


@pytest.fixture
def igd(topo: Topology, tmp_path: Path) -> Iterator[Igd]:
    router = Igd(topo, tmp_path)
    try:
        yield router
    finally:
        router.stop()


def mapping(d: NsDaemon) -> dict[str, object]:
    status: dict[str, object] = d.status()["port_mapping"]
    return status


def mapped_by(d: NsDaemon, method: str) -> bool:
    m = mapping(d)
    return m["method"] == method and m["external_addrs"] == [MAPPED]


def test_upnp_mapping_makes_a_home_device_public_and_directly_reachable(
    igd: Igd, topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    igd.start(upnp=True, natpmp=True)
    a, b, c = ns_daemons["alpha"], ns_daemons["beta"], ns_daemons["gamma"]
    assert not topo.can_connect("public", ROUTER_A_WAN, PORT)  # a closed home, until mapped
    a.allow_port_mapping = True
    for d in (a, b, c):
        d.init()
        d.start()

    wait_until(lambda: mapped_by(a, "upnp"), "alpha's UPnP mapping")
    assert mapping(a)["error"] is None
    assert igd.redirects() == [f"{PORT} -> {HOME_A}:{PORT}"]  # the libp2p port, nothing else
    assert "port mapping: TCP 4747 -> 198.51.100.2:4747 by UPnP IGD" in a.log()
    assert topo.can_connect("public", ROUTER_A_WAN, PORT)
    # nobody else asked: the public and home C daemons have port mapping off
    assert mapping(b)["enabled"] is False and mapping(c)["enabled"] is False

    # beta's dialback now reaches alpha through the mapping: alpha is public
    assert pair(b, a)["name"] == "beta"
    wait_until(lambda: online(a, "beta") and online(b, "alpha"), "alpha and beta online")
    wait_until(lambda: a.status()["reachability"] == "public", "alpha public", timeout=120)
    assert MAPPED in a.status()["reached_addrs"]

    # gamma, behind its own NAT, pairs with alpha and connects directly (no relay)
    assert pair(a, c)["name"] == "alpha"
    wait_until(lambda: online(c, "alpha") and online(a, "gamma"), "alpha and gamma online")
    assert connection(c, "alpha") == "direct"
    assert connection(a, "gamma") == "direct"

    # SIGTERM: the daemon deletes its mapping before it exits
    assert a.stop() == 0
    assert igd.redirects() == []
    assert "DeletePortMapping: external port: 4747" in igd.log()
    assert not topo.can_connect("public", ROUTER_A_WAN, PORT)


def test_nat_pmp_is_used_when_the_router_has_no_upnp(
    igd: Igd, topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    igd.start(upnp=False, natpmp=True)
    a = ns_daemons["alpha"]
    a.allow_port_mapping = True
    a.init()
    a.start()
    wait_until(lambda: mapped_by(a, "natpmp"), "alpha's NAT-PMP mapping")
    assert igd.redirects() == [f"{PORT} -> {HOME_A}:{PORT}"]
    assert "by NAT-PMP (lease 7200 s)" in a.log()
    assert "NAT-PMP port mapping request : 4747->10.0.1.2:4747 tcp lifetime=7200s" in igd.log()
    assert topo.can_connect("public", ROUTER_A_WAN, PORT)
    assert a.stop() == 0
    assert igd.redirects() == []
    assert "NAT-PMP TCP port 4747 mapping removed" in igd.log()


def test_with_port_mapping_off_the_router_is_never_asked(
    igd: Igd, topo: Topology, ns_daemons: dict[str, NsDaemon]
) -> None:
    igd.start(upnp=True, natpmp=True)
    a, b = ns_daemons["alpha"], ns_daemons["beta"]
    for d in (a, b):
        d.init()  # allow_port_mapping stays False: config.toml says port_mapping = false
        d.start()
    assert "port_mapping = false" in (a.data_dir / "config.toml").read_text()
    # by the time beta's dialback has judged alpha, a mapping would long exist
    pair(b, a)
    wait_until(lambda: a.status()["reachability"] == "behind_nat", "alpha behind NAT")
    assert mapping(a) == {"enabled": False, "method": None, "external_addrs": [], "error": None}
    assert igd.redirects() == []
    assert HOME_A not in igd.log()  # no SSDP search, no SOAP call, no NAT-PMP packet from alpha
    assert not topo.can_connect("public", ROUTER_A_WAN, PORT)
