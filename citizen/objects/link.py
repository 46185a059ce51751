"""Talking `/citizen/objects/1` with one holder: the owner's request/answer channel.

One `HolderLink` per friend household per operation: it opens one stream to
one connected device of that household and sends requests one at a time
(a lock serialises callers), each answered by exactly one message. A stream
or connection that breaks is not the end: the request in flight is sent
again on a new stream once the device is connected again (see
`citizen.objects.resume`), and between requests the link moves from a relayed
connection to a direct one as soon as one exists. Every failure that
remains becomes a `CitizenError` (mostly `UnreachableError`), so the
put/get/repair logic handles one error family.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Protocol, TypeVar

import trio

from citizen.errors import CitizenError, RemoteProtocolError, UnreachableError
from citizen.ids import DeviceId, HouseholdId
from citizen.net import conns
from citizen.net.streams import Stream, StreamClosed, read_frame
from citizen.objects.codec import (
    MAX_FRAME,
    PROTOCOL_ID,
    ObjectsMessage,
    decode_body,
    encode_frame,
)
from citizen.objects.resume import Presence, ResumePolicy

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 60.0
OPEN_TIMEOUT = 15.0

M = TypeVar("M")


class Streams(Protocol):
    """What links need of the network (`citizen.net.network.Net`): streams, and one fact."""

    async def open_stream(self, device: str, protocol: str) -> Stream: ...

    def direct(self, device: str) -> bool: ...


class HolderLink:
    """A request/answer stream to one device of a holder household.

    Args:
        net: opens streams to devices.
        household, device: the holder and the one device of it this link talks to.
        presence: tells when the device is connected again; None never resumes.
        policy: how often and how long to retry a request after a break.
    """

    def __init__(
        self,
        net: Streams,
        household: HouseholdId,
        device: DeviceId,
        presence: Presence | None = None,
        policy: ResumePolicy | None = None,
    ) -> None:
        self.household = household
        self.device = device
        self._net = net
        self._presence = presence
        self._policy = policy or ResumePolicy()
        self._stream: Stream | None = None
        self._lock = trio.Lock()
        self._broken: CitizenError | None = None
        #: how many times a request was sent again after a break (for logs and tests)
        self.resumed = 0

    async def request(
        self, msg: ObjectsMessage, answer: type[M] | tuple[type, ...], *, resume: bool = True
    ) -> M:
        """Send `msg` and return the one answer, which must be of type(s) `answer`.

        After a broken stream or connection the request is sent again once the
        device is back, up to the policy's attempts; ``resume=False`` gives up
        at once (for a caller with other holders to ask instead).

        Raises:
            UnreachableError: the stream could not be opened or broke, and the
                device did not come back in time; the link stays broken.
            RemoteProtocolError: the holder answered nonsense (the link is then closed).
        """
        async with self._lock:
            retry = 0
            while True:
                if self._broken is not None:
                    raise self._broken
                try:
                    return await self._exchange(msg, answer)
                except UnreachableError as exc:
                    retry += 1
                    if not (resume and await self._back_again(retry, exc)):
                        self._broken = exc
                        raise
                self.resumed += 1
                log.info(
                    "objects stream to %s (%s) is back; sending %s again (retry %d)",
                    self.device,
                    self.household,
                    type(msg).__name__,
                    retry,
                )

    async def _back_again(self, retry: int, exc: UnreachableError) -> bool:
        """After break number `retry`: wait for the device to be connected again."""
        if self._presence is None or not self._policy.may_retry(retry):
            return False
        log.info("objects stream to %s broke (%s); waiting for it", self.device, exc.message)
        # a dead connection may still be listed for a moment: do not spin on it
        await trio.sleep(self._policy.delay(retry))
        return await self._presence.wait_connected(self.device, self._policy.reconnect_timeout)

    async def _exchange(self, msg: ObjectsMessage, answer: type[M] | tuple[type, ...]) -> M:
        stream = await self._open()
        try:
            with trio.fail_after(REQUEST_TIMEOUT):
                await stream.write(encode_frame(msg))
                reply = decode_body(await read_frame(stream, MAX_FRAME))
        except StreamClosed as exc:
            await self._reset()
            raise self._unreachable("broke", exc) from exc
        except RemoteProtocolError as exc:
            self._broken = exc
            await self._reset()
            raise
        except Exception as exc:  # transport errors, trio.TooSlowError
            await self._reset()
            raise self._unreachable("broke", exc) from exc
        if not isinstance(reply, answer):
            self._broken = RemoteProtocolError(
                f"Friend {self.household} answered a {type(msg).__name__}"
                f" with a {type(reply).__name__}."
            )
            await self._reset()
            raise self._broken
        return reply  # type: ignore[return-value]

    def _unreachable(self, what: str, exc: Exception) -> UnreachableError:
        why = str(exc) or type(exc).__name__
        return UnreachableError(
            f"The objects stream to friend {self.household} {what}: {why}",
            "Wait until that friend is online again, then retry.",
        )

    async def _open(self) -> Stream:
        stream = self._stream
        if stream and conns.stream_relayed(stream) and self._net.direct(self.device):
            # big transfers belong on the direct connection; nothing is in flight now
            log.info("objects stream to %s moves to the direct connection", self.device)
            await self.aclose()
        if self._stream is None:
            try:
                with trio.fail_after(OPEN_TIMEOUT):
                    self._stream = await self._net.open_stream(self.device, PROTOCOL_ID)
            except Exception as exc:
                raise self._unreachable("could not be opened", exc) from exc
        return self._stream

    async def _reset(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await conns.reset_quietly(stream)

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await conns.close_quietly(stream)

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
