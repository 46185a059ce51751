"""citizen_sdk: what apps import to use a household's citizen daemon.

    import citizen_sdk

    async with citizen_sdk.connect() as c:          # trio or asyncio
        print((await c.status()).household_name)
        invite = await c.invites.create(expires_s=600)
        for friend in await c.friends.list():
            print(friend.name, friend.online)

        ref = await c.objects.put("photo.jpg", progress=print)
        async for event in c.events():             # friends come and go, docs and objects change
            print(event)

    with citizen_sdk.connect_sync() as c:           # plain scripts
        print(c.status().household)

    async with citizen_sdk.open_embedded_node(data_dir, name="The Okafors") as c:
        ...                                         # a node in this process, same client

Errors are the daemon's own `CitizenError` subclasses (`NotFoundError`,
`InviteError`, ...), re-exported here.
"""

from __future__ import annotations

from citizen_sdk.client import Client, Friends, Invites, connect
from citizen_sdk.docs import DocHandle, Docs
from citizen_sdk.embedded import open_embedded_node
from citizen_sdk.errors import (
    CitizenError,
    ConfigError,
    DaemonNotRunningError,
    DocClosedError,
    IdentityError,
    InviteError,
    NotAuthorizedError,
    NotFoundError,
    ProtocolError,
    QuotaError,
    RemoteProtocolError,
    UnreachableError,
    UsageError,
)
from citizen_sdk.events import (
    DeviceOffline,
    DeviceOnline,
    DocChanged,
    Event,
    EventStream,
    FriendOffline,
    FriendOnline,
    ObjectAdded,
    ObjectChanged,
    ObjectRemoved,
    OtherEvent,
)
from citizen_sdk.object_types import (
    EvictedObject,
    HeldByFriend,
    HeldForFriend,
    HolderCheck,
    ObjectCheck,
    ObjectRef,
    RemovedObject,
    RepairedObject,
    RepairReport,
    ShareMove,
    ShareProblem,
    Storage,
)
from citizen_sdk.objects import ObjectReader, Objects, Progress
from citizen_sdk.proxy import ListProxy, MapProxy
from citizen_sdk.sync import SyncClient, SyncDocHandle, SyncDocs, SyncObjects, connect_sync
from citizen_sdk.types import (
    DocInfo,
    DocShare,
    Friend,
    FriendDevice,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    SharedDoc,
    Status,
)

__all__ = [
    "CitizenError",
    "Client",
    "ConfigError",
    "DaemonNotRunningError",
    "DeviceOffline",
    "DeviceOnline",
    "DocChanged",
    "DocClosedError",
    "DocHandle",
    "DocInfo",
    "DocShare",
    "Docs",
    "Event",
    "EventStream",
    "EvictedObject",
    "Friend",
    "FriendDevice",
    "FriendOffline",
    "FriendOnline",
    "Friends",
    "HeldByFriend",
    "HeldForFriend",
    "HolderCheck",
    "IdentityError",
    "Invite",
    "InviteError",
    "InviteState",
    "Invites",
    "ListProxy",
    "MapProxy",
    "NotAuthorizedError",
    "NotFoundError",
    "ObjectAdded",
    "ObjectChanged",
    "ObjectCheck",
    "ObjectReader",
    "ObjectRef",
    "ObjectRemoved",
    "Objects",
    "OtherEvent",
    "Pairing",
    "Progress",
    "ProtocolError",
    "QuotaError",
    "RemoteProtocolError",
    "RemovedFriend",
    "RemovedObject",
    "RepairReport",
    "RepairedObject",
    "ShareMove",
    "ShareProblem",
    "SharedDoc",
    "Status",
    "Storage",
    "SyncClient",
    "SyncDocHandle",
    "SyncDocs",
    "SyncObjects",
    "UnreachableError",
    "UsageError",
    "connect",
    "connect_sync",
    "open_embedded_node",
]
