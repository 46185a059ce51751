"""Reading objects back: from the local copy or from friends, and restoring local copies.

`open_read` streams the local copy when there is one, else each segment
from any k holders (verified, decrypted); holders that served corrupt or no
shares are recorded as bad in the index, for repair. `keep_local` streams
the object from its holders into a temp file and commits it as the local
copy only once every byte arrived, so a broken restore never leaves a
partial copy that a later read would trust.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import BinaryIO

import trio

from citizen.errors import CitizenError, NotFoundError
from citizen.ids import ObjectId
from citizen.objects.context import ObjectsContext
from citizen.objects.health import UNDER_REPLICATED, merge_problems
from citizen.objects.index import IndexEntry
from citizen.objects.transfer import Transfer

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024


async def open_read(ctx: ObjectsContext, object_id: str) -> tuple[IndexEntry, AsyncIterator[bytes]]:
    """The object's entry and its plaintext as a stream of chunks.

    The first segment is fetched before this returns when the object has
    no local copy, so "not enough friends online" is an error here, not a
    truncated stream.

    Raises:
        NotFoundError: no such object.
        UnreachableError: too few holders online.
    """
    entry = await ctx.entry(object_id)
    if ctx.local.has(entry.object_id):
        return entry, _read_local(ctx, entry.object_id)
    transfer = ctx.transfer()
    try:
        first = await transfer.fetch_segment(entry, 0)
    except BaseException:
        with trio.CancelScope(shield=True):
            await transfer.aclose()
            await _record_problems(ctx, entry, transfer)
        raise
    return entry, _read_remote(ctx, entry, transfer, first)


async def _read_local(ctx: ObjectsContext, object_id: ObjectId) -> AsyncIterator[bytes]:
    f: BinaryIO = await trio.to_thread.run_sync(open, ctx.local.path_of(object_id), "rb")
    try:
        while chunk := await trio.to_thread.run_sync(f.read, READ_CHUNK):
            yield chunk
    finally:
        f.close()


async def _read_remote(
    ctx: ObjectsContext, entry: IndexEntry, transfer: Transfer, first: bytes
) -> AsyncIterator[bytes]:
    try:
        yield first
        for index in range(1, len(entry.manifest.segments)):
            yield await transfer.fetch_segment(entry, index)
    finally:
        with trio.CancelScope(shield=True):
            await transfer.aclose()
            await _record_problems(ctx, entry, transfer)


async def _record_problems(ctx: ObjectsContext, entry: IndexEntry, transfer: Transfer) -> None:
    """Mark holders that served corrupt or no shares as bad, for repair."""
    p = transfer.problems
    if not p.bad and not p.missing:
        return
    try:
        current = await ctx.index.get(entry.object_id)
    except NotFoundError:
        return
    merged = merge_problems(current.bad, p.bad, p.missing)
    await ctx.put_entry(
        IndexEntry(current.manifest, current.key, current.name, UNDER_REPLICATED, merged)
    )
    log.warning("object %s: bad or missing shares at %s", entry.object_id, sorted(merged))
    ctx.want_repair()


async def keep_local(ctx: ObjectsContext, object_id: str) -> dict[str, object]:
    """Fetch one object from friends into its local copy (no-op if already local).

    Raises:
        NotFoundError: no such object in the household index.
        UnreachableError: too few holders online.
    """
    entry = await ctx.entry(object_id)
    if ctx.local.has(entry.object_id):
        return {"object_id": entry.object_id, "restored": False, "size": entry.manifest.size}
    entry, chunks = await open_read(ctx, object_id)
    temp, f = await trio.to_thread.run_sync(ctx.local.open_temp, entry.object_id)
    try:
        async for chunk in chunks:
            await trio.to_thread.run_sync(f.write, chunk)
        await trio.to_thread.run_sync(ctx.local.commit, temp, f, entry.object_id)
    except BaseException:
        ctx.local.discard(temp, f)
        raise
    ctx.local_changed()  # the events socket reports the local copy
    return {"object_id": entry.object_id, "restored": True, "size": entry.manifest.size}


async def restore_all(ctx: ObjectsContext) -> dict[str, object]:
    """Fetch every object that has no local copy; report which could not be fetched yet."""
    restored: list[str] = []
    failed: dict[str, str] = {}
    entries = sorted(
        (await ctx.index.entries()).values(),
        key=lambda e: (e.manifest.created, str(e.object_id)),  # as `ObjectsService.list`
    )
    for object_id in [str(e.object_id) for e in entries if not ctx.local.has(e.object_id)]:
        try:
            await keep_local(ctx, object_id)
            restored.append(object_id)
        except CitizenError as exc:
            failed[object_id] = exc.message
    return {"restored": restored, "failed": failed}
