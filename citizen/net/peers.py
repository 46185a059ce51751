"""`Peers`: the view of friends and our own devices that every feature is handed.

The friends service keeps who is trusted and who is online; docs, objects,
household and backup only need to ask, and to hear when a device comes or
goes or a friend is removed. `citizen.node` passes the friends service (or,
offline, `StoredPeers`) to each of them as a `Peers`, so no feature imports
another's service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Set
from typing import Protocol

from citizen.ids import DeviceId, HouseholdId
from citizen.store.friend_records import Friend
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdStore

#: `await callback(device, household)` once a device said hello (household: ours for own devices)
PeerReady = Callable[[DeviceId, HouseholdId], Awaitable[None]]
PeerGone = Callable[[DeviceId], None]
FriendRemoved = Callable[[HouseholdId], Awaitable[None]]


class Peers(Protocol):
    """Friends and own devices: who they are, who is online, and their comings and goings."""

    @property
    def household(self) -> HouseholdId:
        """Our own household."""
        ...

    @property
    def online(self) -> Mapping[DeviceId, HouseholdId]:
        """Friend devices connected now (said hello), with their households."""
        ...

    @property
    def own_online(self) -> Set[DeviceId]:
        """Devices of our own household connected now."""
        ...

    def household_of(self, device: str) -> HouseholdId | None:
        """Ours for an own device, a friend's for a friend's device, else None."""
        ...

    async def friend(self, household: HouseholdId) -> Friend:
        """One friend household (raises NotFoundError)."""
        ...

    async def friends(self) -> list[Friend]:
        """Every friend household."""
        ...

    async def resolve(self, name_or_id: str) -> Friend:
        """A friend by name or household ID (raises NotFoundError, UsageError)."""
        ...

    def on_peer_ready(self, callback: PeerReady) -> None: ...

    def on_peer_gone(self, callback: PeerGone) -> None: ...

    def on_friend_removed(self, callback: FriendRemoved) -> None: ...

    def wake(self) -> None:
        """Re-check every friend device now (after the friend list changed)."""
        ...


class StoredPeers:
    """`Peers` from the stores alone, with nobody online: what an offline daemon has."""

    def __init__(
        self, household: HouseholdId, store: FriendStore, own: HouseholdStore | None = None
    ) -> None:
        self._household = household
        self.store = store
        self.own = own
        self._online: dict[DeviceId, HouseholdId] = {}
        self._own_online: set[DeviceId] = set()

    @property
    def household(self) -> HouseholdId:
        return self._household

    @property
    def online(self) -> Mapping[DeviceId, HouseholdId]:
        return self._online

    @property
    def own_online(self) -> Set[DeviceId]:
        return self._own_online

    def household_of(self, device: str) -> HouseholdId | None:
        if self.own is not None and self.own.is_own_device(device):
            return self._household
        return self.store.household_of(device)

    async def friend(self, household: HouseholdId) -> Friend:
        return await self.store.get(household)

    async def friends(self) -> list[Friend]:
        return await self.store.list()

    async def resolve(self, name_or_id: str) -> Friend:
        return await self.store.resolve(name_or_id)

    def on_peer_ready(self, callback: PeerReady) -> None:
        pass

    def on_peer_gone(self, callback: PeerGone) -> None:
        pass

    def on_friend_removed(self, callback: FriendRemoved) -> None:
        pass

    def wake(self) -> None:
        pass
