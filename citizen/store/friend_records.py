"""A friend, its devices and a pending invite as plain records (what the trust store holds)."""

from __future__ import annotations

from dataclasses import dataclass

from citizen.ids import DeviceId, HouseholdId


@dataclass(frozen=True, slots=True)
class FriendDevice:
    device: DeviceId
    household: HouseholdId
    name: str
    cert: bytes
    addrs: tuple[str, ...]
    last_seen: int | None


@dataclass(frozen=True, slots=True)
class Friend:
    household: HouseholdId
    household_key: bytes
    name: str
    secret: bytes
    paired_at: int
    offer_bytes: int | None
    devices: tuple[FriendDevice, ...]
    sas: str = ""
    changed_at: int = 0  # ms, the household-wide last-writer-wins stamp (friend_sync)


@dataclass(frozen=True, slots=True)
class PendingInvite:
    invite_id: str
    secret: bytes
    expires: int
