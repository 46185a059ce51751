"""A real UPnP IGD + NAT-PMP server (Debian's miniupnpd) on router A of tests/e2e/netns.py.

Everything it touches lives in the test's namespaces and tmp dir: its config,
pid and lease files are under tmp_path, its nftables table is in router A's
namespace, and the processes are stopped at teardown (the namespaces'
teardown kills anything left).

Two details make a test network look like the internet to miniupnpd:

- It refuses to map ports when the router's WAN address is in a reserved
  range, and 198.51.100.2 is a documentation address. With
  `ext_perform_stun` it asks a STUN server for its public address instead,
  and maps if that server sees it unfiltered: a tiny STUN responder
  (`STUN_SERVER`) runs in the public namespace for that.
- Its rules live in their own nftables table, while the router's firewall
  (iptables) drops forwarded packets by default; one rule lets through what
  the port mapper DNATed, as a home router's own firewall does.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.daemons import wait_until
from tests.e2e.netns import PUBLIC_TO_A, Topology

TABLE = "czupnp"
STUN_PORT = 3478

# Answers every STUN binding request with the address it came from (RFC 5389
# XOR-MAPPED-ADDRESS), from the port it was sent to.
STUN_SERVER = """
import socket, struct
COOKIE = 0x2112A442
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {port}))
while True:
    data, (ip, port) = s.recvfrom(2048)
    if len(data) < 20 or data[:2] != b"\\x00\\x01":
        continue
    xip = struct.unpack(">I", socket.inet_aton(ip))[0] ^ COOKIE
    attr = struct.pack(">HHBBHI", 0x0020, 8, 0, 1, port ^ (COOKIE >> 16), xip)
    s.sendto(struct.pack(">HHI", 0x0101, len(attr), COOKIE) + data[8:20] + attr, (ip, port))
"""

NFT_TABLE = """
table inet {table} {{
    chain forward {{
        type filter hook forward priority 0; policy accept;
        jump miniupnpd
    }}
    chain miniupnpd {{
    }}
    chain prerouting {{
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }}
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
    }}
    chain prerouting_miniupnpd {{
    }}
    chain postrouting_miniupnpd {{
    }}
}}
"""


def skip_unless_installed() -> None:
    for tool, package in (("miniupnpd", "miniupnpd"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            pytest.skip(
                f"`{tool}` is not installed: the port mapping tests need a real UPnP/NAT-PMP "
                f"router (as root: DEBIAN_FRONTEND=noninteractive apt-get install -y {package}; "
                "`make test` does it)"
            )


class Igd:
    """miniupnpd on router A (WAN 198.51.100.2, LAN 10.0.1.0/24), plus its STUN helper."""

    def __init__(self, topo: Topology, tmp: Path) -> None:
        self.topo = topo
        self.tmp = tmp
        self.log_path = tmp / "miniupnpd.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, upnp: bool = True, natpmp: bool = True) -> None:
        skip_unless_installed()
        wan, lan = self.topo._ifname("pa", 1), self.topo._ifname("ha", 0)
        nft = self.tmp / "igd.nft"
        nft.write_text(NFT_TABLE.format(table=TABLE))
        self.topo.exec("router_a", "nft", "-f", str(nft))
        self.topo.exec(
            "router_a", "iptables", "-w", "-I", "FORWARD", "-i", wan, "-o", lan,
            "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT",
        )  # fmt: skip
        stun = self.tmp / "stun.py"
        stun.write_text(STUN_SERVER.format(port=STUN_PORT))
        self._spawn("public", [sys.executable, str(stun)], self.tmp / "stun.log")
        config = self.tmp / "miniupnpd.conf"
        config.write_text(
            "\n".join(
                [
                    f"ext_ifname={wan}",
                    f"listening_ip={lan}",
                    "ext_perform_stun=yes",
                    f"ext_stun_host={PUBLIC_TO_A}",
                    f"ext_stun_port={STUN_PORT}",
                    f"enable_upnp={'yes' if upnp else 'no'}",
                    f"enable_natpmp={'yes' if natpmp else 'no'}",
                    "secure_mode=yes",
                    "system_uptime=yes",
                    f"upnp_table_name={TABLE}",
                    f"upnp_nat_table_name={TABLE}",
                    f"lease_file={self.tmp / 'miniupnpd.leases'}",
                    f"uuid={uuid.uuid4()}",
                    "allow 1024-65535 10.0.1.0/24 1024-65535",
                    "deny 0-65535 0.0.0.0/0 0-65535",
                    "",
                ]
            )
        )
        argv = ["miniupnpd", "-d", "-f", str(config), "-P", str(self.tmp / "miniupnpd.pid")]
        ready = ("Listening for NAT-PMP" if natpmp else "HTTP listening on port", "EXITING")
        # STUN may need a retry while the STUN helper starts; miniupnpd then exits
        for _ in range(5):
            seen = len(self.log())
            proc = self._spawn("router_a", argv, self.log_path)
            wait_until(
                lambda p=proc, n=seen: (
                    p.poll() is not None or any(r in self.log()[n:] for r in ready)
                ),
                "miniupnpd to start",
                timeout=30,
            )
            if proc.poll() is None and "Port forwarding is now enabled" in self.log()[seen:]:
                return
            self._end(proc)
            time.sleep(0.5)
        raise AssertionError(f"miniupnpd did not start:\n{self.log()}")

    def _spawn(self, ns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen([*self.topo.prefix(ns), *argv], stdout=out, stderr=out)
        self.procs.append(proc)
        return proc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def redirects(self) -> list[str]:
        """miniupnpd's live port forwards, as "EXT_PORT -> IP:PORT"."""
        chain = self.topo.exec(
            "router_a", "nft", "list", "chain", "inet", TABLE, "prerouting_miniupnpd"
        ).stdout
        found = re.findall(r"dport (\d+) dnat ip to ([\d.]+:\d+)", chain)
        return [f"{port} -> {to}" for port, to in found]

    def _end(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            self._end(proc)
        self.procs.clear()
