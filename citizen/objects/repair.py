"""Verify and repair: challenge holders, re-store lost shares, re-place shares of gone holders.

`check_holders` sends each holder a `Challenge` with a fresh random nonce
per request, so a friend can only answer by reading the share's bytes. With
a local copy the owner re-encodes each segment (encoding is deterministic)
and compares every proof; without one it can only tell an answered proof
from a refusal, and says so (``proofs_checked: false``).

`repair` then, per object: re-sends shares a holder lost or damaged to the
same holder; gives share numbers whose holder is gone (removed friend,
refused for quota, never placed) or doubled up on one household a new
holder; re-makes each needed share from the local copy or from any k
others; and records the new placement last. What to move, re-send and
record is decided in `citizen.objects.health`; this module asks and sends.
An object whose k-of-n no longer fits the friends is re-encoded instead
(`citizen.objects.reencode`). Every run also reclaims orphan shares (from
interrupted puts, or removals a holder missed) that friends hold for us but
no manifest names: at once with ``check=True`` (`citizen repair`), else
once a share was an orphan for `ORPHAN_AGE` seconds (`ORPHAN_AGE_SHARED` in
a household with other devices).
"""

from __future__ import annotations

import logging
import os
import time

import trio

from citizen.errors import CitizenError, NotFoundError, UnreachableError
from citizen.ids import HouseholdId, ShareId
from citizen.objects.codec import MAX_IDS, NONCE_SIZE, Challenge, Held, ListHeld, Proof
from citizen.objects.context import ObjectsContext
from citizen.objects.health import (
    HolderCheck,
    Standing,
    after_checks,
    holders_to_check,
    needs_reencoding,
    needs_repair,
    plan_object_repair,
    settle_repair,
    state_of,
)
from citizen.objects.index import IndexEntry
from citizen.objects.manifest import Manifest
from citizen.objects.reencode import reencode
from citizen.objects.segments import encode_segment
from citizen.objects.transfer import Transfer
from citizen.store.shares import corrupt_proof, proof_for

log = logging.getLogger(__name__)

#: the loop deletes a share no manifest names once it was such an orphan this long
ORPHAN_AGE = 600.0
#: the same when the household has other devices: one of them may be putting (or
#: re-encoding) an object whose manifest reaches us only when it is done
ORPHAN_AGE_SHARED = 24 * 3600.0


def _holders(m: Manifest) -> dict[HouseholdId, list[int]]:
    out: dict[HouseholdId, list[int]] = {}
    for number, holder in sorted(m.placement.items()):
        out.setdefault(holder, []).append(number)
    return out


