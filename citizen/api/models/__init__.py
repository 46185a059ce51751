"""The local API's wire models: every JSON body a route reads or writes, declared once.

Pure: msgspec Structs only (no trio, starlette or sqlite). The routes encode
with them (`citizen.api.bodies`), `/v1/openapi.json` is generated from them
(`citizen.api.openapi`), and `citizen_sdk` decodes with them, so a field
cannot exist in one place only. One module per area; `base` holds the shared
config (frozen, unknown fields refused, defaults left out of the JSON).
"""

from __future__ import annotations

from citizen.api.models.backup import BackupFriend, BackupStatus
from citizen.api.models.base import JsonValue, Model
from citizen.api.models.devices import (
    EnrollDevice,
    Enrollment,
    HouseholdDevice,
    RevokedDevice,
)
from citizen.api.models.docs import (
    ChangeDoc,
    CreatedDoc,
    CreateDoc,
    DeletedDoc,
    DocChange,
    DocHeads,
    DocInfo,
    DocPeer,
    DocShare,
    DocView,
    SharedDoc,
    ShareDoc,
    UnsharedDoc,
    UnshareDoc,
)
from citizen.api.models.errors import ErrorBody
from citizen.api.models.events import (
    DeviceOffline,
    DeviceOnline,
    DocChanged,
    Event,
    FriendOffline,
    FriendOnline,
    ObjectAdded,
    ObjectChanged,
    ObjectRemoved,
)
from citizen.api.models.friends import (
    AcceptInvite,
    CreateInvite,
    Friend,
    FriendDevice,
    FriendOffer,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    SetOffer,
)
from citizen.api.models.objects import (
    EvictedObject,
    HeldByFriend,
    HeldForFriend,
    HolderCheck,
    ObjectCheck,
    ObjectRef,
    ObjectSelector,
    RemovedObject,
    RepairedObject,
    RepairReport,
    RestoredObject,
    ShareMove,
    ShareProblem,
    Storage,
)
from citizen.api.models.status import HolePunch, KeepAlive, PortMapping, Status

__all__ = [
    "AcceptInvite",
    "BackupFriend",
    "BackupStatus",
    "ChangeDoc",
    "CreateDoc",
    "CreateInvite",
    "CreatedDoc",
    "DeletedDoc",
    "DeviceOffline",
    "DeviceOnline",
    "DocChange",
    "DocChanged",
    "DocHeads",
    "DocInfo",
    "DocPeer",
    "DocShare",
    "DocView",
    "EnrollDevice",
    "Enrollment",
    "ErrorBody",
    "Event",
    "EvictedObject",
    "Friend",
    "FriendDevice",
    "FriendOffer",
    "FriendOffline",
    "FriendOnline",
    "HeldByFriend",
    "HeldForFriend",
    "HolderCheck",
    "HolePunch",
    "HouseholdDevice",
    "Invite",
    "InviteState",
    "JsonValue",
    "KeepAlive",
    "Model",
    "ObjectAdded",
    "ObjectChanged",
    "ObjectCheck",
    "ObjectRef",
    "ObjectRemoved",
    "ObjectSelector",
    "Pairing",
    "PortMapping",
    "RemovedFriend",
    "RemovedObject",
    "RepairReport",
    "RepairedObject",
    "RestoredObject",
    "RevokedDevice",
    "SetOffer",
    "ShareDoc",
    "ShareMove",
    "ShareProblem",
    "SharedDoc",
    "Status",
    "Storage",
    "UnshareDoc",
    "UnsharedDoc",
]
