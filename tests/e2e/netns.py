"""Two NATed homes and a public network, built from Linux network namespaces for one test.

Topology (all addresses exist only inside the namespaces this creates):

    home_a 10.0.1.2 -- 10.0.1.1 router_a 198.51.100.2 --.
                                                          public 198.51.100.1 / 203.0.113.1
    home_c 10.0.2.2 -- 10.0.2.1 router_c 203.0.113.2 --'

Each router forwards its home's traffic out with iptables MASQUERADE and
silently drops anything coming in that is not a reply (an ordinary home
router with no port forwarding). MASQUERADE keeps a connection's source port
where it can, so a mapping made from a home's port 4747 is reachable at the
router's port 4747 by the peer it was made towards (endpoint-independent
mapping, address-dependent filtering): TCP hole punching works through it
unless `make_symmetric` randomises the ports. The public namespace has no route to either home.
Namespace and interface names carry the test process's pid, so parallel runs
never collide; `Topology.close()` (and the context manager) removes everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

PUBLIC_TO_A = "198.51.100.1"
ROUTER_A_WAN = "198.51.100.2"
PUBLIC_TO_C = "203.0.113.1"
ROUTER_C_WAN = "203.0.113.2"
HOME_A = "10.0.1.2"
HOME_C = "10.0.2.2"


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=30)


def skip_unless_possible() -> None:
    """pytest.skip, with the reason, where namespaces or iptables cannot be used."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN); this test runs as a user")
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed (apt-get install iproute2 iptables)")
    probe = f"czprobe{os.getpid()}"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create network namespaces here: {made.stderr.strip()}")
    try:
        nat = _run(
            "ip", "netns", "exec", probe,
            "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE",
            check=False,
        )  # fmt: skip
        if nat.returncode != 0:
            pytest.skip(f"iptables NAT is not available here: {nat.stderr.strip()}")
    finally:
        _run("ip", "netns", "del", probe, check=False)


