"""A second host on a port another one listens on refuses to start and names the port.

py-libp2p sets SO_REUSEPORT on its listeners, so before this a second daemon
on the same port started silently and took a share of the friends'
connections. And a stream handler's failure stays in that stream.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import trio

from citizen.errors import PortInUseError
from citizen.net.host import FriendGate, new_host
from citizen.net.network import Network, contained
from citizen.net.ports import check_ports_free, tcp_endpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _network() -> Network:
    host = new_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
    return Network(host, FriendGate(host, lambda _peer: True))


async def test_a_second_host_on_a_taken_port_refuses_and_names_it() -> None:
    port = _free_port()
    addr = f"/ip4/127.0.0.1/tcp/{port}"
    async with _network().listening([addr]):
        with pytest.raises(PortInUseError) as refused:
            async with _network().listening([addr]):
                pytest.fail("a second host listened on a taken port")
        assert str(port) in refused.value.message and "--listen" in refused.value.hint
        # the wildcard address collides with a host on 127.0.0.1 too
        with pytest.raises(PortInUseError):
            check_ports_free([f"/ip4/0.0.0.0/tcp/{port}"])
    # once the first host is gone the port is free again (TIME_WAIT does not count)
    check_ports_free([addr])


def test_a_socket_with_reuseport_is_found_and_port_zero_is_never_probed() -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError):
            check_ports_free([f"/ip4/127.0.0.1/tcp/{port}"])
    check_ports_free(["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/9/quic-v1", "garbage"])
    assert tcp_endpoint("/ip6/::1/tcp/4001") == (socket.AF_INET6, "::1", 4001)


class _Stream:
    reset_called = False

    async def reset(self) -> None:
        self.reset_called = True


async def test_a_failing_stream_handler_resets_its_stream_only(tmp_path: Path) -> None:
    del tmp_path

    async def handler(_stream: object) -> None:
        raise RuntimeError("a bug in one handler")

    stream = _Stream()
    await contained("/citizen/test/1", handler)(stream)  # type: ignore[arg-type]
    assert stream.reset_called

    async def cancelled(_stream: object) -> None:
        await trio.sleep_forever()

    with trio.move_on_after(0.01):
        await contained("/citizen/test/1", cancelled)(_Stream())  # type: ignore[arg-type]
