"""Verify and repair: challenge holders, re-store lost shares, re-place shares of gone holders.

`check_holders` sends each holder a `Challenge` with a fresh random nonce
per request, so a friend can only answer by reading the share's bytes. With
a local copy the owner re-encodes each segment (encoding is deterministic)
and compares every proof; without one it can only tell an answered proof
from a refusal, and says so (``proofs_checked: false``).

`repair` then, per object: re-sends shares a holder lost or damaged to the
same holder; gives share numbers whose holder is gone (removed friend,
refused for quota, never placed) or doubled up on one household a new
holder chosen by `plan_repair`; re-makes each needed share from the local
copy or from any k others; and records the new placement last. With
``check=True`` it also reclaims orphan shares (from interrupted puts) that
friends hold for us but no manifest names.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from citizen.errors import CitizenError, UnreachableError
from citizen.ids import HouseholdId, ShareId
from citizen.objects.codec import MAX_IDS, NONCE_SIZE, Challenge, Held, ListHeld, Proof
from citizen.objects.index import COMPLETE, IndexEntry
from citizen.objects.manifest import Manifest
from citizen.objects.placement import plan_repair
from citizen.objects.segments import encode_segment, share_size
from citizen.objects.transfer import Transfer
from citizen.store.shares import proof_for

if TYPE_CHECKING:
    from citizen.objects.service import ObjectsService

log = logging.getLogger(__name__)

_GONE = "\x00gone"


@dataclass(slots=True)
class HolderCheck:
    """What one holder proved about the shares of one object it should hold."""

    household: HouseholdId
    numbers: list[int]
    ok: int = 0
    missing: list[tuple[int, int]] = field(default_factory=list)  # (share number, segment)
    bad: list[tuple[int, int]] = field(default_factory=list)
    unreachable: str = ""
    proofs_checked: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "household": self.household,
            "share_numbers": self.numbers,
            "ok": self.ok,
            "missing": [{"share_number": j, "segment": i} for j, i in self.missing],
            "bad": [{"share_number": j, "segment": i} for j, i in self.bad],
            "unreachable": self.unreachable or None,
            "proofs_checked": self.proofs_checked,
            "healthy": not (self.missing or self.bad or self.unreachable),
        }

    def lost(self) -> dict[int, set[int]]:
        """share number -> segments to re-send."""
        out: dict[int, set[int]] = {}
        for j, i in (*self.missing, *self.bad):
            out.setdefault(j, set()).add(i)
        return out


def _holders(m: Manifest) -> dict[HouseholdId, list[int]]:
    out: dict[HouseholdId, list[int]] = {}
    for number, holder in sorted(m.placement.items()):
        out.setdefault(holder, []).append(number)
    return out


async def check_holders(
    svc: ObjectsService, transfer: Transfer, entry: IndexEntry, only: set[HouseholdId] | None
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
    local = svc.local.has(m.object_id)
    for holder in answered:
        checks[holder].proofs_checked = local
        for pos, proof in enumerate(proofs[holder]):
            j, i = holders[holder][pos // nseg], pos % nseg
            if not proof:
                checks[holder].missing.append((j, i))
            elif not local:
                checks[holder].ok += 1
    if local and answered:
        for i in range(nseg):
            plaintext = await trio.to_thread.run_sync(
                svc.local.read_segment, m.object_id, i, m.segment_size
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


async def verify(svc: ObjectsService, object_id: str | None) -> list[dict[str, object]]:
    """Challenge the holders of one or every object; record and report what they lack."""
    entries = (
        [await svc.entry(object_id)] if object_id else list((await svc.index.entries()).values())
    )
    out: list[dict[str, object]] = []
    async with svc.transfer() as transfer:
        for entry in entries:
            checks = await check_holders(svc, transfer, entry, None)
            await _record(svc, entry, checks)
            out.append(
                {
                    "object_id": entry.object_id,
                    "name": entry.name,
                    "holders": [c.to_json() for c in checks.values()],
                    "healthy": all(
                        not (c.missing or c.bad or c.unreachable) for c in checks.values()
                    ),
                }
            )
    return out


async def _record(
    svc: ObjectsService, entry: IndexEntry, checks: dict[HouseholdId, HolderCheck]
) -> None:
    bad = {h: set(v) for h, v in entry.bad.items()}
    for holder, check in checks.items():
        if check.unreachable:
            continue
        lost = set(check.lost())
        if lost:
            bad[holder] = lost
        else:
            bad.pop(holder, None)
    merged = {h: tuple(sorted(v)) for h, v in bad.items() if v}
    if merged == dict(entry.bad):
        return
    friends = len(await svc.friend_households())
    state = svc.state_of(entry.manifest, merged, friends)
    await svc.index.put(IndexEntry(entry.manifest, entry.key, entry.name, state, merged))


async def repair(
    svc: ObjectsService, *, check: bool, object_id: str | None = None
) -> dict[str, object]:
    """Repair one or every object; `check` challenges every holder and reclaims orphans."""
    async with svc.repair_lock:
        entries = (
            [await svc.entry(object_id)]
            if object_id
            else list((await svc.index.entries()).values())
        )
        friends = await svc.friend_households()
        results: list[dict[str, object]] = []
        reclaimed: dict[str, int] = {}
        async with svc.transfer() as transfer:
            for entry in entries:
                holders_gone = any(h not in friends for h in entry.manifest.placement.values())
                if not check and entry.state == COMPLETE and not holders_gone:
                    continue
                try:
                    results.append(await _repair_object(svc, transfer, entry, friends, check))
                except CitizenError as exc:
                    log.warning("repair of %s failed: %s", entry.object_id, exc.message)
                    results.append({"object_id": entry.object_id, "error": exc.message})
            if check and not object_id:
                reclaimed = await _reclaim_orphans(svc, transfer)
        return {"objects": results, "reclaimed": reclaimed}


async def _repair_object(
    svc: ObjectsService,
    transfer: Transfer,
    entry: IndexEntry,
    friends: list[HouseholdId],
    check: bool,
) -> dict[str, object]:
    m = entry.manifest
    nseg = len(m.segments)
    friend_set = set(friends)
    placement = dict(m.placement)
    replace: set[int] = {j for j in range(m.n) if j not in placement}
    replace |= {j for j, h in placement.items() if h not in friend_set}
    to_check = {h for h in placement.values() if h in friend_set and (check or h in entry.bad)}
    checks = await check_holders(svc, transfer, entry, to_check) if to_check else {}
    resend: dict[int, set[int]] = {}
    for c in checks.values():
        if not c.unreachable:
            resend.update(c.lost())
    # spread doubled-up share numbers onto households holding nothing of this object
    counts: dict[HouseholdId, list[int]] = {}
    for j, h in sorted(placement.items()):
        if j not in replace:
            counts.setdefault(h, []).append(j)
    empty = [
        h
        for h in friends
        if transfer.online(h)
        and h not in counts
        and not svc.recently_refused(h)
        and h not in placement.values()
    ]
    spread: set[int] = set()
    for nums in sorted(counts.values(), key=lambda v: -len(v)):
        for j in nums[1:]:
            if len(spread) < len(empty):
                spread.add(j)
    per_number = sum(share_size(seg.ciphertext_size, m.k) for seg in m.segments)
    sentinel = {j: (_GONE if j in replace or j in spread else h) for j, h in placement.items()}
    sentinel.update({j: _GONE for j in replace if j not in placement})
    healthy = {h for j, h in placement.items() if j not in replace and j not in spread}
    planned = plan_repair(
        m.object_id, sentinel, healthy, svc.candidates(transfer, friends), per_number
    )
    plan = {
        j: HouseholdId(h) for j, h in planned.items() if not (j in spread and h == placement[j])
    }
    targets: dict[int, tuple[HouseholdId, set[int]]] = {}
    for j, h in plan.items():
        targets[j] = (h, set(range(nseg)))
    for j, segs in resend.items():
        if j not in targets and j not in replace:
            targets[j] = (placement[j], segs)
    failed: set[int] = set()
    sent: dict[int, list[ShareId]] = {}
    needed = sorted({i for _, segs in targets.values() for i in segs})
    for i in needed:
        wanted = [j for j, (_, segs) in targets.items() if i in segs and j not in failed]
        if not wanted:
            continue
        encoded = await transfer.encoded_segment(entry, i, svc.local)
        for j in wanted:
            holder = targets[j][0]
            outcome = await transfer.store(holder, m.object_id, encoded, j)
            if outcome.ok:
                sent.setdefault(j, []).append(ShareId(encoded.share_hashes[j].hex()))
            else:
                if outcome.quota:
                    svc.refused[holder] = time.monotonic()
                failed.add(j)
    moved: dict[str, dict[str, str]] = {}
    new_placement = dict(placement)
    old_to_delete: dict[HouseholdId, list[ShareId]] = {}
    for j, (holder, _) in targets.items():
        if j not in plan:
            continue
        if j in failed:
            if sent.get(j):
                old_to_delete.setdefault(holder, []).extend(sent[j])
            if j in replace:
                new_placement.pop(j, None)
            continue
        old = placement.get(j)
        new_placement[j] = holder
        moved[str(j)] = {"from": old or "", "to": holder}
        if old is not None and old in friend_set and old != holder:
            old_to_delete.setdefault(old, []).extend(ShareId(s) for s in m.share_ids(j))
    bad = {h: set(v) for h, v in entry.bad.items() if h in new_placement.values()}
    for holder, c in checks.items():
        if c.unreachable:
            continue
        still = {j for j in c.lost() if j in failed and new_placement.get(j) == holder}
        if still:
            bad[holder] = still
        else:
            bad.pop(holder, None)
    merged = {h: tuple(sorted(v)) for h, v in bad.items() if v}
    manifest = Manifest(
        m.object_id,
        m.size,
        m.segment_size,
        m.k,
        m.n,
        m.segments,
        new_placement,
        m.created,
        m.cipher,
    )
    state = svc.state_of(manifest, merged, len(friends))
    if manifest.placement != m.placement or merged != dict(entry.bad) or state != entry.state:
        await svc.index.put(IndexEntry(manifest, entry.key, entry.name, state, merged))
    for holder, ids in old_to_delete.items():
        if transfer.online(holder):
            try:
                await transfer.delete(holder, ids)
            except UnreachableError:
                pass
    return {
        "object_id": m.object_id,
        "state": state,
        "moved": moved,
        "resent": {str(j): len(sent.get(j, [])) for j in targets if j not in plan},
        "failed": sorted(failed),
    }


async def _reclaim_orphans(svc: ObjectsService, transfer: Transfer) -> dict[str, int]:
    """Delete shares friends hold for us that no manifest names (interrupted puts)."""
    if svc.in_flight():
        return {}
    referenced: set[str] = set()
    for entry in (await svc.index.entries()).values():
        for seg in entry.manifest.segments:
            referenced.update(h.hex() for h in seg.share_hashes)
    out: dict[str, int] = {}
    for holder in list(transfer.devices):
        if not transfer.online(holder):
            continue
        orphans: list[ShareId] = []
        after: ShareId | None = None
        try:
            while True:
                held = await transfer.link(holder).request(
                    ListHeld(svc.household, after, MAX_IDS), Held
                )
                orphans.extend(s for s in held.share_ids if s not in referenced)
                if not held.more or not held.share_ids:
                    break
                after = held.share_ids[-1]
            if orphans and not svc.in_flight():
                out[holder] = await transfer.delete(holder, orphans)
        except CitizenError as exc:
            log.info("could not reclaim orphan shares at %s: %s", holder, exc.message)
    return out
