"""The objects service: put, get, list, evict, rm and storage, and its long-lived tasks.

Puts are local first. Put streams the upload through a `Segmenter`; each
segment is written to the local copy (a temp file) and encrypted and
erasure-coded off the trio thread while the previous segment's shares are
being sent (a one-slot channel between the two tasks bounds memory to a few
segments). k-of-n fits the friends the household has
(`citizen.objects.encoding`); shares go to the friend households online now,
chosen by `place_shares`. A holder that refuses (quota) or fails loses its
share numbers for this object, and none at all may be online: the put is
acknowledged once the local copy and the manifest (in the household index
doc) are durable, and the repair loop (`run`) spreads what is missing as
friends come, re-encodes objects when friends are added or removed, and
reclaims shares no manifest names.

Every object has a protection (``local only``, ``spreading``, ``protected``)
and the number of friend households whose loss it survives, computed when
asked from its placement and the friends now (`health.protection`).
`wait_protected` waits for an object to reach the target.

Interrupted puts and removals: a ``kill -9`` leaves a temp file (removed at
start-up) and shares on friends that no manifest names; an ``rm`` while a
holder is offline leaves that holder's shares. The loop lists what each
connected friend holds for us (`ListHeld`) and deletes shares that no
manifest named for `repair.ORPHAN_AGE` seconds, a day in a household with
other devices (one of them may be putting an object whose manifest reaches
us only when it is done); a friend that comes back is listed at once.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from nacl.signing import SigningKey

from citizen.errors import NotProtectedError, UnreachableError, UsageError
from citizen.ids import (
    DeviceId,
    HouseholdId,
    ObjectId,
    ShareId,
    new_object_id,
    random_id_bytes,
)
from citizen.net.network import Net
from citizen.net.peers import Peers
from citizen.objects.codec import PROTOCOL_ID
from citizen.objects.context import ObjectsContext, ObjectsSettings
from citizen.objects.encoding import LOCAL_ONLY, PROTECTED, PROTECTIONS, Protection
from citizen.objects.health import COMPLETE, Standing, protection, unheard_of
from citizen.objects.index import HouseholdIndex, IndexEntry
from citizen.objects.manifest import segment_count
from citizen.objects.names import check_object_name
from citizen.objects.placement import Candidate, place_shares
from citizen.objects.put import PutJob
from citizen.objects.repair import repair as run_repair
from citizen.objects.repair import verify as run_verify
from citizen.objects.restore import keep_local, open_read, restore_all
from citizen.objects.resume import watch_friends
from citizen.objects.segments import (
    TAG_SIZE,
    new_object_key,
    share_size,
)
from citizen.objects.server import ObjectsServer
from citizen.store.db import Database
from citizen.store.docs import DocCache, DocStore
from citizen.store.household import HouseholdStore
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareStore

if TYPE_CHECKING:
    from trio_typing import TaskStatus

__all__ = ["ObjectsService", "ObjectsSettings"]

log = logging.getLogger(__name__)

REPAIR_EVERY = 600.0
#: how long to let a friend connection settle (or a removal finish) before the loop runs
SETTLE = 1.0
#: a waiter looks again this often (protection also changes as time passes: the grace)
WAIT_RECHECK = 5.0
MAX_NAME = 255


class ObjectsService:
    """This household's objects and the shares it holds for friends.

    Everything is wired here, once: the share server is registered for
    `/citizen/objects/1` (before the host runs is fine), links wait for
    friend devices through `peers`, a friend device that comes wakes the
    repair loop, and a removed friend's shares are dropped and what it held
    for us is re-placed.

    Args:
        db: the daemon's database.
        data_dir: where local copies and held shares live.
        settings: the encoding rule, segment size, default offer and holder grace.
        household: our household ID.
        household_key: the household signing key (signs DeleteShares).
        doc_store, doc_cache: where the household index doc lives.
        net: streams to friend devices (`OfflineNetwork` when offline).
        peers: friend households and who of them is online (`StoredPeers` offline).
    """

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        settings: ObjectsSettings,
        household: HouseholdId,
        household_key: Callable[[], SigningKey],
        doc_store: DocStore,
        doc_cache: DocCache,
        *,
        net: Net,
        peers: Peers,
    ) -> None:
        self.settings = settings
        self.household = household
        self._db = db
        self.local = LocalObjects(data_dir, db)
        self.shares = ShareStore(data_dir, db)
        self.index = HouseholdIndex(doc_store, doc_cache, self.local, household)
        self.peers = peers
        self._repair_wanted = trio.Event()
        self.local_changed = trio.Event()  # set, then replaced, when a local copy comes or goes
        self.server = ObjectsServer(self.shares, self.local, peers, settings.offer_bytes)
        net.serve_friends(PROTOCOL_ID, self.server.handle_stream)
        peers.on_friend_removed(self._friend_removed)
        peers.on_peer_ready(self._peer_ready)
        self.context = ObjectsContext(
            settings=settings,
            household=household,
            household_key=household_key,
            local=self.local,
            index=self.index,
            net=net,
            peers=peers,
            presence=watch_friends(net, peers),  # transfers resume after a break
            want_repair=self.want_repair,
            local_changed=self._local_changed,
        )
        self._counts: dict[Protection, int] = dict.fromkeys(PROTECTIONS, 0)

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Clean up after a crash, then spread, re-encode, repair and reclaim, periodically
        and whenever a friend comes or goes or a put left work."""
        await self.shares.cleanup()
        await self.local.cleanup_async(await self.index.entries())
        await self._refresh_counts()
        task_status.started()
        self.want_repair()  # objects put while no friend was online
        while True:
            with trio.move_on_after(REPAIR_EVERY):
                await self._repair_wanted.wait()
            self._repair_wanted = trio.Event()
            await trio.sleep(SETTLE)
            try:
                if self.context.net.online:
                    await run_repair(
                        self.context,
                        check=False,
                        standing=await self.standing(),
                        shared=await self._has_other_devices(),
                    )
                await self._refresh_counts()
            except Exception:
                log.exception("periodic repair failed")

    async def _has_other_devices(self) -> bool:
        own = HouseholdStore(self._db)
        await own.load()
        return any(own.is_own_device(d.device) for d in await own.devices())

    def want_repair(self) -> None:
        self._repair_wanted.set()

    def _local_changed(self) -> None:
        self.local_changed.set()
        self.local_changed = trio.Event()

    async def _peer_ready(self, device: DeviceId, household: HouseholdId) -> None:
        # a friend came (back): spread to it, and tell it of deletes it missed
        self.want_repair()

    async def _friend_removed(self, household: HouseholdId) -> None:
        # what we held for them goes; what they held for us is re-placed by repair
        held = await self.shares.held_for(household)
        dropped = await self.shares.delete(household, held)
        log.info("friend %s removed: dropped %d shares held for it", household, dropped)
        self.want_repair()

    # -- put --------------------------------------------------------------------------

    async def put(
        self, chunks: AsyncIterator[bytes], name: str, size_hint: int | None
    ) -> dict[str, object]:
        """Store a stream as a new object; returns its listing entry.

        Acknowledged once the local copy and the manifest are durable, however
        few friends took shares (none at all: ``local only``).

        Raises:
            UsageError: the name is too long.
        """
        if len(name) > MAX_NAME:
            raise UsageError(f"An object name is at most {MAX_NAME} characters.")
        check_object_name(name)  # a display name: never a path (see objects.names)
        s = self.settings
        object_id = new_object_id()
        key = new_object_key()
        oid_bytes = random_id_bytes(object_id, "object ID")
        ctx = self.context
        friends = await ctx.friend_households()
        target = ctx.target(len(friends))
        segs = segment_count(size_hint or 0, s.segment_size)
        per_number = segs * share_size(min(size_hint or 0, s.segment_size) + TAG_SIZE, target.k)
        transfer = ctx.transfer() if ctx.net.online else ctx.offline_transfer()
        async with transfer:
            placement = self._place(
                object_id, target.n, lambda: ctx.candidates(transfer, friends), per_number
            )
            put = PutJob(ctx, transfer, object_id, key, oid_bytes, placement, target.k, target.n)
            ctx.in_flight.add(object_id)
            try:
                entry = await put.run(chunks, name)
            finally:
                ctx.in_flight.discard(object_id)
        standing = await self.standing()
        listed = self.listing(entry, standing)
        if entry.state != COMPLETE or listed["protection"] != PROTECTED:
            self.want_repair()
        await self._refresh_counts()
        return listed

    def _place(
        self,
        object_id: ObjectId,
        n: int,
        offered: Callable[[], builtins.list[Candidate]],
        per_number: int,
    ) -> dict[int, str]:
        """Holders among the friends online now; as many as there are, none at worst."""
        ctx = self.context
        for last_try in (not ctx.refused, True):
            try:  # a friend that refused for quota may have offered more since: ask again
                return place_shares(object_id, n, offered(), per_number, 1)
            except UnreachableError:
                if last_try:
                    return {}
                ctx.refused.clear()
                ctx.want_repair()  # objects refused before may fit now too
        return {}

    # -- protection -------------------------------------------------------------------

    async def standing(self) -> Standing:
        """The friends as protection counts them now (see `health.Standing`)."""
        friends = await self.peers.friends()
        heard: dict[str, float | None] = {}
        for f in friends:
            seen = [d.last_seen for d in f.devices if d.last_seen is not None]
            heard[f.household] = float(max(seen)) if seen else float(f.paired_at)
        online = set(self.peers.online.values())
        unheard = unheard_of(heard, online, time.time(), self.settings.grace)
        return Standing(
            friends=frozenset(heard),
            unheard=frozenset(unheard),
            target=self.context.target(len(friends)),
        )

    def listing(self, entry: IndexEntry, standing: Standing) -> dict[str, object]:
        m = entry.manifest
        state, survives = protection(m, entry.bad, standing)
        return {
            "object_id": m.object_id,
            "name": entry.name,
            "size": m.size,
            "segments": len(m.segments),
            "k": m.k,
            "n": m.n,
            "created": m.created,
            "state": entry.state,
            "protection": state,
            "survives": survives,
            "target_survives": standing.target.survive,
            "local": self.local.has(m.object_id),
            "placement": {str(j): h for j, h in sorted(m.placement.items())},
            "bad": {h: list(v) for h, v in entry.bad.items()},
        }

    async def wait_protected(self, object_id: str, timeout: float) -> dict[str, object]:
        """The object's listing once it is protected, or when `timeout` seconds have passed.

        Raises:
            NotFoundError: no such object.
        """
        ctx = self.context
        self.want_repair()
        with trio.move_on_after(max(0.0, timeout)):
            while True:
                changed = ctx.entries_changed[0]
                standing = await self.standing()
                listed = self.listing(await self.entry(object_id), standing)
                if listed["protection"] == PROTECTED or not standing.friends:
                    break  # protected, or no friend at all that could protect it
                with trio.move_on_after(WAIT_RECHECK):
                    await changed.wait()
        await self._refresh_counts()
        return self.listing(await self.entry(object_id), await self.standing())

    def statistics(self) -> dict[str, int]:
        """Objects per protection, as of the last put, removal, listing or loop run."""
        return {str(k): v for k, v in self._counts.items()}

    async def _refresh_counts(self) -> None:
        standing = await self.standing()
        counts: dict[Protection, int] = dict.fromkeys(PROTECTIONS, 0)
        for e in (await self.index.entries()).values():
            counts[protection(e.manifest, e.bad, standing)[0]] += 1
        self._counts = counts

    # -- list, get, evict, rm -------------------------------------------------------

    async def list(self) -> builtins.list[dict[str, object]]:
        entries = await self.index.entries()
        standing = await self.standing()
        listed = [self.listing(e, standing) for e in entries.values()]
        counts: dict[Protection, int] = dict.fromkeys(PROTECTIONS, 0)
        for o in listed:
            counts[o["protection"]] += 1  # type: ignore[index]
        self._counts = counts
        return sorted(listed, key=lambda d: (int(str(d["created"])), str(d["object_id"])))

    async def entry(self, object_id: str) -> IndexEntry:
        return await self.context.entry(object_id)

    async def open_read(self, object_id: str) -> tuple[IndexEntry, AsyncIterator[bytes]]:
        """The object's entry and its plaintext as a stream of chunks (see `restore.open_read`).

        Raises:
            NotFoundError: no such object.
            UnreachableError: too few holders online.
        """
        return await open_read(self.context, object_id)

    async def keep_local(self, object_id: str) -> dict[str, object]:
        """Fetch one object from friends into its local copy (see `restore.keep_local`)."""
        return await keep_local(self.context, object_id)

    async def restore_all(self) -> dict[str, object]:
        """Fetch every object without a local copy from friends (see `restore.restore_all`)."""
        return await restore_all(self.context)

    async def verify(self, object_id: str | None) -> builtins.list[dict[str, object]]:
        """Challenge the holders of one or every object (see `repair.verify`)."""
        return await run_verify(self.context, object_id)

    async def repair(
        self, object_id: str | None = None, *, check: bool = True
    ) -> dict[str, object]:
        """Repair one or every object; `check` challenges every holder (see `repair.repair`)."""
        return await run_repair(
            self.context, check=check, object_id=object_id, standing=await self.standing()
        )

    async def evict(self, object_id: str) -> dict[str, object]:
        """Drop the local copy; refused until the object is protected.

        Raises:
            NotProtectedError: friends do not hold it at the household's target protection.
        """
        entry = await self.entry(object_id)
        standing = await self.standing()
        listed = self.listing(entry, standing)
        if listed["protection"] != PROTECTED or entry.state != COMPLETE:
            survives = listed["survives"]
            how = (
                "no friend holds any of it yet"
                if listed["protection"] == LOCAL_ONLY
                else f"it survives the loss of {'no' if survives is None else survives}"
                f" friend households, the target is {standing.target.survive}"
            )
            raise NotProtectedError(
                f"Object {entry.object_id} is not protected yet ({how}): its local copy is"
                " the safest copy there is, so it was kept.",
                "Wait for it (`citizen put --wait` or `citizen ls`) with friends online,"
                " then evict again.",
            )
        removed = await trio.to_thread.run_sync(self.local.remove, entry.object_id)
        self._local_changed()
        return listed | {"evicted": removed, "local": self.local.has(entry.object_id)}

    async def remove(self, object_id: str) -> dict[str, object]:
        """Forget the object: local copy, index entry, and (signed) its shares at holders.

        Holders offline now keep their shares until the repair loop finds them
        named by no manifest (see the module docstring).
        """
        entry = await self.entry(object_id)
        m = entry.manifest
        by_holder: dict[HouseholdId, list[ShareId]] = {}
        for number, holder in m.placement.items():
            by_holder.setdefault(holder, []).extend(ShareId(s) for s in m.share_ids(number))
        for bad_holder, numbers in entry.bad.items():
            for number in numbers:
                if 0 <= number < m.n:
                    by_holder.setdefault(HouseholdId(bad_holder), []).extend(
                        ShareId(s) for s in m.share_ids(number)
                    )
        await self.index.remove(m.object_id)
        self.context.entry_written()
        await trio.to_thread.run_sync(self.local.remove, m.object_id)
        deleted: dict[str, int] = {}
        unreachable: builtins.list[str] = []
        if self.context.net.online:
            async with self.context.transfer() as transfer:
                for holder, ids in sorted(by_holder.items()):
                    try:
                        deleted[holder] = await transfer.delete(holder, ids)
                    except UnreachableError:
                        unreachable.append(holder)
        else:
            unreachable = sorted(by_holder)
        await self._refresh_counts()
        return {
            "object_id": m.object_id,
            "removed": True,
            "deleted": deleted,
            "unreachable": unreachable,
        }

    # -- storage ----------------------------------------------------------------------

    async def storage(self) -> dict[str, object]:
        held: builtins.list[dict[str, object]] = []
        names: dict[str, str] = {}
        for f in await self.peers.friends():
            names[f.household] = f.name
            held.append(
                {
                    "household": f.household,
                    "name": f.name,
                    "used": await self.shares.used_by(f.household),
                    "quota": self.settings.offer_bytes if f.offer_bytes is None else f.offer_bytes,
                }
            )
        theirs: dict[str, int] = {}
        under: builtins.list[str] = []
        under_protected: builtins.list[str] = []
        counts: dict[Protection, int] = dict.fromkeys(PROTECTIONS, 0)
        standing = await self.standing()
        entries = await self.index.entries()
        for e in entries.values():
            m = e.manifest
            if e.state != COMPLETE:
                under.append(m.object_id)
            state, _ = protection(m, e.bad, standing)
            counts[state] += 1
            if state != PROTECTED:
                under_protected.append(m.object_id)
            for holder in m.placement.values():
                size = sum(share_size(seg.ciphertext_size, m.k) for seg in m.segments)
                theirs[holder] = theirs.get(holder, 0) + size
        self._counts = counts
        target = standing.target
        return {
            "held_for_friends": held,
            "held_by_friends": [
                {"household": h, "name": names.get(h, ""), "bytes": b}
                for h, b in sorted(theirs.items())
            ],
            "under_replicated": sorted(under),
            "under_protected": sorted(under_protected),
            "protection": counts,
            "target": {"k": target.k, "n": target.n, "survives": target.survive},
            "unheard": [
                {"household": h, "name": names.get(h, "")} for h in sorted(standing.unheard)
            ],
            "objects": len(entries),
            "local_bytes": await trio.to_thread.run_sync(self.local.local_size),
        }
