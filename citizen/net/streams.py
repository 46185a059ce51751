"""Streams as features see them, and moving length-prefixed frames over them.

A frame is a 4-byte big-endian length and that many bytes. The reader
refuses a length above the protocol's maximum before reading the body, so a
hostile peer cannot make us buffer more than that.
"""

from __future__ import annotations

import struct
from typing import Protocol

from citizen.errors import RemoteProtocolError

HEADER = struct.Struct(">I")


class ByteStream(Protocol):
    async def read(self, n: int | None = None) -> bytes: ...
    async def write(self, data: bytes) -> None: ...


class Stream(ByteStream, Protocol):
    """A stream to or from another device, as features see it (a libp2p stream underneath)."""

    async def close(self) -> None: ...
    async def reset(self) -> None: ...


class StreamClosed(RemoteProtocolError):
    """The peer closed the stream (cleanly or not) before a whole frame arrived."""

    code = "stream_closed"


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


async def read_exact(stream: ByteStream, n: int) -> bytes:
    chunks: list[bytes] = []
    left = n
    while left:
        try:
            chunk = await stream.read(left)
        except Exception as exc:  # libp2p raises StreamEOF/StreamReset/StreamError
            raise StreamClosed(f"the stream ended: {type(exc).__name__}") from exc
        if not chunk:
            raise StreamClosed("the stream ended in the middle of a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


async def read_frame(stream: ByteStream, max_size: int) -> bytes:
    (length,) = HEADER.unpack(await read_exact(stream, HEADER.size))
    if length > max_size:
        raise RemoteProtocolError(f"frame of {length} bytes exceeds the maximum of {max_size}")
    return await read_exact(stream, length)


async def write_frame(stream: ByteStream, payload: bytes) -> None:
    await stream.write(frame(payload))
