"""citizen_sdk: what apps import to use a household's citizen daemon.

    import citizen_sdk

    async with citizen_sdk.connect() as c:          # trio or asyncio
        print((await c.status()).household_name)
        invite = await c.invites.create(expires_s=600)
        for friend in await c.friends.list():
            print(friend.name, friend.online)

    with citizen_sdk.connect_sync() as c:           # plain scripts
        print(c.status().household)

Errors are the daemon's own `CitizenError` subclasses (`NotFoundError`,
`InviteError`, ...), re-exported here.
"""

from __future__ import annotations

from citizen_sdk.client import Client, Friends, Invites, Objects, connect
from citizen_sdk.docs import DocHandle, Docs
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
from citizen_sdk.proxy import ListProxy, MapProxy
from citizen_sdk.sync import SyncClient, connect_sync
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
    "DocClosedError",
    "DocHandle",
    "DocInfo",
    "DocShare",
    "Docs",
    "Friend",
    "FriendDevice",
    "Friends",
    "IdentityError",
    "Invite",
    "InviteError",
    "InviteState",
    "Invites",
    "ListProxy",
    "MapProxy",
    "NotAuthorizedError",
    "NotFoundError",
    "Objects",
    "Pairing",
    "ProtocolError",
    "QuotaError",
    "RemoteProtocolError",
    "RemovedFriend",
    "SharedDoc",
    "Status",
    "SyncClient",
    "UnreachableError",
    "UsageError",
    "connect",
    "connect_sync",
]
