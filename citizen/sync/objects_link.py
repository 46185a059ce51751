"""Talking `/citizen/objects/1` with one holder: the owner's request/answer channel.

One `HolderLink` per friend household per operation: it opens one stream to
one connected device of that household and sends requests one at a time
(a lock serialises callers), each answered by exactly one message. Every
failure of the peer or the transport becomes a `CitizenError` (mostly
`UnreachableError`), so the put/get/repair logic handles one error family.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TypeVar

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from citizen.errors import CitizenError, RemoteProtocolError, UnreachableError
from citizen.ids import DeviceId, HouseholdId
from citizen.sync.framing import read_frame
from citizen.sync.objects_codec import (
    MAX_FRAME,
    PROTOCOL_ID,
    ObjectsMessage,
    decode_body,
    encode_frame,
)

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 60.0
OPEN_TIMEOUT = 15.0

M = TypeVar("M")


class HolderLink:
    """A request/answer stream to one device of a holder household."""

    def __init__(self, host: IHost, household: HouseholdId, device: DeviceId) -> None:
        self.household = household
        self.device = device
        self._host = host
        self._stream: INetStream | None = None
        self._lock = trio.Lock()
        self._broken: CitizenError | None = None

    async def _open(self) -> INetStream:
        if self._broken is not None:
            raise self._broken
        if self._stream is None:
            try:
                with trio.fail_after(OPEN_TIMEOUT):
                    self._stream = await self._host.new_stream(
                        ID.from_base58(self.device), [TProtocol(PROTOCOL_ID)]
                    )
            except Exception as exc:
                self._broken = UnreachableError(
                    f"Could not open an objects stream to friend {self.household}: {exc}"
                )
                raise self._broken from exc
        return self._stream

    async def request(self, msg: ObjectsMessage, answer: type[M] | tuple[type, ...]) -> M:
        """Send `msg` and return the one answer, which must be of type(s) `answer`.

        Raises:
            UnreachableError: the stream could not be opened, broke, or timed out.
            RemoteProtocolError: the holder answered nonsense (the link is then closed).
        """
        async with self._lock:
            stream = await self._open()
            try:
                with trio.fail_after(REQUEST_TIMEOUT):
                    await stream.write(encode_frame(msg))
                    reply = decode_body(await read_frame(stream, MAX_FRAME))
            except RemoteProtocolError as exc:
                self._broken = exc
                await self._reset()
                raise
            except (Exception, trio.TooSlowError) as exc:
                self._broken = UnreachableError(
                    f"The objects stream to friend {self.household} broke: {exc or type(exc)}"
                )
                await self._reset()
                raise self._broken from exc
            if not isinstance(reply, answer):
                self._broken = RemoteProtocolError(
                    f"Friend {self.household} answered a {type(msg).__name__}"
                    f" with a {type(reply).__name__}."
                )
                await self._reset()
                raise self._broken
            return reply  # type: ignore[return-value]

    async def _reset(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with trio.move_on_after(2):
            try:
                await stream.reset()
            except Exception as exc:
                log.debug("objects stream reset failed: %s", exc)

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with trio.move_on_after(2):
            try:
                await stream.close()
            except Exception as exc:
                log.debug("objects stream close failed: %s", exc)

    async def __aenter__(self) -> HolderLink:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()
