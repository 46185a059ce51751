"""The ``/v1/events`` WebSocket's messages: one JSON text frame each, tagged by ``type``.

Positional (not keyword-only), so an app can write ``DocChanged(doc_id)``;
see `citizen.api.routes_events` for when each one is sent.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from citizen.api.models.objects import ObjectState
from citizen.ids import DeviceId, DocId, HouseholdId, ObjectId


class _Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    pass


class FriendOnline(_Event, frozen=True, tag="friend_online"):
    """A device of a friend household connected."""

    household: HouseholdId
    device: DeviceId


class FriendOffline(_Event, frozen=True, tag="friend_offline"):
    """A device of a friend household disconnected (or the friend was removed)."""

    household: HouseholdId
    device: DeviceId


class DeviceOnline(_Event, frozen=True, tag="device_online"):
    """Another device of our own household connected."""

    household: HouseholdId
    device: DeviceId


class DeviceOffline(_Event, frozen=True, tag="device_offline"):
    """Another device of our own household disconnected."""

    household: HouseholdId
    device: DeviceId


class DocChanged(_Event, frozen=True, tag="doc_changed"):
    """A change to the doc was committed here, or the doc appeared (created or shared with us)."""

    doc_id: DocId


class ObjectAdded(_Event, frozen=True, tag="object_added"):
    """An object was put, here or on another device of the household; `size` in bytes."""

    object_id: ObjectId
    name: str
    size: int


class ObjectRemoved(_Event, frozen=True, tag="object_removed"):
    """An object was removed (here or on another device of the household)."""

    object_id: ObjectId


class ObjectChanged(_Event, frozen=True, tag="object_changed"):
    """An object's state (``complete``/``under-replicated``) or local copy changed.

    `local` is whether this device holds the object's plaintext; an evict is
    reported, a restore is not (it shows in the next event about the object).
    """

    object_id: ObjectId
    state: ObjectState
    local: bool


class FolderChanged(_Event, frozen=True, tag="folder_changed"):
    """A folder was added, scanned with changes, paused, resumed, removed or restored.

    `error` says why, when a scan paused the folder (its root or marker gone).
    """

    folder: str
    change: Literal["added", "changed", "paused", "resumed", "removed", "restored"]
    error: str = ""


Event = (
    FriendOnline
    | FriendOffline
    | DeviceOnline
    | DeviceOffline
    | DocChanged
    | ObjectAdded
    | ObjectRemoved
    | ObjectChanged
    | FolderChanged
)

#: every ``type`` this daemon sends
EVENT_TYPES: frozenset[str] = frozenset(
    str(kind.__struct_config__.tag)
    for kind in (
        FriendOnline,
        FriendOffline,
        DeviceOnline,
        DeviceOffline,
        DocChanged,
        ObjectAdded,
        ObjectRemoved,
        ObjectChanged,
        FolderChanged,
    )
)
