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

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import trio
from nacl.signing import SigningKey

from citizen.errors import NotFoundError, UnreachableError, UsageError
from citizen.ids import (
    HouseholdId,
    ObjectId,
    ShareId,
    new_object_id,
    parse_object_id,
    random_id_bytes,
)
from citizen.objects.codec import PROTOCOL_ID
from citizen.objects.index import (
    COMPLETE,
    UNDER_REPLICATED,
    HouseholdIndex,
    IndexEntry,
)
from citizen.objects.manifest import Manifest, segment_count
from citizen.objects.placement import Candidate, place_shares
from citizen.objects.put import PutJob
from citizen.objects.resume import Presence, watch_friends
from citizen.objects.segments import (
    TAG_SIZE,
    new_object_key,
    share_size,
)
from citizen.objects.server import ObjectsServer
from citizen.objects.transfer import Transfer
from citizen.store.db import Database
from citizen.store.docs import DocCache, DocStore
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareStore

if TYPE_CHECKING:
    from libp2p.abc import IHost
    from trio_typing import TaskStatus

    from citizen.friends.service import FriendsService
    from citizen.net.host import FriendGate

log = logging.getLogger(__name__)

MIB = 1024 * 1024
READ_CHUNK = 256 * 1024
REPAIR_EVERY = 600.0
#: a household that refused a share for quota is not offered new objects for this long
QUOTA_BACKOFF = 600.0
UNKNOWN_ROOM = 1 << 62
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class ObjectsSettings:
    k: int
    n: int
    happiness: int
    segment_size: int
    offer_bytes: int


