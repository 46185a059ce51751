"""What put, repair and restore work with: one household's object stores, settings, peers, links.

`ObjectsService` builds one `ObjectsContext` and hands it to `PutJob`,
`citizen.objects.repair` and `citizen.objects.restore`, so none of them
imports the service. The context is frozen; what changes while the daemon
runs (quota refusals, puts in flight, the repair lock) are the mutable
containers in it, shared by every operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio
from nacl.signing import SigningKey

from citizen.errors import UnreachableError
from citizen.ids import HouseholdId, ObjectId, pick_one
from citizen.net.network import Net
from citizen.net.peers import Peers
from citizen.objects.encoding import EncodingRule, Target
from citizen.objects.health import candidates
from citizen.objects.index import HouseholdIndex, IndexEntry
from citizen.objects.placement import Candidate
from citizen.objects.resume import Presence
from citizen.objects.transfer import Transfer
from citizen.store.objects import LocalObjects

#: a friend unheard of for this long no longer counts towards an object's protection
DEFAULT_GRACE = 24 * 3600.0
_SEE_LS = "See `citizen ls`."


@dataclass(frozen=True, slots=True)
class ObjectsSettings:
    """How objects are encoded, segment size, the bytes offered each friend, the holder grace.

    Attributes:
        rule: chooses k-of-n from the number of friends (or as configured).
        segment_size: plaintext bytes per segment.
        offer_bytes: storage offered to a friend without an offer of its own.
        grace: seconds a holder may stay unheard of before its shares stop counting.
    """

    rule: EncodingRule
    segment_size: int
    offer_bytes: int
    grace: float = DEFAULT_GRACE


@dataclass(frozen=True, slots=True, eq=False)
class ObjectsContext:
    """One household's objects, as the operations on them see it.

    Attributes:
        settings: erasure coding, happiness, segment size and the default offer.
        household: our household ID.
        household_key: the household signing key (signs DeleteShares).
        local: the local copies.
        index: the household index doc (one manifest per object).
        net: streams to friend devices (`OfflineNetwork` when offline).
        peers: friend households and who of them is online.
        presence: lets links wait for a device to be connected again.
        want_repair: ask the service's repair loop to run soon.
        local_changed: tell listeners that a local copy came or went.
        refused: household -> when (`time.monotonic()`) it last refused a share for quota.
        in_flight: objects whose put is running (their shares are no orphans).
        repair_lock: one repair at a time.
        orphans: (holder, share ID) -> when (`time.monotonic()`) the loop first saw it
            named by no manifest; it is deleted when still an orphan `ORPHAN_AGE` later.
        entries_changed: set, then replaced, whenever this device writes an index entry.
    """

    settings: ObjectsSettings
    household: HouseholdId
    household_key: Callable[[], SigningKey]
    local: LocalObjects
    index: HouseholdIndex
    net: Net
    peers: Peers
    presence: Presence
    want_repair: Callable[[], None]
    local_changed: Callable[[], None]
    refused: dict[HouseholdId, float] = field(default_factory=dict)
    in_flight: set[ObjectId] = field(default_factory=set)
    repair_lock: trio.Lock = field(default_factory=trio.Lock)
    orphans: dict[tuple[HouseholdId, str], float] = field(default_factory=dict)
    entries_changed: list[trio.Event] = field(default_factory=lambda: [trio.Event()])

    def entry_written(self) -> None:
        """Wake whoever waits for an object's protection to change."""
        self.entries_changed[0].set()
        self.entries_changed[0] = trio.Event()

    async def put_entry(self, entry: IndexEntry) -> None:
        """Record an index entry (durable on return) and wake waiters."""
        await self.index.put(entry)
        self.entry_written()

    def target(self, friends: int) -> Target:
        """The encoding objects should have with `friends` friend households."""
        return self.settings.rule.target(friends)

    def offline_transfer(self) -> Transfer:
        """A transfer that reaches nobody (a put on an offline daemon stays local only)."""
        return Transfer(self.net, self.household, {}, self.household_key, self.presence)

    def transfer(self) -> Transfer:
        """Links to the friend households online now, for one operation.

        Raises:
            UnreachableError: the daemon runs offline.
        """
        if not self.net.online:
            raise UnreachableError(
                "This daemon runs offline: no friends to store shares with.",
                "Restart it without --offline.",
            )
        online = dict(self.peers.online)
        return Transfer(self.net, self.household, online, self.household_key, self.presence)

    async def friend_households(self) -> list[HouseholdId]:
        """Every friend household, online or not."""
        return [f.household for f in await self.peers.friends()]

    def candidates(self, transfer: Transfer, friends: list[HouseholdId]) -> list[Candidate]:
        """The friends a new share may go to now: online in `transfer`, no recent refusal."""
        return candidates(self.household, friends, transfer.online, self.refused, time.monotonic())

    async def entry(self, object_id: str) -> IndexEntry:
        """The index entry of the object named by its ID, its name, or a unique prefix of
        either (raises NotFoundError, AmbiguousError when several fit)."""
        entries = await self.index.entries()
        named = [(e.object_id, e.name) for e in entries.values()]
        return await self.index.get(ObjectId(pick_one(object_id, named, "object", _SEE_LS)))
