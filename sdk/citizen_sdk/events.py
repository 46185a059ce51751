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

They travel over the daemon's ``/v1/events`` WebSocket as JSON text frames
(see `citizen.api.routes_events` for the wire format). Events are not stored:
one that happens while no stream is open is not replayed, so read current
state (``c.friends.list()``, a doc's value, ``c.objects.list()``) after
(re)connecting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import anyio

from citizen.errors import CitizenError, RemoteProtocolError, UsageError
from citizen.ids import DeviceId, DocId, HouseholdId, ObjectId
from citizen_sdk._http import Channel
from citizen_sdk._json import as_map, flag, integer, text
from citizen_sdk._websocket import Closed, WebSocket

CLOSE_TRY_AGAIN_LATER = 1013


@dataclass(frozen=True, slots=True)
class FriendOnline:
    """A device of a friend household connected."""

    household: HouseholdId
    device: DeviceId


@dataclass(frozen=True, slots=True)
class FriendOffline:
    """A device of a friend household disconnected (or the friend was removed)."""

    household: HouseholdId
    device: DeviceId


@dataclass(frozen=True, slots=True)
class DeviceOnline:
    """Another device of our own household connected."""

    household: HouseholdId
    device: DeviceId


@dataclass(frozen=True, slots=True)
class DeviceOffline:
    """Another device of our own household disconnected."""

    household: HouseholdId
    device: DeviceId


@dataclass(frozen=True, slots=True)
class DocChanged:
    """A change to the doc was committed here, or the doc appeared (created or shared with us)."""

    doc_id: DocId


@dataclass(frozen=True, slots=True)
class ObjectAdded:
    """An object was put, here or on another device of the household; `size` in bytes."""

    object_id: ObjectId
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class ObjectRemoved:
    """An object was removed (here or on another device of the household)."""

    object_id: ObjectId


@dataclass(frozen=True, slots=True)
class ObjectChanged:
    """An object's state (``complete``/``under-replicated``) or local copy changed.

    `local` is whether this device holds the object's plaintext; an evict is
    reported, a restore is not (it shows in the next event about the object).
    """

    object_id: ObjectId
    state: str
    local: bool


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """An event type this SDK does not know (from a newer daemon): its type and JSON fields."""

    type: str
    fields: Mapping[str, object]


Event = (
    FriendOnline
    | FriendOffline
    | DeviceOnline
    | DeviceOffline
    | DocChanged
    | ObjectAdded
    | ObjectRemoved
    | ObjectChanged
    | OtherEvent
)

_PEER_EVENTS: dict[str, Callable[[HouseholdId, DeviceId], Event]] = {
    "friend_online": FriendOnline,
    "friend_offline": FriendOffline,
    "device_online": DeviceOnline,
    "device_offline": DeviceOffline,
}


def event_from_json(frame: str) -> Event:
    """The event in one text frame from the daemon.

    Raises:
        RemoteProtocolError: not a JSON object with a string "type", or a known
            type without its fields.
    """
    try:
        value: object = json.loads(frame)
    except ValueError as exc:
        raise RemoteProtocolError(
            f"The daemon sent an event that is not JSON: {exc}.",
            "Update citizen_sdk or the daemon.",
        ) from exc
    m = as_map(value, "An event from the daemon")
    kind = text(m, "type")
    peer = _PEER_EVENTS.get(kind)
    if peer is not None:
        return peer(HouseholdId(text(m, "household")), DeviceId(text(m, "device")))
    match kind:
        case "doc_changed":
            return DocChanged(DocId(text(m, "doc_id")))
        case "object_added":
            return ObjectAdded(ObjectId(text(m, "object_id")), text(m, "name"), integer(m, "size"))
        case "object_removed":
            return ObjectRemoved(ObjectId(text(m, "object_id")))
        case "object_changed":
            return ObjectChanged(ObjectId(text(m, "object_id")), text(m, "state"), flag(m, "local"))
    return OtherEvent(kind, {k: v for k, v in m.items() if k != "type"})


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
