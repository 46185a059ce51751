"""Invites (create, accept, state) and friends (list, offer storage, remove)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citizen.api.models.base import Model, UnixTime
from citizen.ids import DeviceId, HouseholdId

MAX_INVITE_SECONDS = 7 * 24 * 3600
MAX_OFFER_MIB = 16 * 1024 * 1024  # 16 TiB

#: the `{friend}` path parameter
FriendRef = Annotated[
    str,
    msgspec.Meta(pattern="^[^/.][^/]*$", description="Household ID or the friend's display name."),
]
#: the `{invite_id}` path parameter
InviteIdText = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]

Words = Annotated[
    tuple[str, ...], msgspec.Meta(description="The words both sides compare when pairing.")
]


# -- requests --------------------------------------------------------------------------


class CreateInvite(Model, frozen=True, kw_only=True):
    """Make an invite for a friend's household."""

    expires_s: Annotated[
        int,
        msgspec.Meta(ge=1, le=MAX_INVITE_SECONDS, description="Seconds until the invite expires."),
    ] = 600
    qr_svg: Annotated[bool, msgspec.Meta(description="Also return the code as an SVG QR code.")] = (
        False
    )


class AcceptInvite(Model, frozen=True, kw_only=True):
    """Accept a friend's invite code."""

    code: Annotated[str, msgspec.Meta(pattern=r"\S", description="The invite code (CC1...).")]
    name: Annotated[
        Annotated[str, msgspec.Meta(max_length=128)] | None,
        msgspec.Meta(description="Our name for the friend's household."),
    ] = None


class SetOffer(Model, frozen=True, kw_only=True):
    """Storage offered to a friend for its shares."""

    offer_mib: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFER_MIB)] | None,
        msgspec.Meta(description="MiB offered; null for the default ([storage] offer_mib)."),
    ]


# -- responses -------------------------------------------------------------------------


class Invite(Model, frozen=True, kw_only=True):
    """An invite: give `code` (or its QR code) to the friend.

    `qr_svg` is there when it was asked for.
    """

    code: Annotated[str, msgspec.Meta(description="The text code (starts with CC1).")]
    expires: Annotated[int, msgspec.Meta(description="Unix time the invite expires.")]
    invite_id: Annotated[str, msgspec.Meta(description="To ask later whether it was used.")]
    qr_svg: Annotated[str, msgspec.Meta(description="The code as an SVG QR code.")] = ""


class InviteState(Model, frozen=True, kw_only=True):
    """Whether an invite was used, and by which household (then with the SAS words)."""

    invite_id: str
    used: bool
    household: HouseholdId | None = None
    name: str | None = None
    sas: Words = ()


class Pairing(Model, frozen=True, kw_only=True):
    """Paired: the new friend, and the words to compare with it out loud."""

    household: HouseholdId
    name: str
    sas: Words
    welcomed_back: Annotated[
        bool,
        msgspec.Meta(
            description="The friend already knew our household (we recovered it from its"
            " phrase): it keeps the friendship and hands back the household's backup."
        ),
    ] = False


class FriendDevice(Model, frozen=True, kw_only=True):
    """One device of a friend household."""

    device: DeviceId
    name: str
    online: bool
    connection: Annotated[
        Literal["direct", "relayed"] | None,
        msgspec.Meta(description="How we are connected to it now; null when not connected."),
    ]
    last_seen: Annotated[
        int | None, msgspec.Meta(description="Unix time it was last heard from, or null.")
    ]
    addrs: Annotated[tuple[str, ...], msgspec.Meta(description="Addresses last seen.")]


class Friend(Model, frozen=True, kw_only=True):
    """A friend household and its devices."""

    household: HouseholdId
    name: str
    online: Annotated[bool, msgspec.Meta(description="At least one device is connected now.")]
    last_seen: Annotated[
        int | None, msgspec.Meta(description="Unix time any device was last heard from, or null.")
    ]
    paired_at: UnixTime
    sas: Words
    offer_bytes: Annotated[
        int | None, msgspec.Meta(description="Storage offered to it; null for the default.")
    ]
    devices: tuple[FriendDevice, ...]


class RemovedFriend(Model, frozen=True, kw_only=True):
    """The household that is no longer a friend; its devices are disconnected."""

    household: HouseholdId
    name: str
    removed: bool


class FriendOffer(Model, frozen=True, kw_only=True):
    """The storage offer now in force for a friend (null: the default)."""

    household: HouseholdId
    name: str
    offer_bytes: int | None
