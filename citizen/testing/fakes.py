"""In-memory fakes the unit tests share: streams shaped like the ones features get from the network.

Feature code reads and writes a stream (`read`, `write`, `close`, `reset`) and
asks `citizen.net.conns` who is at the other end and over which addresses
(`stream.muxed_conn.peer_id.to_base58()`, `muxed_conn.get_transport_addresses()`).
`memory_stream_pair` gives two such ends joined by `trio.testing`'s in-memory
streams, so a protocol's server and client run against each other with no
sockets, and a test can break the connection between two requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
import trio.testing


@dataclass(frozen=True, slots=True)
class FakePeerId:
    """A peer ID that only knows its base58 text (the device ID)."""

    device: str

    def to_base58(self) -> str:
        return self.device


@dataclass(slots=True)
class FakeConn:
    """The connection facts read off a stream: the remote device and its transport addresses.

    An address with `/p2p-circuit` makes the connection relayed.
    """

    peer: str
    addrs: tuple[str, ...] = ()
    is_closed: bool = False

    @property
    def peer_id(self) -> FakePeerId:
        return FakePeerId(self.peer)

    def get_transport_addresses(self) -> list[str]:
        return list(self.addrs)


class MemoryStream:
    """One end of an in-memory stream to `remote` (the device at the other end)."""

    def __init__(
        self, inner: trio.abc.HalfCloseableStream, remote: str, addrs: tuple[str, ...] = ()
    ) -> None:
        self._inner = inner
        self.muxed_conn = FakeConn(remote, addrs)
        #: bytes written so far (a test can check what went over the wire)
        self.written = 0

    async def read(self, n: int | None = None) -> bytes:
        return bytes(await self._inner.receive_some(n))

    async def write(self, data: bytes) -> None:
        await self._inner.send_all(data)
        self.written += len(data)

    async def close(self) -> None:
        self.muxed_conn.is_closed = True
        await self._inner.aclose()

    async def reset(self) -> None:
        await self.close()


def memory_stream_pair(
    a: str, b: str, *, addrs: tuple[str, ...] = ()
) -> tuple[MemoryStream, MemoryStream]:
    """Two joined ends: the first is device `a`'s (its remote is `b`), the second `b`'s.

    Args:
        a: the device that holds the first end.
        b: the device that holds the second end.
        addrs: the transport addresses both ends report (e.g. a relayed circuit).
    """
    ours, theirs = trio.testing.memory_stream_pair()
    return MemoryStream(ours, b, addrs), MemoryStream(theirs, a, addrs)
