"""Test helper: a real daemon with the TCP listener of the local API switched on."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

import httpx

from citizen.config import CONFIG_NAME, SOCKET_NAME, TOKEN_NAME
from tests.daemons import Daemon


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class TcpApi:
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_with_tcp(d: Daemon) -> TcpApi:
    """Init `d`, set `[api] tcp_port` in its config.toml, start it; the port and token."""
    d.init()
    port = free_port()
    config = d.data_dir / CONFIG_NAME
    text, count = re.subn(r"(?m)^tcp_port = 0$", f"tcp_port = {port}", config.read_text())
    assert count == 1, "config.toml no longer has `tcp_port = 0` under [api]"
    config.write_text(text)
    d.start()
    return TcpApi(port, (d.data_dir / TOKEN_NAME).read_text().strip())


def unix_client(d: Daemon) -> httpx.Client:
    """A blocking httpx client on the daemon's Unix socket (no token)."""
    transport = httpx.HTTPTransport(uds=str(d.data_dir / SOCKET_NAME))
    return httpx.Client(transport=transport, base_url="http://citizen.local", timeout=60)
