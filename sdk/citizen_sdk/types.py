"""What the SDK returns about this device, invites, friends and docs: the local API's own models.

These are the models the daemon encodes its answers with (`citizen.api.models`),
frozen msgspec Structs with typed fields; the SDK decodes each answer straight
into them, and refuses one of another shape with `RemoteProtocolError`.
"""

from __future__ import annotations

from citizen.api.models import (
    CreatedDoc,
    DeletedDoc,
    DocInfo,
    DocShare,
    Friend,
    FriendDevice,
    FriendOffer,
    HolePunch,
    Invite,
    InviteState,
    KeepAlive,
    Pairing,
    PortMapping,
    RemovedFriend,
    SharedDoc,
    Status,
    UnsharedDoc,
)
from citizen.api.models.health import Health, HealthCheck

__all__ = [
    "CreatedDoc",
    "DeletedDoc",
    "DocInfo",
    "DocShare",
    "Friend",
    "FriendDevice",
    "FriendOffer",
    "Health",
    "HealthCheck",
    "HolePunch",
    "Invite",
    "InviteState",
    "KeepAlive",
    "Pairing",
    "PortMapping",
    "RemovedFriend",
    "SharedDoc",
    "Status",
    "UnsharedDoc",
]
