"""Reassembling length-prefixed frames from arbitrary chunks, pure (no I/O).

A frame is a 4-byte big-endian length and that many bytes. Each protocol's
codec gives a `FrameReader` its body decoder; the reader refuses an oversize
length before buffering the body, and once it has raised it stays broken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from citizen.errors import RemoteProtocolError

HEADER_SIZE = 4
T = TypeVar("T")


class FrameReader(Generic[T]):
    """Feed it received bytes, get the complete messages, in order.

    Args:
        decode: turns one frame body into a message (raises RemoteProtocolError).
        what: the protocol's name, for error messages ("docs", "objects").
        max_frame: the largest body accepted.
    """

    def __init__(self, decode: Callable[[bytes], T], what: str, max_frame: int) -> None:
        self._decode = decode
        self._what = what
        self._max_frame = max_frame
        self._buffer = bytearray()
        self._broken: RemoteProtocolError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[T]:
        """Add received bytes; return every message now complete.

        Raises:
            RemoteProtocolError: an oversize length prefix or an invalid frame.
        """
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        out: list[T] = []
        pos = 0
        buf = self._buffer
        try:
            while len(buf) - pos >= HEADER_SIZE:
                length = int.from_bytes(buf[pos : pos + HEADER_SIZE], "big")
                if length > self._max_frame:
                    raise RemoteProtocolError(
                        f"{self._what} frame of {length} bytes exceeds the limit of"
                        f" {self._max_frame}."
                    )
                end = pos + HEADER_SIZE + length
                if len(buf) < end:
                    break
                out.append(self._decode(bytes(buf[pos + HEADER_SIZE : end])))
                pos = end
        except RemoteProtocolError as exc:
            self._broken = exc
            raise
        finally:
            del buf[:pos]
        return out

    def eof(self) -> None:
        """The peer closed its side; a partly received frame is an error.

        Raises:
            RemoteProtocolError: the stream ended in the middle of a frame.
        """
        if self._broken is not None:
            raise self._broken
        if self._buffer:
            raise RemoteProtocolError(
                f"{self._what} stream ended inside a frame ({len(self._buffer)} bytes pending)."
            )
