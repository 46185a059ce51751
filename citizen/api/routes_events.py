"""Local API: the ``/v1/events`` WebSocket: friends coming and going, docs and objects changing.

The daemon sends text frames only, each one JSON object with a ``type``
(the models in `citizen.api.models.events`):

- ``{"type": "friend_online", "household", "device"}``: a device of a friend
  household connected and said hello; ``friend_offline`` when its last
  connection closed (or the friend was removed).
- ``{"type": "device_online", "household", "device"}`` and ``device_offline``:
  the same for another device of our own household.
- ``{"type": "doc_changed", "doc_id"}``: a change to the doc was committed here
  (by an app, the CLI, or a friend's device), or the doc appeared (created
  here, or shared with us). Changes close together may come as one event;
  read the doc for its state.
- ``{"type": "object_added", "object_id", "name", "size"}``: an object is in
  the household index: a put finished here, or on another device of the
  household (its index entry replicated here). ``size`` is in bytes.
- ``{"type": "object_removed", "object_id"}``: the object left the index
  (``rm`` here or on another device).
- ``{"type": "object_changed", "object_id", "state", "local"}``: the object's
  ``state`` (``complete`` or ``under-replicated``) or ``local`` (this device
  has its plaintext copy) differs from what was last reported; both carry
  the new values, as ``GET /v1/objects`` lists them.

- ``{"type": "folder_changed", "folder", "change", "error"}``: a folder was
  ``added``, ``changed`` (a scan recorded new versions), ``paused`` (by the
  user, or by a scan that found its root or marker gone: ``error`` says
  which), ``resumed``, ``removed`` or ``restored``.

Object events compare the objects listing after each committed doc change
(the index is a household doc) and after an evict or a restore
(``POST /v1/objects/{id}/restore``, ``citizen restore``), which drop or bring
back a local copy without touching the index. Changes close
together may come as one comparison, so an object added and removed in
between may never be reported.

Frames from the app are ignored. An app that reads events too slowly to keep
up is disconnected with close code 1013 (try again later); events are not
stored, so after reconnecting it reads current state.

Refusals before the handshake are HTTP error answers with the JSON error body
(the bearer token on TCP, as for every route). Like the doc sync socket this
route is not in the OpenAPI document; this docstring is its reference.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import msgspec
import trio
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from citizen.api.bodies import convert_as
from citizen.api.context import ApiContext
from citizen.api.models import (
    DeviceOffline,
    DeviceOnline,
    DocChanged,
    Event,
    FriendOffline,
    FriendOnline,
    ObjectAdded,
    ObjectChanged,
    ObjectRef,
    ObjectRemoved,
)
from citizen.api.models.events import FolderChanged
from citizen.docs.service import DocsService
from citizen.errors import CitizenError
from citizen.folders.service import FolderService
from citizen.friends.service import FriendsService
from citizen.ids import DeviceId, DocId, HouseholdId
from citizen.objects.service import ObjectsService

log = logging.getLogger(__name__)

#: events waiting for one app before it counts as too slow
MAX_QUEUED = 1024
CLOSE_TRY_AGAIN_LATER = 1013


class EventHub:
    """Fans the friends service's callbacks out to every open events socket.

    The friends service cannot forget a callback, so the hub registers once
    (on the first socket) and keeps a set of subscribers instead.
    """

    def __init__(self) -> None:
        self._subscribers: set[trio.MemorySendChannel[Event]] = set()
        self._attached: object | None = None
        self._folders: object | None = None
        self._households: dict[DeviceId, HouseholdId] = {}
        self._own: HouseholdId | None = None

    def attach(self, ctx: ApiContext) -> None:
        """Listen to the friends service, if it runs and the hub does not listen yet."""
        folders = ctx.find("folders", FolderService)
        if folders is not None and folders is not self._folders:
            self._folders = folders
            folders.on_event(
                lambda folder, change, error: self.publish(FolderChanged(folder, change, error))
            )
        friends = ctx.find("friends", FriendsService)
        if friends is None or friends is self._attached:
            return
        self._attached = friends
        self._own = friends.household
        # devices already online when the first app subscribed: know them to report them gone
        self._households.update(friends.online)
        self._households.update(dict.fromkeys(friends.own_online, friends.household))
        friends.on_peer_ready(self._ready)
        friends.on_peer_gone(self._gone)

    @contextmanager
    def subscribed(self, send: trio.MemorySendChannel[Event]) -> Iterator[None]:
        self._subscribers.add(send)
        try:
            yield
        finally:
            self._subscribers.discard(send)

    def publish(self, event: Event) -> None:
        """Queue `event` for every subscriber; one that is full is dropped (closed)."""
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                self._subscribers.discard(send)
                send.close()
            except trio.ClosedResourceError:
                self._subscribers.discard(send)

    async def _ready(self, device: DeviceId, household: HouseholdId) -> None:
        self._households[device] = household
        online = DeviceOnline if household == self._own else FriendOnline
        self.publish(online(household, device))

    def _gone(self, device: DeviceId) -> None:
        household = self._households.pop(device, None)
        if household is None:
            return  # never said hello (or already reported gone)
        offline = DeviceOffline if household == self._own else FriendOffline
        self.publish(offline(household, device))


DocVersions = dict[DocId, tuple[datetime, int]]


async def _doc_versions(docs: DocsService) -> DocVersions:
    return {info.doc_id: (info.updated, info.n_changes) for info in await docs.store.list_docs()}


async def _watch_docs(
    docs: DocsService, send: trio.MemorySendChannel[Event], versions: DocVersions, seen: int
) -> None:
    """Forever: after each committed change, one `doc_changed` per doc that differs."""
    while True:
        # No checkpoint between this check and waiting: no change is missed.
        if docs.change_counter == seen:
            await docs.wait_changed()
        seen = docs.change_counter
        now = await _doc_versions(docs)
        for doc_id, version in now.items():
            if versions.get(doc_id) != version:
                await send.send(DocChanged(doc_id))
        versions = now


#: object ID → its listing entry, as `GET /v1/objects` lists it
Listing = dict[str, ObjectRef]


async def _object_listing(objects: ObjectsService) -> Listing:
    return {o.object_id: o for o in convert_as(await objects.list(), list[ObjectRef])}


def object_events(before: Listing, after: Listing) -> list[Event]:
    """The object events that turn listing `before` into `after`: added, changed, removed."""
    events: list[Event] = []
    for object_id, now in after.items():
        was = before.get(object_id)
        if was is None:
            events.append(ObjectAdded(now.object_id, now.name, now.size))
        elif (was.state, was.local) != (now.state, now.local):
            events.append(ObjectChanged(now.object_id, now.state, now.local))
    for object_id in sorted(before.keys() - after.keys()):
        events.append(ObjectRemoved(before[object_id].object_id))
    return events


async def _next_change(docs: DocsService, seen: int, evicted: trio.Event) -> None:
    """Return once a doc change after `seen` is committed, or `evicted` is set."""
    async with trio.open_nursery() as nursery:

        async def doc_change() -> None:
            # No checkpoint between the check and waiting: no change is missed.
            while docs.change_counter == seen:
                await docs.wait_changed()
            nursery.cancel_scope.cancel()

        async def eviction() -> None:
            await evicted.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(doc_change)
        nursery.start_soon(eviction)


async def _watch_objects(
    docs: DocsService,
    objects: ObjectsService,
    send: trio.MemorySendChannel[Event],
    listing: Listing,
    seen: int,
    evicted: trio.Event,
) -> None:
    """Forever: after each committed change or evict, the object events since the last look.

    `seen` and `evicted` are the docs change counter and the objects service's
    `local_changed` event as they were before `listing` was taken.
    """
    while True:
        if docs.change_counter == seen and not evicted.is_set():
            await _next_change(docs, seen, evicted)
        seen, evicted = docs.change_counter, objects.local_changed
        now = await _object_listing(objects)
        for event in object_events(listing, now):
            await send.send(event)
        listing = now


async def _forward(ws: WebSocket, receive: trio.MemoryReceiveChannel[Event]) -> None:
    """Send each queued event; returns when the hub dropped this app as too slow."""
    async for event in receive:
        await ws.send_text(msgspec.json.encode(event).decode())


async def _until_disconnect(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def _serve(ws: WebSocket, ctx: ApiContext, hub: EventHub) -> None:
    hub.attach(ctx)
    docs = ctx.find("docs", DocsService)
    send, receive = trio.open_memory_channel[Event](MAX_QUEUED)
    # Subscribe and take the docs and objects baselines before accepting: once
    # the app's handshake is done, every later event reaches it. The counter
    # (and the evict event) first: a change while the baselines are read is
    # then looked at again, not missed.
    seen = docs.change_counter if docs is not None else 0
    versions = await _doc_versions(docs) if docs is not None else {}
    objects = ctx.find("objects", ObjectsService) if docs is not None else None
    evicted = objects.local_changed if objects is not None else trio.Event()
    listing = await _object_listing(objects) if objects is not None else {}
    too_slow = False
    with hub.subscribed(send):
        await ws.accept()
        async with trio.open_nursery() as nursery:

            async def forward() -> None:
                nonlocal too_slow
                try:
                    await _forward(ws, receive)
                    too_slow = True
                except (WebSocketDisconnect, OSError, RuntimeError):
                    pass
                nursery.cancel_scope.cancel()

            async def watch_docs(service: DocsService) -> None:
                try:
                    await _watch_docs(service, send, versions, seen)
                except trio.ClosedResourceError:
                    pass  # dropped as too slow; forward() ends the socket
                except CitizenError as exc:
                    log.warning("events socket stopped watching docs: %s", exc)

            async def watch_objects(service: DocsService, objects_service: ObjectsService) -> None:
                try:
                    await _watch_objects(service, objects_service, send, listing, seen, evicted)
                except trio.ClosedResourceError:
                    pass  # dropped as too slow; forward() ends the socket
                except CitizenError as exc:
                    log.warning("events socket stopped watching objects: %s", exc)

            nursery.start_soon(forward)
            if docs is not None:
                nursery.start_soon(watch_docs, docs)
                if objects is not None:
                    nursery.start_soon(watch_objects, docs, objects)
            try:
                await _until_disconnect(ws)
            except WebSocketDisconnect:
                pass
            nursery.cancel_scope.cancel()
    if too_slow:
        log.info("closing an app's events socket: it read events too slowly")
        try:
            await ws.close(CLOSE_TRY_AGAIN_LATER, "events came faster than the app read them")
        except (RuntimeError, OSError, WebSocketDisconnect):
            pass


def routes(ctx: ApiContext) -> list[BaseRoute]:
    hub = EventHub()

    async def events(ws: WebSocket) -> None:
        await _serve(ws, ctx, hub)

    return [WebSocketRoute("/v1/events", events)]
