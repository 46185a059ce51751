"""One object put in progress: read, keep a local copy, encode, send shares with a window.

`ObjectsService.put` chooses k-of-n and the holders online now and runs a
`PutJob` with its `ObjectsContext`; the module docstring of
`citizen.objects.service` describes the whole put. A holder that fails or
refuses loses its share numbers for this object and the put goes on: the
put is acknowledged once the local copy and the manifest are durable, and
the repair loop places what is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import BinaryIO

import trio

from citizen.errors import UnreachableError
from citizen.ids import HouseholdId, ObjectId, ShareId
from citizen.objects.context import ObjectsContext
from citizen.objects.health import state_of
from citizen.objects.index import IndexEntry
from citizen.objects.manifest import Manifest, Segmenter
from citizen.objects.segments import EncodedSegment, SegmentInfo, encode_segment
from citizen.objects.transfer import Transfer

log = logging.getLogger(__name__)

SEND_WINDOW = 4  # segments of one put in flight at once


class PutJob:
    """One put in progress: producer (read, keep, encode) and sender tasks."""

    def __init__(
        self,
        ctx: ObjectsContext,
        transfer: Transfer,
        object_id: ObjectId,
        key: bytes,
        oid_bytes: bytes,
        placement: dict[int, str],
        k: int,
        n: int,
    ) -> None:
        self.ctx = ctx
        self.k = k
        self.n = n
        self.transfer = transfer
        self.object_id = object_id
        self.key = key
        self.oid_bytes = oid_bytes
        self.placement = {j: HouseholdId(h) for j, h in placement.items()}
        self.sent: dict[int, list[ShareId]] = {j: [] for j in placement}
        self.failed: dict[int, str] = {}
        self.quota_refusals: set[HouseholdId] = set()
        self.size = 0
        # only the per-segment hashes and sizes: the shares themselves are dropped once sent
        self.infos: list[SegmentInfo] = []

    def healthy(self) -> set[HouseholdId]:
        return {h for j, h in self.placement.items() if j not in self.failed}

    async def run(self, chunks: AsyncIterator[bytes], name: str) -> IndexEntry:
        s = self.ctx.settings
        temp, f = self.ctx.local.open_temp(self.object_id)
        committed = False
        try:
            send, receive = trio.open_memory_channel[EncodedSegment](1)
            # up to SEND_WINDOW segments in flight: a segment no longer waits for the
            # slowest holder's fsync of the one before (each holder's link keeps its
            # requests in order); memory stays a few segments
            window = trio.Semaphore(SEND_WINDOW)
            infos: dict[int, SegmentInfo] = {}

            async def send_one(segment: EncodedSegment) -> None:
                try:
                    await self._send(segment)
                    infos[segment.index] = segment.info
                finally:
                    window.release()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._produce, chunks, f, send)
                async with receive:
                    async for segment in receive:
                        await window.acquire()
                        nursery.start_soon(send_one, segment)
                        del segment
            self.infos.extend(infos[i] for i in range(len(infos)))
            await trio.to_thread.run_sync(self.ctx.local.commit, temp, f, self.object_id)
            committed = True
            placement = {j: h for j, h in self.placement.items() if j not in self.failed}
            manifest = Manifest(
                object_id=self.object_id,
                size=self.size,
                segment_size=s.segment_size,
                k=self.k,
                n=self.n,
                segments=tuple(self.infos),
                placement=placement,
                created=int(time.time()),
            )
            friends = len(await self.ctx.friend_households())
            state = state_of(manifest, {}, friends)
            entry = IndexEntry(manifest, self.key, name, state)
            await self.ctx.put_entry(entry)
        except BaseException:
            with trio.CancelScope(shield=True):
                if committed:
                    await trio.to_thread.run_sync(self.ctx.local.remove, self.object_id)
                else:
                    await trio.to_thread.run_sync(self.ctx.local.discard, temp, f)
                with trio.move_on_after(30):
                    await self._delete(set(self.sent))
            raise
        # share numbers that failed part-way: their holders drop what they got
        with trio.move_on_after(30):
            await self._delete(set(self.failed))
        return entry

    async def _produce(
        self,
        chunks: AsyncIterator[bytes],
        f: BinaryIO,
        send: trio.MemorySendChannel[EncodedSegment],
    ) -> None:
        s = self.ctx.settings
        segmenter = Segmenter(s.segment_size)
        index = 0

        def keep_and_encode(segment: bytes, i: int) -> EncodedSegment:
            f.write(segment)
            return encode_segment(self.key, self.oid_bytes, i, segment, self.k, self.n)

        async with send:
            async for chunk in chunks:
                self.size += len(chunk)
                for segment in segmenter.feed(chunk):
                    await send.send(await trio.to_thread.run_sync(keep_and_encode, segment, index))
                    index += 1
            last = segmenter.finish()
            if last is not None:
                await send.send(await trio.to_thread.run_sync(keep_and_encode, last, index))

    async def _send(self, segment: EncodedSegment) -> None:
        by_holder: dict[HouseholdId, list[int]] = {}
        for number, holder in sorted(self.placement.items()):
            if number not in self.failed:
                by_holder.setdefault(holder, []).append(number)

        async def to_holder(holder: HouseholdId, numbers: list[int]) -> None:
            for number in numbers:
                outcome = await self.transfer.store(holder, self.object_id, segment, number)
                if outcome.ok:
                    self.sent[number].append(ShareId(segment.share_hashes[number].hex()))
                    continue
                if outcome.quota:
                    self.quota_refusals.add(holder)
                    self.ctx.refused[holder] = time.monotonic()
                log.info(
                    "share %d of %s not stored at %s: %s",
                    number,
                    self.object_id,
                    holder,
                    outcome.message,
                )
                self.failed[number] = outcome.message
                if not self.transfer.online(holder):
                    for other in numbers:
                        self.failed.setdefault(other, outcome.message)
                    return

        async with trio.open_nursery() as nursery:
            for holder, numbers in by_holder.items():
                nursery.start_soon(to_holder, holder, numbers)

    async def _delete(self, numbers: set[int]) -> None:
        by_holder: dict[HouseholdId, list[ShareId]] = {}
        for number in numbers:
            if self.sent.get(number):
                by_holder.setdefault(self.placement[number], []).extend(self.sent[number])
        for holder, ids in by_holder.items():
            try:
                await self.transfer.delete(holder, ids)
            except UnreachableError:
                log.info(
                    "could not reclaim %d shares of %s at %s", len(ids), self.object_id, holder
                )