@dataclass
class Topology:
    """The namespaces of one test; `ns(name)` is the real name of "home_a", "public", ..."""

    tag: str
    made: list[str] = field(default_factory=list)

    def ns(self, name: str) -> str:
        return f"cz{self.tag}-{name}"

    def exec(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `cmd` inside namespace `name` and wait for it."""
        return _run("ip", "netns", "exec", self.ns(name), *cmd, check=check)

    def prefix(self, name: str) -> list[str]:
        """The argv prefix that runs a long-lived process inside namespace `name`."""
        return ["ip", "netns", "exec", self.ns(name)]

    def can_connect(self, name: str, ip: str, port: int, timeout: float = 3.0) -> bool:
        """Whether a TCP connection from namespace `name` to ip:port is accepted."""
        code = (
            "import socket,sys\n"
            f"s=socket.socket(); s.settimeout({timeout})\n"
            f"sys.exit(0 if s.connect_ex(({ip!r},{port}))==0 else 1)\n"
        )
        import sys

        return self.exec(name, sys.executable, "-c", code, check=False).returncode == 0

    # -- building -------------------------------------------------------------------------

    def build(self) -> None:
        for name in ("public", "router_a", "router_c", "home_a", "home_c"):
            _run("ip", "netns", "add", self.ns(name))
            self.made.append(self.ns(name))
            self.exec(name, "ip", "link", "set", "lo", "up")
        self._link("public", PUBLIC_TO_A, "router_a", ROUTER_A_WAN, 24, "pa")
        self._link("public", PUBLIC_TO_C, "router_c", ROUTER_C_WAN, 24, "pc")
        self._link("router_a", "10.0.1.1", "home_a", HOME_A, 24, "ha")
        self._link("router_c", "10.0.2.1", "home_c", HOME_C, 24, "hc")
        # the public network routes between the two ISPs' subnets, like the internet
        self.exec("public", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.exec("home_a", "ip", "route", "add", "default", "via", "10.0.1.1")
        self.exec("home_c", "ip", "route", "add", "default", "via", "10.0.2.1")
        self._router("router_a", PUBLIC_TO_A, wan=self._ifname("pa", 1), lan=self._ifname("ha", 0))
        self._router("router_c", PUBLIC_TO_C, wan=self._ifname("pc", 1), lan=self._ifname("hc", 0))

    def _ifname(self, link: str, side: int) -> str:
        return f"z{self.tag}{link}{side}"[:15]

    def _link(
        self, left: str, left_ip: str, right: str, right_ip: str, bits: int, link: str
    ) -> None:
        a, b = self._ifname(link, 0), self._ifname(link, 1)
        _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        _run("ip", "link", "set", a, "netns", self.ns(left))
        _run("ip", "link", "set", b, "netns", self.ns(right))
        self.exec(left, "ip", "addr", "add", f"{left_ip}/{bits}", "dev", a)
        self.exec(right, "ip", "addr", "add", f"{right_ip}/{bits}", "dev", b)
        self.exec(left, "ip", "link", "set", a, "up")
        self.exec(right, "ip", "link", "set", b, "up")

    def _router(self, name: str, upstream: str, *, wan: str, lan: str) -> None:
        self.exec(name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.exec(name, "ip", "route", "add", "default", "via", upstream)
        ipt = ("iptables", "-w")
        self.exec(name, *ipt, "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE")
        self.exec(name, *ipt, "-A", "FORWARD", "-i", lan, "-o", wan, "-j", "ACCEPT")
        self.exec(
            name, *ipt, "-A", "FORWARD", "-i", wan, "-o", lan,
            "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT",
        )  # fmt: skip
        self.exec(name, *ipt, "-P", "FORWARD", "DROP")
        # Unsolicited packets to the router itself from the internet are dropped
        # silently (no RST), as most home routers do.
        self.exec(
            name, *ipt, "-A", "INPUT", "-i", wan,
            "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP",
        )  # fmt: skip

    def readdress_router(self, home: str, new_ip: str) -> None:
        """Give the router of `home` ("a" or "c") a new WAN address, as an ISP does at night.

        The old address is removed and `new_ip` (in the same public /24) added;
        MASQUERADE picks the new source by itself, and the kernel drops the NAT
        state of connections made through the old address, so they break.
        """
        router, link = f"router_{home}", f"p{home}"
        wan = self._ifname(link, 1)
        upstream = {"a": PUBLIC_TO_A, "c": PUBLIC_TO_C}[home]
        self.exec(router, "ip", "addr", "flush", "dev", wan)
        self.exec(router, "ip", "addr", "add", f"{new_ip}/24", "dev", wan)
        self.exec(router, "ip", "route", "replace", "default", "via", upstream)

    def make_symmetric(self, home: str) -> None:
        """Make the router of `home` ("a" or "c") a symmetric NAT.

        MASQUERADE --random-fully picks a random source port for every new
        mapping, so each destination sees a different port (endpoint-dependent
        mapping): what a friend observed is useless to anyone else, and hole
        punching cannot work. Skips the test where iptables lacks the option.
        """
        wan = self._ifname(f"p{home}", 1)
        rule = ("POSTROUTING", "1", "-o", wan, "-j", "MASQUERADE", "--random-fully")
        done = self.exec(f"router_{home}", "iptables", "-w", "-t", "nat", "-R", *rule, check=False)
        if done.returncode != 0:
            pytest.skip(f"iptables cannot --random-fully here: {done.stderr.strip()}")

    def close(self) -> None:
        # Deleting a namespace kills its veths (and their peers) with it.
        for ns in reversed(self.made):
            pids = _run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                _run("kill", "-9", pid, check=False)
            _run("ip", "netns", "del", ns, check=False)
        self.made.clear()


@contextmanager
def two_homes_and_public() -> Iterator[Topology]:
    """Build the topology (skipping the test where that is impossible); always tear it down."""
    skip_unless_possible()
    topo = Topology(tag=str(os.getpid()))
    try:
        topo.build()
        yield topo
    finally:
        topo.close()
