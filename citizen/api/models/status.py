"""`GET /v1/status`: this device, its daemon, and how friends reach it."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citizen.api.models.base import Model
from citizen.api.models.objects import ProtectionCounts
from citizen.ids import DeviceId, HouseholdId

Reachability = Literal["public", "behind_nat", "unknown", "offline"]


class KeepAlive(Model, frozen=True, kw_only=True):
    """Liveness pings on friend connections: watched now, answered, closed as dead."""

    watched: int
    answered: int
    closed_dead: int


class HolePunch(Model, frozen=True, kw_only=True):
    """Relayed connections upgraded to direct ones by hole punching, and attempts that failed."""

    upgraded: int
    failed: int


class PortMapping(Model, frozen=True, kw_only=True):
    """Port mapping at the home router (UPnP or NAT-PMP)."""

    enabled: bool
    method: Literal["upnp", "natpmp"] | None
    external_addrs: tuple[str, ...]
    error: str | None


class Status(Model, frozen=True, kw_only=True):
    """This device and its daemon.

    The reachability fields after `reachability` are left out when the daemon
    runs offline (`reachability` is then "offline").
    """

    household: HouseholdId
    household_name: str
    device: DeviceId
    device_name: str
    listen: tuple[str, ...]
    uptime_s: float
    friends: Annotated[int, msgspec.Meta(description="Friend households.")]
    friends_online: Annotated[
        int, msgspec.Meta(description="Friend households with a device connected now.")
    ]
    offline: bool
    recovering: bool
    pid: int
    keepalive: KeepAlive | None
    port_mapping: PortMapping
    reachability: Reachability
    observed_addrs: Annotated[
        tuple[str, ...] | None,
        msgspec.Meta(description="Addresses friends saw our connections come from."),
    ] = None
    reached_addrs: Annotated[
        tuple[str, ...] | None,
        msgspec.Meta(description="Addresses at which a friend opened a new connection to us."),
    ] = None
    checked_by: Annotated[
        int | None, msgspec.Meta(description="Friend devices whose dialback answer counted.")
    ] = None
    relay_addrs: Annotated[
        tuple[str, ...] | None, msgspec.Meta(description="Our addresses through friends' relays.")
    ] = None
    relaying_for: Annotated[
        int | None, msgspec.Meta(description="Relay reservations we hold for friends.")
    ] = None
    relay_circuits: Annotated[
        int | None, msgspec.Meta(description="Circuits we relay for friends now.")
    ] = None
    hole_punch: HolePunch | None = None
    objects: Annotated[
        ProtectionCounts | None,
        msgspec.Meta(description="This household's objects per protection state."),
    ] = None