async def check_holders(
    ctx: ObjectsContext, transfer: Transfer, entry: IndexEntry, only: set[HouseholdId] | None
) -> dict[HouseholdId, HolderCheck]:
    """Challenge every (or `only` these) holders of `entry` for every share they should hold."""
    m = entry.manifest
    nseg = len(m.segments)
    holders = {h: nums for h, nums in _holders(m).items() if only is None or h in only}
    checks = {h: HolderCheck(h, nums) for h, nums in holders.items()}
    nonces: dict[HouseholdId, list[bytes]] = {}
    proofs: dict[HouseholdId, list[bytes]] = {}

    async def challenge(holder: HouseholdId) -> None:
        ids = [ShareId(seg.share_hashes[j].hex()) for j in holders[holder] for seg in m.segments]
        got: list[bytes] = []
        nonces[holder] = []
        for start in range(0, len(ids), MAX_IDS):
            nonce = os.urandom(NONCE_SIZE)
            nonces[holder].append(nonce)
            part = tuple(ids[start : start + MAX_IDS])
            answer = await transfer.link(holder).request(Challenge(part, nonce), Proof)
            if answer.nonce != nonce or len(answer.proofs) != len(part):
                raise UnreachableError(f"Friend {holder} answered a challenge wrongly.")
            got.extend(answer.proofs)
        proofs[holder] = got

    async def guarded(holder: HouseholdId) -> None:
        if not transfer.online(holder):
            checks[holder].unreachable = "not connected"
            return
        try:
            await challenge(holder)
        except CitizenError as exc:
            checks[holder].unreachable = exc.message

    async with trio.open_nursery() as nursery:
        for holder in holders:
            nursery.start_soon(guarded, holder)

    answered = {h for h in proofs}
    local = ctx.local.has(m.object_id)
    for holder in answered:
        checks[holder].proofs_checked = local
        for pos, proof in enumerate(proofs[holder]):
            j, i = holders[holder][pos // nseg], pos % nseg
            if not proof:
                checks[holder].missing.append((j, i))
            elif proof == corrupt_proof(
                nonces[holder][pos // MAX_IDS], m.segments[i].share_hashes[j].hex()
            ):
                checks[holder].bad.append((j, i))  # the holder found its copy damaged
                proofs[holder][pos] = b""  # counted: the comparison below skips it
            elif not local:
                checks[holder].ok += 1
    if local and answered:
        for i in range(nseg):
            plaintext = await trio.to_thread.run_sync(
                ctx.local.read_segment, m.object_id, i, m.segment_size
            )

            def compare(
                plain: bytes = plaintext, index: int = i
            ) -> list[tuple[HouseholdId, int, bool]]:
                enc = encode_segment(entry.key, m.object_id_bytes, index, plain, m.k, m.n)
                out: list[tuple[HouseholdId, int, bool]] = []
                for holder in answered:
                    for slot, j in enumerate(holders[holder]):
                        pos = slot * nseg + index
                        proof = proofs[holder][pos]
                        if proof:
                            want = proof_for(nonces[holder][pos // MAX_IDS], enc.shares[j])
                            out.append((holder, j, proof == want))
                return out

            for holder, j, good in await trio.to_thread.run_sync(compare):
                if good:
                    checks[holder].ok += 1
                else:
                    checks[holder].bad.append((j, i))
    return checks


async def verify(ctx: ObjectsContext, object_id: str | None) -> list[dict[str, object]]:
    """Challenge the holders of one or every object; record and report what they lack."""
    entries = (
        [await ctx.entry(object_id)] if object_id else list((await ctx.index.entries()).values())
    )
    out: list[dict[str, object]] = []
    async with ctx.transfer() as transfer:
        for entry in entries:
            checks = await check_holders(ctx, transfer, entry, None)
            await _record(ctx, entry, checks)
            out.append(
                {
                    "object_id": entry.object_id,
                    "name": entry.name,
                    "holders": [c.to_json() for c in checks.values()],
                    "healthy": all(c.healthy() for c in checks.values()),
                }
            )
    return out


async def _record(
    ctx: ObjectsContext, entry: IndexEntry, checks: dict[HouseholdId, HolderCheck]
) -> None:
    merged = after_checks(entry.bad, checks)
    if merged == dict(entry.bad):
        return
    friends = len(await ctx.friend_households())
    state = state_of(entry.manifest, merged, friends)
    await ctx.put_entry(IndexEntry(entry.manifest, entry.key, entry.name, state, merged))


async def repair(
    ctx: ObjectsContext,
    *,
    check: bool,
    object_id: str | None = None,
    standing: Standing | None = None,
    shared: bool = False,
) -> dict[str, object]:
    """Repair (or re-encode) one or every object, then reclaim orphans (see the module).

    Args:
        check: challenge every holder, and reclaim orphans at once.
        object_id: only this object (no orphans are reclaimed then).
        standing: the friends as protection counts them (for re-encoding decisions).
        shared: the household has other devices (orphans wait `ORPHAN_AGE_SHARED`).
    """
    async with ctx.repair_lock:
        entries = (
            [await ctx.entry(object_id)]
            if object_id
            else list((await ctx.index.entries()).values())
        )
        friends = await ctx.friend_households()
        target = ctx.target(len(friends))
        results: list[dict[str, object]] = []
        reclaimed: dict[str, int] = {}
        async with ctx.transfer() as transfer:
            for entry in entries:
                try:
                    if needs_reencoding(entry.manifest, target, len(friends)):
                        if standing is not None and transfer.devices:
                            results.append(
                                await reencode(ctx, transfer, entry, target, friends, standing)
                            )
                        continue
                    if not needs_repair(entry.state, entry.manifest, set(friends), check):
                        continue
                    results.append(await _repair_object(ctx, transfer, entry, friends, check))
                except CitizenError as exc:
                    log.warning("repair of %s failed: %s", entry.object_id, exc.message)
                    results.append({"object_id": entry.object_id, "error": exc.message})
            if not object_id:
                age = 0.0 if check else ORPHAN_AGE_SHARED if shared else ORPHAN_AGE
                reclaimed = await _reclaim_orphans(ctx, transfer, age)
        return {"objects": results, "reclaimed": reclaimed}


async def _repair_object(
    ctx: ObjectsContext,
    transfer: Transfer,
    entry: IndexEntry,
    friends: list[HouseholdId],
    check: bool,
) -> dict[str, object]:
    m = entry.manifest
    friend_set = set(friends)
    to_check = holders_to_check(m, entry.bad, friend_set, check)
    checks = await check_holders(ctx, transfer, entry, to_check) if to_check else {}
    plan = plan_object_repair(m, friend_set, checks, ctx.candidates(transfer, friends))
    failed: set[int] = set()
    sent: dict[int, list[ShareId]] = {}
    for i in plan.segments():
        wanted = [j for j, (_, segs) in plan.targets.items() if i in segs and j not in failed]
        if not wanted:
            continue
        encoded = await transfer.encoded_segment(entry, i, ctx.local)
        for j in wanted:
            holder = plan.targets[j][0]
            outcome = await transfer.store(holder, m.object_id, encoded, j)
            if outcome.ok:
                sent.setdefault(j, []).append(ShareId(encoded.share_hashes[j].hex()))
            else:
                if outcome.quota:
                    ctx.refused[holder] = time.monotonic()
                failed.add(j)
    done = settle_repair(m, entry.state, entry.bad, plan, checks, sent, failed, friend_set)
    if done.changed and await _unchanged(ctx, entry):
        await ctx.put_entry(IndexEntry(done.manifest, entry.key, entry.name, done.state, done.bad))
    for holder, ids in done.to_delete.items():
        if transfer.online(holder):
            try:
                await transfer.delete(holder, ids)
            except UnreachableError:
                pass
    return {
        "object_id": m.object_id,
        "state": done.state,
        "moved": done.moved,
        "resent": done.resent,
        "failed": sorted(failed),
    }


async def _unchanged(ctx: ObjectsContext, entry: IndexEntry) -> bool:
    """Whether the index still records `entry`'s manifest (no `rm` or re-encoding since)."""
    try:
        return (await ctx.index.get(entry.object_id)).manifest == entry.manifest
    except NotFoundError:
        return False


async def _reclaim_orphans(ctx: ObjectsContext, transfer: Transfer, age: float) -> dict[str, int]:
    """Delete shares friends hold for us that no manifest named for `age` seconds."""
    if ctx.in_flight:
        return {}
    referenced: set[str] = set()
    for entry in (await ctx.index.entries()).values():
        for seg in entry.manifest.segments:
            referenced.update(h.hex() for h in seg.share_hashes)
    now = time.monotonic()
    seen = ctx.orphans
    for key in [k for k in seen if k[1] in referenced]:
        del seen[key]  # a manifest names it (it replicated from another device)
    out: dict[str, int] = {}
    for holder in list(transfer.devices):
        if not transfer.online(holder):
            continue
        orphans: list[ShareId] = []
        listed: set[str] = set()
        after: ShareId | None = None
        try:
            while True:
                held = await transfer.link(holder).request(
                    ListHeld(ctx.household, after, MAX_IDS), Held
                )
                for s in held.share_ids:
                    if s in referenced:
                        continue
                    first = seen.setdefault((holder, s), now)
                    if now - first >= age:
                        orphans.append(s)
                listed.update(held.share_ids)
                if not held.more or not held.share_ids:
                    break
                after = held.share_ids[-1]
            for key in [k for k in seen if k[0] == holder and k[1] not in listed]:
                del seen[key]  # gone from the holder meanwhile
            if orphans and not ctx.in_flight:
                out[holder] = await transfer.delete(holder, orphans)
                for s in orphans:
                    seen.pop((holder, s), None)
                log.info("reclaimed %d orphan shares at %s", out[holder], holder)
        except CitizenError as exc:
            log.info("could not reclaim orphan shares at %s: %s", holder, exc.message)
    return out