class ObjectsService:
    """This household's objects and the shares it holds for friends.

    Args:
        db: the daemon's database.
        data_dir: where local copies and held shares live.
        settings: erasure coding, happiness, segment size and the default offer.
        household: our household ID.
        household_key: the household signing key (signs DeleteShares).
        doc_store, doc_cache: where the household index doc lives.
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
    ) -> None:
        self.settings = settings
        self.household = household
        self.household_key = household_key
        self.local = LocalObjects(data_dir, db)
        self.shares = ShareStore(data_dir, db)
        self.index = HouseholdIndex(doc_store, doc_cache, self.local, household)
        self.host: IHost | None = None
        self.friends: FriendsService | None = None
        self.server: ObjectsServer | None = None
        self.presence: Presence | None = None
        self.repair_lock = trio.Lock()
        self.refused: dict[HouseholdId, float] = {}
        self._repair_wanted = trio.Event()
        self._in_flight: set[ObjectId] = set()
        self.local_changed = trio.Event()  # set, then replaced, when evict drops a local copy

    # -- wiring -----------------------------------------------------------------------

    def attach_network(self, host: IHost, gate: FriendGate, friends: FriendsService) -> None:
        self.host = host
        self.friends = friends
        self.server = ObjectsServer(
            self.shares,
            self.local,
            friends.store,
            friends.store.household_of,
            self.settings.offer_bytes,
        )
        gate.serve_friends(PROTOCOL_ID, self.server.handle_stream)
        self.presence = watch_friends(host, friends)  # transfers resume after a break
        friends.on_friend_removed(self._friend_removed)

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Clean up after a crash, then repair periodically and when asked."""
        await self.shares.cleanup()
        await self.local.cleanup_async(await self.index.entries())
        task_status.started()
        from citizen.objects.repair import repair

        while True:
            with trio.move_on_after(REPAIR_EVERY):
                await self._repair_wanted.wait()
            self._repair_wanted = trio.Event()
            await trio.sleep(1)  # let the friend connection settle (or removal finish)
            try:
                await repair(self, check=False)
            except Exception:
                log.exception("periodic repair failed")

    def want_repair(self) -> None:
        self._repair_wanted.set()

    async def _friend_removed(self, household: HouseholdId) -> None:
        # what we held for them goes; what they held for us is re-placed by repair
        held = await self.shares.held_for(household)
        dropped = await self.shares.delete(household, held)
        log.info("friend %s removed: dropped %d shares held for it", household, dropped)
        self.want_repair()

    def transfer(self) -> Transfer:
        if self.host is None or self.friends is None:
            raise UnreachableError(
                "This daemon runs offline: no friends to store shares with.",
                "Restart it without --offline.",
            )
        online = dict(self.friends.online)
        return Transfer(self.host, self.household, online, self.household_key, self.presence)

    async def friend_households(self) -> list[HouseholdId]:
        if self.friends is None:
            return []
        return [f.household for f in await self.friends.store.list()]

    def in_flight(self) -> bool:
        return bool(self._in_flight)

    def recently_refused(self, household: HouseholdId) -> bool:
        refused = self.refused.get(household)
        return refused is not None and time.monotonic() - refused < QUOTA_BACKOFF

    def candidates(self, transfer: Transfer, all_friends: list[HouseholdId]) -> list[Candidate]:
        return [
            Candidate(
                household=h,
                quota_left=0 if self.recently_refused(h) else UNKNOWN_ROOM,
                reachable=transfer.online(h),
            )
            for h in all_friends
            if h != self.household
        ]

    def state_of(self, manifest: Manifest, bad: dict[str, tuple[int, ...]], friends: int) -> str:
        placed = set(manifest.placement)
        distinct = len(set(manifest.placement.values()))
        if (
            placed != set(range(manifest.n))
            or any(bad.values())
            or distinct < min(manifest.n, friends)
        ):
            return UNDER_REPLICATED
        return COMPLETE

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
        s = self.settings
        object_id = new_object_id()
        key = new_object_key()
        oid_bytes = random_id_bytes(object_id, "object ID")
        segs = segment_count(size_hint or 0, s.segment_size)
        per_number = segs * share_size(min(size_hint or 0, s.segment_size) + TAG_SIZE, s.k)
        async with self.transfer() as transfer:
            friends = await self.friend_households()
            for last_try in (not self.refused, True):
                try:  # a friend that refused for quota may have offered more since: ask again
                    placement = place_shares(
                        object_id, s.n, self.candidates(transfer, friends), per_number, s.happiness
                    )
                    break
                except UnreachableError:
                    if last_try:
                        raise
                    self.refused.clear()
            put = PutJob(self, transfer, object_id, key, oid_bytes, placement)
            self._in_flight.add(object_id)
            try:
                entry = await put.run(chunks, name)
            finally:
                self._in_flight.discard(object_id)
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
        return await self.index.get(parse_object_id(object_id))

    async def open_read(self, object_id: str) -> tuple[IndexEntry, AsyncIterator[bytes]]:
        """The object's entry and its plaintext as a stream of chunks.

        The first segment is fetched before this returns when the object has
        no local copy, so "not enough friends online" is an error here, not a
        truncated stream.

        Raises:
            NotFoundError: no such object.
            UnreachableError: too few holders online.
        """
        entry = await self.entry(object_id)
        if self.local.has(entry.object_id):
            return entry, self._read_local(entry.object_id)
        transfer = self.transfer()
        try:
            first = await transfer.fetch_segment(entry, 0)
        except BaseException:
            with trio.CancelScope(shield=True):
                await transfer.aclose()
                await self._record_problems(entry, transfer)
            raise
        return entry, self._read_remote(entry, transfer, first)

    async def _read_local(self, object_id: ObjectId) -> AsyncIterator[bytes]:
        f: BinaryIO = await trio.to_thread.run_sync(open, self.local.path_of(object_id), "rb")
        try:
            while chunk := await trio.to_thread.run_sync(f.read, READ_CHUNK):
                yield chunk
        finally:
            f.close()

    async def _read_remote(
        self, entry: IndexEntry, transfer: Transfer, first: bytes
    ) -> AsyncIterator[bytes]:
        try:
            yield first
            for index in range(1, len(entry.manifest.segments)):
                yield await transfer.fetch_segment(entry, index)
        finally:
            with trio.CancelScope(shield=True):
                await transfer.aclose()
                await self._record_problems(entry, transfer)

    async def _record_problems(self, entry: IndexEntry, transfer: Transfer) -> None:
        """Mark holders that served corrupt or no shares as bad, for repair."""
        p = transfer.problems
        if not p.bad and not p.missing:
            return
        try:
            current = await self.index.get(entry.object_id)
        except NotFoundError:
            return
        bad = {h: set(v) for h, v in current.bad.items()}
        for kind in (p.bad, p.missing):
            for holder, numbers in kind.items():
                bad.setdefault(holder, set()).update(numbers)
        merged = {h: tuple(sorted(v)) for h, v in bad.items()}
        await self.index.put(
            IndexEntry(current.manifest, current.key, current.name, UNDER_REPLICATED, merged)
        )
        log.warning("object %s: bad or missing shares at %s", entry.object_id, sorted(merged))
        self.want_repair()

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
        self.local_changed.set()
        self.local_changed = trio.Event()
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
        if self.host is not None:
            async with self.transfer() as transfer:
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
        if self.friends is not None:
            for f in await self.friends.store.list():
                names[f.household] = f.name
                held.append(
                    {
                        "household": f.household,
                        "name": f.name,
                        "used": await self.shares.used_by(f.household),
                        "quota": self.settings.offer_bytes
                        if f.offer_bytes is None
                        else f.offer_bytes,
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
