"""Refuse to share a TCP port: a probe bind without SO_REUSEPORT before the host listens.

py-libp2p sets SO_REUSEPORT on its listening sockets (for hole punching), so
a second daemon started on a port another one listens on would start
silently and the kernel would hand it a share of the friends' connections.
Binding a plain socket first (SO_REUSEADDR only, so a restart is not held up
by connections in TIME_WAIT) fails exactly when some socket listens there.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from citizen.errors import PortInUseError


def tcp_endpoint(addr: str) -> tuple[int, str, int] | None:
    """(address family, host, port) of a /ip4|/ip6/HOST/tcp/PORT multiaddr, else None."""
    parts = addr.strip("/").split("/")
    if len(parts) < 4 or parts[2] != "tcp" or parts[0] not in ("ip4", "ip6"):
        return None
    try:
        port = int(parts[3])
    except ValueError:
        return None
    family = socket.AF_INET if parts[0] == "ip4" else socket.AF_INET6
    return family, parts[1], port


def check_ports_free(listen: Iterable[str]) -> None:
    """Raise if another socket already listens on a fixed TCP port of `listen`.

    Port 0 (any free port) and addresses that are not TCP are not probed;
    other bind errors (an address not ours) are left to the host to report.

    Raises:
        PortInUseError: the port is taken, named with the address.
    """
    for addr in listen:
        endpoint = tcp_endpoint(addr)
        if endpoint is None or endpoint[2] == 0:
            continue
        family, host, port = endpoint
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"Port {port} is already in use ({addr}): another citizen daemon or"
                    " another program listens there.",
                    "Stop the other daemon first, or give this one another port:"
                    f" --listen /{'ip4' if family == socket.AF_INET else 'ip6'}/{host}/tcp/PORT"
                    " or network.listen in config.toml.",
                ) from exc
        finally:
            probe.close()
