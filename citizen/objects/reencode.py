"""Re-encoding an object to the k-of-n that fits the friends now, segment by segment.

When friends are added or removed the target encoding changes
(`citizen.objects.encoding`); the repair loop then calls `reencode` for each
object whose k-of-n differs. Each segment is read from the local copy (else
fetched from any k holders), encrypted under a fresh object key (the
associated data names k and n, so reusing the old key and nonce with new
parameters would reuse a Poly1305 key) and sent to holders chosen among the
friends online now. The new manifest replaces the old one only when every
segment went out and it protects at least as well; then the old shares are
deleted (holders offline now are reclaimed later, as orphans). Otherwise
the new shares are deleted and the old manifest stays. Memory: one segment.
"""

from __future__ import annotations

import logging
import time

import trio

from citizen.errors import CitizenError, NotFoundError, UnreachableError
from citizen.ids import HouseholdId, ShareId
from citizen.objects.context import ObjectsContext
from citizen.objects.encoding import Target, survives
from citizen.objects.health import Standing, state_of
from citizen.objects.index import IndexEntry
from citizen.objects.manifest import Manifest
from citizen.objects.placement import place_shares
from citizen.objects.segments import SegmentInfo, encode_segment, new_object_key, share_size
from citizen.objects.transfer import Transfer

log = logging.getLogger(__name__)


def _better(new: int | None, old: int | None) -> bool:
    return new is not None and (old is None or new >= old)


async def reencode(
    ctx: ObjectsContext,
    transfer: Transfer,
    entry: IndexEntry,
    target: Target,
    friends: list[HouseholdId],
    standing: Standing,
) -> dict[str, object]:
    """Encode `entry` as `target.k`-of-`target.n` on the friends online now (see the module).

    Raises:
        UnreachableError: no friend online to take shares, or the plaintext cannot be read.
    """
    m = entry.manifest
    per_number = sum(share_size(seg.ciphertext_size, target.k) for seg in m.segments)
    placement = place_shares(
        m.object_id, target.n, ctx.candidates(transfer, friends), per_number, 1
    )
    old_t = survives(m.k, m.placement, entry.bad, standing.unavailable(m))
    planned = survives(target.k, placement, {}, standing.unheard)
    if not _better(planned, old_t):
        # too few friends online for the new encoding to protect better: not now
        return {"object_id": m.object_id, "error": "too few friends online to re-encode it"}
    key = new_object_key()
    sent: dict[int, list[ShareId]] = {j: [] for j in placement}
    failed: set[int] = set()
    infos: list[SegmentInfo] = []
    try:
        for i in range(len(m.segments)):
            if ctx.local.has(m.object_id):
                plain = await trio.to_thread.run_sync(
                    ctx.local.read_segment, m.object_id, i, m.segment_size
                )
            else:
                plain = await transfer.fetch_segment(entry, i)
            encoded = await trio.to_thread.run_sync(
                encode_segment, key, m.object_id_bytes, i, plain, target.k, target.n
            )
            del plain
            infos.append(encoded.info)
            for j, holder in sorted(placement.items()):
                if j in failed:
                    continue
                outcome = await transfer.store(HouseholdId(holder), m.object_id, encoded, j)
                if outcome.ok:
                    sent[j].append(ShareId(encoded.share_hashes[j].hex()))
                else:
                    if outcome.quota:
                        ctx.refused[HouseholdId(holder)] = time.monotonic()
                    failed.add(j)
    except BaseException:
        with trio.CancelScope(shield=True), trio.move_on_after(30):
            await _delete(transfer, placement, sent)
        raise
    kept = {j: HouseholdId(h) for j, h in placement.items() if j not in failed}
    new = Manifest(
        m.object_id, m.size, m.segment_size, target.k, target.n, tuple(infos), kept, m.created
    )
    new_t = survives(new.k, new.placement, {}, standing.unavailable(new))
    if not _better(new_t, old_t):
        log.info(
            "re-encoding %s as %d-of-%d survives %s losses, not better than %s: kept as it was",
            m.object_id,
            target.k,
            target.n,
            new_t,
            old_t,
        )
        with trio.move_on_after(30):
            await _delete(transfer, placement, sent)
        return {"object_id": m.object_id, "error": "too few friends online to re-encode it"}
    try:
        now = await ctx.index.get(m.object_id)
    except NotFoundError:
        now = None
    if now is None or now.manifest != m:
        # removed or changed (by `rm`, or another device) while we re-encoded: theirs wins
        with trio.move_on_after(30):
            await _delete(transfer, placement, sent)
        return {"object_id": m.object_id, "error": "it changed while it was re-encoded"}
    state = state_of(new, {}, len(friends))
    await ctx.put_entry(IndexEntry(new, key, now.name, state))
    log.info("re-encoded %s from %d-of-%d to %d-of-%d", m.object_id, m.k, m.n, target.k, target.n)
    old: dict[int, list[ShareId]] = {j: [ShareId(s) for s in m.share_ids(j)] for j in m.placement}
    with trio.move_on_after(30):
        await _delete(transfer, dict(m.placement), old)
    return {
        "object_id": m.object_id,
        "state": state,
        "moved": {str(j): {"from": m.placement.get(j, ""), "to": h} for j, h in kept.items()},
        "resent": {},
        "failed": sorted(failed),
    }


async def _delete(
    transfer: Transfer, placement: dict[int, str], shares: dict[int, list[ShareId]]
) -> None:
    by_holder: dict[HouseholdId, list[ShareId]] = {}
    for j, ids in shares.items():
        if ids and j in placement:
            by_holder.setdefault(HouseholdId(placement[j]), []).extend(ids)
    for holder, ids in by_holder.items():
        if not transfer.online(holder):
            continue
        try:
            await transfer.delete(holder, ids)
        except (UnreachableError, CitizenError) as exc:
            log.info("could not delete %d shares at %s: %s", len(ids), holder, exc)
