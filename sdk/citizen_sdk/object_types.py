"""What the SDK's objects area returns: the local API's own models (see `citizen_sdk.types`).

`EvictedObject` is the object as listed plus `evicted`; its `ref` is the
plain `ObjectRef`. `RepairedObject.moved` maps a share number to a
`ShareMove` (``from_``: the old holder or "", ``to``: the new one).
"""

from __future__ import annotations

from citizen.api.models import (
    EncodingTarget,
    EvictedObject,
    HeldByFriend,
    HeldForFriend,
    HolderCheck,
    ObjectCheck,
    ObjectRef,
    ProtectionCounts,
    RemovedObject,
    RepairedObject,
    RepairReport,
    RestoredObject,
    ShareMove,
    ShareProblem,
    Storage,
    UnheardFriend,
)

__all__ = [
    "EncodingTarget",
    "EvictedObject",
    "HeldByFriend",
    "HeldForFriend",
    "HolderCheck",
    "ObjectCheck",
    "ObjectRef",
    "ProtectionCounts",
    "RemovedObject",
    "RepairReport",
    "RepairedObject",
    "RestoredObject",
    "ShareMove",
    "ShareProblem",
    "Storage",
    "UnheardFriend",
]
