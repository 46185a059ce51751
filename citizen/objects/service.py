"""The objects service: put, get, list, evict, rm and storage, and its long-lived tasks.

Put streams the upload through a `Segmenter`; each segment is written to the
local copy (a temp file) and encrypted and erasure-coded off the trio thread
while the previous segment's shares are being sent (a one-slot channel
between the two tasks bounds memory to a few segments). Shares go to friend
households chosen by `place_shares`; a holder that refuses (quota) or fails
loses its share numbers for this object, and the put fails, deleting every
share it sent, if fewer than `happiness` households still hold shares.
Otherwise the manifest is recorded last, in the household index doc, as
``complete`` or ``under-replicated`` (repair then completes it).

Interrupted puts: a ``kill -9`` leaves a temp file (removed at start-up) and
shares on friends that no manifest names. Those orphans stay accounted on
the friends until `citizen repair` reclaims them: it lists what each
connected friend holds for us (`ListHeld`) and deletes shares no manifest
names.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from nacl.signing import SigningKey

from citizen.errors import UnreachableError, UsageError
from citizen.ids import (
    HouseholdId,
    ShareId,
    new_object_id,
    random_id_bytes,
)
from citizen.net.network import Net
from citizen.net.peers import Peers
from citizen.objects.codec import PROTOCOL_ID
from citizen.objects.context import ObjectsContext, ObjectsSettings
from citizen.objects.health import COMPLETE
from citizen.objects.index import HouseholdIndex, IndexEntry
from citizen.objects.manifest import segment_count
from citizen.objects.names import check_object_name
from citizen.objects.placement import place_shares
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
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareStore

if TYPE_CHECKING:
    from trio_typing import TaskStatus

__all__ = ["ObjectsService", "ObjectsSettings"]

log = logging.getLogger(__name__)

REPAIR_EVERY = 600.0
MAX_NAME = 255


class ObjectsService:
    """This household's objects and the shares it holds for friends.

    Everything is wired here, once: the share server is registered for
    `/citizen/objects/1` (before the host runs is fine), links wait for
    friend devices through `peers`, and a removed friend's shares are
    dropped and what it held for us is re-placed.

    Args:
        db: the daemon's database.
        data_dir: where local copies and held shares live.
        settings: erasure coding, happiness, segment size and the default offer.
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
        self.local = LocalObjects(data_dir, db)
        self.shares = ShareStore(data_dir, db)
        self.index = HouseholdIndex(doc_store, doc_cache, self.local, household)
        self.peers = peers
        self._repair_wanted = trio.Event()
        self.local_changed = trio.Event()  # set, then replaced, when a local copy comes or goes
        self.server = ObjectsServer(self.shares, self.local, peers, settings.offer_bytes)
        net.serve_friends(PROTOCOL_ID, self.server.handle_stream)
        peers.on_friend_removed(self._friend_removed)
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

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Clean up after a crash, then repair periodically and when asked."""
        await self.shares.cleanup()
        await self.local.cleanup_async(await self.index.entries())
        task_status.started()
        while True:
            with trio.move_on_after(REPAIR_EVERY):
                await self._repair_wanted.wait()
            self._repair_wanted = trio.Event()
            await trio.sleep(1)  # let the friend connection settle (or removal finish)
            try:
                await run_repair(self.context, check=False)
            except Exception:
                log.exception("periodic repair failed")

    def want_repair(self) -> None:
        self._repair_wanted.set()

    def _local_changed(self) -> None:
        self.local_changed.set()
        self.local_changed = trio.Event()

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

        Raises:
            UnreachableError: fewer than `happiness` friend households took shares.
            QuotaError: the same, because friends refused for quota.
        """
        if len(name) > MAX_NAME:
            raise UsageError(f"An object name is at most {MAX_NAME} characters.")
        check_object_name(name)  # a display name: never a path (see objects.names)
        s = self.settings
        object_id = new_object_id()
        key = new_object_key()
        oid_bytes = random_id_bytes(object_id, "object ID")
        segs = segment_count(size_hint or 0, s.segment_size)
        per_number = segs * share_size(min(size_hint or 0, s.segment_size) + TAG_SIZE, s.k)
        ctx = self.context
        async with ctx.transfer() as transfer:
            friends = await ctx.friend_households()
            for last_try in (not ctx.refused, True):
                try:  # a friend that refused for quota may have offered more since: ask again
                    placement = place_shares(
                        object_id, s.n, ctx.candidates(transfer, friends), per_number, s.happiness
                    )
                    break
                except UnreachableError:
                    if last_try:
                        raise
                    ctx.refused.clear()
            put = PutJob(ctx, transfer, object_id, key, oid_bytes, placement)
            ctx.in_flight.add(object_id)
            try:
                entry = await put.run(chunks, name)
            finally:
                ctx.in_flight.discard(object_id)
        if entry.state != COMPLETE:
            self.want_repair()
        return self.listing(entry)

    def listing(self, entry: IndexEntry) -> dict[str, object]:
        m = entry.manifest
        return {
            "object_id": m.object_id,
            "name": entry.name,
            "size": m.size,
            "segments": len(m.segments),
            "k": m.k,
            "n": m.n,
            "created": m.created,
            "state": entry.state,
            "local": self.local.has(m.object_id),
            "placement": {str(j): h for j, h in sorted(m.placement.items())},
            "bad": {h: list(v) for h, v in entry.bad.items()},
        }

    # -- list, get, evict, rm -------------------------------------------------------

    async def list(self) -> list[dict[str, object]]:
        entries = await self.index.entries()
        return sorted(
            (self.listing(e) for e in entries.values()),
            key=lambda d: (int(str(d["created"])), str(d["object_id"])),
        )

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
        return await run_repair(self.context, check=check, object_id=object_id)

    async def evict(self, object_id: str) -> dict[str, object]:
        """Drop the local copy; refused while the object is under-replicated."""
        entry = await self.entry(object_id)
        if entry.state != COMPLETE:
            raise UsageError(
                f"Object {entry.object_id} is under-replicated: its local copy is"
                " the safest copy there is, so it was kept.",
                "Run `citizen repair` (with enough friends online), then evict again.",
            )
        removed = await trio.to_thread.run_sync(self.local.remove, entry.object_id)
        self._local_changed()
        return self.listing(entry) | {"evicted": removed}

    async def remove(self, object_id: str) -> dict[str, object]:
        """Forget the object: local copy, index entry, and (signed) its shares at holders."""
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
        await trio.to_thread.run_sync(self.local.remove, m.object_id)
        deleted: dict[str, int] = {}
        unreachable: list[str] = []
        if self.context.net.online:
            async with self.context.transfer() as transfer:
                for holder, ids in sorted(by_holder.items()):
                    try:
                        deleted[holder] = await transfer.delete(holder, ids)
                    except UnreachableError:
                        unreachable.append(holder)
        else:
            unreachable = sorted(by_holder)
        return {
            "object_id": m.object_id,
            "removed": True,
            "deleted": deleted,
            "unreachable": unreachable,
        }

    # -- storage ----------------------------------------------------------------------

    async def storage(self) -> dict[str, object]:
        held: list[dict[str, object]] = []
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
        under: list[str] = []
        entries = await self.index.entries()
        for e in entries.values():
            m = e.manifest
            if e.state != COMPLETE:
                under.append(m.object_id)
            for holder in m.placement.values():
                size = sum(share_size(seg.ciphertext_size, m.k) for seg in m.segments)
                theirs[holder] = theirs.get(holder, 0) + size
        return {
            "held_for_friends": held,
            "held_by_friends": [
                {"household": h, "name": names.get(h, ""), "bytes": b}
                for h, b in sorted(theirs.items())
            ],
            "under_replicated": sorted(under),
            "objects": len(entries),
            "local_bytes": await trio.to_thread.run_sync(self.local.local_size),
        }
