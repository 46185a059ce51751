"""Events for apps: friends coming and going, docs and objects changing, as typed values.

    async with citizen_sdk.connect() as c:
        async for event in c.events():
            match event:
                case citizen_sdk.FriendOnline(household=h):
                    ...
                case citizen_sdk.DocChanged(doc_id=doc_id):
                    ...
                case citizen_sdk.ObjectAdded(object_id=object_id, name=name):
                    ...

They travel over the daemon's ``/v1/events`` WebSocket as JSON text frames,
one model of `citizen.api.models.events` each (see `citizen.api.routes_events`
for when each is sent). Events are not stored:
one that happens while no stream is open is not replayed, so read current
state (``c.friends.list()``, a doc's value, ``c.objects.list()``) after
(re)connecting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import anyio
import msgspec

from citizen.api.models.events import (
    EVENT_TYPES,
    DeviceOffline,
    DeviceOnline,
    DocChanged,
    FriendOffline,
    FriendOnline,
    ObjectAdded,
    ObjectChanged,
    ObjectRemoved,
)
from citizen.api.models.events import Event as KnownEvent
from citizen.errors import CitizenError, RemoteProtocolError, UsageError
from citizen_sdk._decode import HINT, decode
from citizen_sdk._http import Channel
from citizen_sdk._websocket import Closed, WebSocket

__all__ = [
    "DeviceOffline",
    "DeviceOnline",
    "DocChanged",
    "Event",
    "EventStream",
    "FriendOffline",
    "FriendOnline",
    "ObjectAdded",
    "ObjectChanged",
    "ObjectRemoved",
    "OtherEvent",
    "event_from_json",
]

CLOSE_TRY_AGAIN_LATER = 1013
WHAT = "an event from the daemon"


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """An event type this SDK does not know (from a newer daemon): its type and JSON fields."""

    type: str
    fields: Mapping[str, object]


Event = KnownEvent | OtherEvent


def event_from_json(frame: str) -> Event:
    """The event in one text frame from the daemon.

    Raises:
        RemoteProtocolError: not a JSON object with a string "type", or a known
            type not in its model's shape.
    """
    fields = decode(dict[str, object], frame, WHAT)
    kind = fields.get("type")
    if not isinstance(kind, str):
        raise RemoteProtocolError(f"In {WHAT}: no text 'type'.", HINT)
    if kind not in EVENT_TYPES:
        return OtherEvent(kind, {k: v for k, v in fields.items() if k != "type"})
    try:
        event: KnownEvent = msgspec.convert(fields, KnownEvent)
    except msgspec.ValidationError as exc:
        raise RemoteProtocolError(f"In {WHAT}: {exc}.", HINT) from exc
    return event


class EventStream:
    """Events from the daemon, as they happen: ``async for event in stream``.

    ``async with c.events() as stream:`` opens the connection before the
    block starts, so every event after that point is seen; a bare
    ``async for event in c.events()`` opens it on the first iteration. The
    stream ends (StopAsyncIteration) when closed here with `aclose()`.
    """

    def __init__(self, channel: Channel, on_close: Callable[[EventStream], None]) -> None:
        self._channel = channel
        self._on_close = on_close
        self._socket: WebSocket | None = None
        self._closed = False

    async def open(self) -> EventStream:
        """Connect now (``async with`` does this for you).

        Raises:
            CitizenError: the daemon refused, or cannot be reached.
        """
        if self._closed:
            raise UsageError("This event stream is closed.", "Call c.events() again.")
        if self._socket is None:
            self._socket = await self._channel.websocket("/v1/events")
        return self

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        """The next event.

        Raises:
            CitizenError: the daemon went away, or dropped this app for reading too slowly.
            RemoteProtocolError: the daemon sent something that is not an event.
        """
        if self._closed:
            raise StopAsyncIteration
        await self.open()
        assert self._socket is not None
        while True:
            frame = await self._socket.receive()
            match frame:
                case str():
                    return event_from_json(frame)
                case bytes():
                    continue  # nothing binary is defined on this socket
                case Closed(code=code, reason=reason):
                    if self._closed:
                        raise StopAsyncIteration
                    await self.aclose()
                    if code == CLOSE_TRY_AGAIN_LATER:
                        raise CitizenError(
                            "The daemon dropped this app's events: it read them too slowly.",
                            "Handle events faster; re-read current state after reconnecting.",
                        )
                    raise CitizenError(
                        f"The daemon closed the events connection"
                        f" ({code}: {reason or 'no reason given'}).",
                        "Check that it is still running (`citizen status`), then reconnect.",
                    )

    async def aclose(self) -> None:
        """Stop receiving events; iteration then ends."""
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        socket, self._socket = self._socket, None
        if socket is not None:
            with anyio.CancelScope(shield=True):
                await socket.aclose()

    async def __aenter__(self) -> EventStream:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
