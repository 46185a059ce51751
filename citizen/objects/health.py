"""An object's health and its repair plan: pure, what holders proved in, what to send where out.

The shell (`citizen.objects.repair`, `citizen.objects.service`) asks the
holders and moves the shares; every decision is made here, from records:

- `state_of`: ``complete`` once every share number has a holder, none is
  known bad, and they sit at as many distinct households as there can be.
- `Standing` and `protection`: how protected an object is now (``local only``,
  ``spreading``, ``protected``, and how many friend losses it survives), with
  removed holders and those unheard of past the grace period not counting.
- `candidates`: the friends a share may go to now, a recent quota refusal
  counting as no room.
- `merge_problems` and `after_checks`: the ``bad`` record of an index entry
  after a read found corrupt or missing shares, or after a verify.
- `plan_object_repair`: which share numbers get a new holder (their holder
  is gone, or several sit on one household while another holds nothing of
  the object), and which segments a holder that lost them gets again.
- `settle_repair`: from what was sent and what failed, the new placement,
  the ``bad`` record, the state, and the old shares to delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from citizen.ids import HouseholdId, ShareId
from citizen.objects.encoding import Protection, Target, protection_of, survives
from citizen.objects.manifest import Manifest
from citizen.objects.placement import Candidate, plan_repair
from citizen.objects.segments import share_size

COMPLETE = "complete"
UNDER_REPLICATED = "under-replicated"
#: a household that refused a share for quota is not offered new objects for this long
QUOTA_BACKOFF = 600.0
#: the room a friend is assumed to have: only a refusal says otherwise
UNKNOWN_ROOM = 1 << 62
#: the holder `plan_repair` sees for a share number that must move (no household has this name)
_GONE = "\x00gone"

#: holder household -> share numbers it lacks or holds damaged, as an index entry records it
Bad = Mapping[str, tuple[int, ...]]


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
            "healthy": self.healthy(),
        }

    def healthy(self) -> bool:
        return not (self.missing or self.bad or self.unreachable)

    def lost(self) -> dict[int, set[int]]:
        """share number -> segments to re-send."""
        out: dict[int, set[int]] = {}
        for j, i in (*self.missing, *self.bad):
            out.setdefault(j, set()).add(i)
        return out


# -- health -----------------------------------------------------------------------------


def state_of(manifest: Manifest, bad: Bad, friends: int) -> str:
    """``complete`` or ``under-replicated``, for an owner with `friends` friend households."""
    placed = set(manifest.placement)
    distinct = len(set(manifest.placement.values()))
    if placed != set(range(manifest.n)) or any(bad.values()) or distinct < min(manifest.n, friends):
        return UNDER_REPLICATED
    return COMPLETE


def needs_repair(state: str, manifest: Manifest, friends: Set[str], check: bool) -> bool:
    """Whether a repair should look at the object (a `check` looks at every one)."""
    holders_gone = any(h not in friends for h in manifest.placement.values())
    return check or state != COMPLETE or holders_gone


def needs_reencoding(manifest: Manifest, target: Target, friends: int) -> bool:
    """Whether the object's k-of-n is not the one that fits the friends now."""
    return friends > 0 and (manifest.k, manifest.n) != (target.k, target.n)


# -- protection -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """The friends as protection counts them now.

    Attributes:
        friends: every friend household.
        unheard: friends not heard of for longer than the grace period.
        target: the encoding objects should have, and the losses it survives.
    """

    friends: frozenset[str]
    unheard: frozenset[str]
    target: Target

    def unavailable(self, manifest: Manifest) -> set[str]:
        """Holders of `manifest` that do not count: removed, or unheard of too long."""
        return {
            h for h in manifest.placement.values() if h not in self.friends or h in self.unheard
        }


def unheard_of(
    last_heard: Mapping[str, float | None], online: Set[str], now: float, grace: float
) -> set[str]:
    """Friends offline now and last heard of (or paired, if never) more than `grace` s ago."""
    return {
        h
        for h, when in last_heard.items()
        if h not in online and (when is None or now - when > grace)
    }


def protection(manifest: Manifest, bad: Bad, standing: Standing) -> tuple[Protection, int | None]:
    """How protected the object is now, and how many friend losses it survives (None: none)."""
    gone = {h for h in manifest.placement.values() if h not in standing.friends}
    unavailable = standing.unavailable(manifest)
    placed = sum(1 for h in manifest.placement.values() if h not in gone)
    t = survives(manifest.k, manifest.placement, bad, unavailable)
    return protection_of(placed, t, standing.target.survive), t


def recently_refused(refused: Mapping[HouseholdId, float], household: str, now: float) -> bool:
    """Whether `household` refused a share for quota less than `QUOTA_BACKOFF` seconds ago."""
    when = refused.get(HouseholdId(household))
    return when is not None and now - when < QUOTA_BACKOFF


def candidates(
    own: HouseholdId,
    friends: Iterable[HouseholdId],
    reachable: Callable[[HouseholdId], bool],
    refused: Mapping[HouseholdId, float],
    now: float,
) -> list[Candidate]:
    """The friend households a share may go to now (`refused`: when each last refused)."""
    return [
        Candidate(
            household=h,
            quota_left=0 if recently_refused(refused, h, now) else UNKNOWN_ROOM,
            reachable=reachable(h),
        )
        for h in friends
        if h != own
    ]


def merge_problems(bad: Bad, *found: Mapping[HouseholdId, Set[int]]) -> dict[str, tuple[int, ...]]:
    """`bad` with the share numbers a read found corrupt or missing at each holder added."""
    merged = {h: set(v) for h, v in bad.items()}
    for kind in found:
        for holder, numbers in kind.items():
            merged.setdefault(holder, set()).update(numbers)
    return {h: tuple(sorted(v)) for h, v in merged.items()}


def after_checks(bad: Bad, checks: Mapping[HouseholdId, HolderCheck]) -> dict[str, tuple[int, ...]]:
    """`bad` after a verify: what each answering holder lost, nothing for one that lost nothing."""
    merged = {h: set(v) for h, v in bad.items()}
    for holder, check in checks.items():
        if check.unreachable:
            continue  # no news about that holder
        lost = set(check.lost())
        if lost:
            merged[holder] = lost
        else:
            merged.pop(holder, None)
    return {h: tuple(sorted(v)) for h, v in merged.items() if v}


# -- repair -----------------------------------------------------------------------------


def holders_to_check(
    manifest: Manifest, bad: Bad, friends: Set[str], check: bool
) -> set[HouseholdId]:
    """The holders a repair challenges: every friend holder on a `check`, else known-bad ones."""
    return {h for h in manifest.placement.values() if h in friends and (check or h in bad)}


@dataclass(frozen=True, slots=True)
class RepairPlan:
    """What to send where to repair one object.

    Attributes:
        targets: share number -> (holder, segments to send it); a moving share
            number goes whole to its new holder, a lost one goes back to its holder.
        moving: the share numbers of `targets` that get a new holder.
        replace: share numbers whose holder is gone (removed friend, never placed).
    """

    targets: Mapping[int, tuple[HouseholdId, frozenset[int]]]
    moving: frozenset[int]
    replace: frozenset[int]

    def segments(self) -> list[int]:
        """Every segment some target needs, in order."""
        return sorted({i for _, segs in self.targets.values() for i in segs})


def plan_object_repair(
    manifest: Manifest,
    friends: Set[str],
    checks: Mapping[HouseholdId, HolderCheck],
    offered: list[Candidate],
) -> RepairPlan:
    """The repair of one object, from who its friends are and what its holders proved.

    Args:
        manifest: the object as the index records it.
        friends: every friend household (online or not).
        checks: what the challenged holders proved (`holders_to_check`).
        offered: the `candidates` for new shares now.
    """
    m = manifest
    placement = dict(m.placement)
    replace = {j for j in range(m.n) if j not in placement}
    replace |= {j for j, h in placement.items() if h not in friends}
    resend: dict[int, set[int]] = {}
    for c in checks.values():
        if not c.unreachable:
            resend.update(c.lost())
    per_number = sum(share_size(seg.ciphertext_size, m.k) for seg in m.segments)
    # spread doubled-up share numbers onto households holding nothing of this object
    counts: dict[HouseholdId, list[int]] = {}
    for j, h in sorted(placement.items()):
        if j not in replace:
            counts.setdefault(h, []).append(j)
    empty = [
        c
        for c in offered
        if c.reachable and c.quota_left >= per_number and c.household not in placement.values()
    ]
    spread: set[int] = set()
    for nums in sorted(counts.values(), key=lambda v: -len(v)):
        for j in nums[1:]:
            if len(spread) < len(empty):
                spread.add(j)
    leaving = replace | spread
    sentinel = {j: (_GONE if j in leaving else h) for j, h in placement.items()}
    sentinel.update({j: _GONE for j in replace if j not in placement})
    healthy = {h for j, h in placement.items() if j not in leaving}
    planned = plan_repair(m.object_id, sentinel, healthy, offered, per_number)
    # a spread share number that found no better home than its own stays put
    plan = {
        j: HouseholdId(h) for j, h in planned.items() if not (j in spread and h == placement[j])
    }
    every = frozenset(range(len(m.segments)))
    targets = {j: (h, every) for j, h in plan.items()}
    for j, segs in resend.items():
        if j not in targets and j not in replace:
            targets[j] = (placement[j], frozenset(segs))
    return RepairPlan(targets, frozenset(plan), frozenset(replace))


@dataclass(frozen=True, slots=True)
class RepairResult:
    """One object after its repair: what to record, what to delete, what to report."""

    manifest: Manifest
    bad: dict[str, tuple[int, ...]]
    state: str
    #: whether the index entry must be written again
    changed: bool
    #: share number -> {"from": old holder or "", "to": new holder}
    moved: dict[str, dict[str, str]]
    #: share number -> how many segments of it went back to its holder
    resent: dict[str, int]
    #: shares to delete: a moved one's old copies, a failed move's partial new ones
    to_delete: dict[HouseholdId, list[ShareId]]


def settle_repair(
    manifest: Manifest,
    state: str,
    bad: Bad,
    plan: RepairPlan,
    checks: Mapping[HouseholdId, HolderCheck],
    sent: Mapping[int, Sequence[ShareId]],
    failed: Set[int],
    friends: Set[str],
) -> RepairResult:
    """What a repair leaves behind, from what was `sent` and which share numbers `failed`.

    Args:
        manifest, state, bad: the object as the index recorded it before the repair.
        plan: what was attempted.
        checks: what the challenged holders proved.
        sent: share number -> the shares of it that were stored.
        failed: share numbers of which some share could not be stored.
        friends: every friend household.
    """
    m = manifest
    placement = dict(m.placement)
    moved: dict[str, dict[str, str]] = {}
    new_placement = dict(placement)
    to_delete: dict[HouseholdId, list[ShareId]] = {}
    for j, (holder, _) in plan.targets.items():
        if j not in plan.moving:
            continue
        if j in failed:
            if sent.get(j):
                to_delete.setdefault(holder, []).extend(sent[j])
            if j in plan.replace:
                new_placement.pop(j, None)
            continue
        old = placement.get(j)
        new_placement[j] = holder
        moved[str(j)] = {"from": old or "", "to": holder}
        if old is not None and old in friends and old != holder:
            to_delete.setdefault(old, []).extend(ShareId(s) for s in m.share_ids(j))
    for old, ids in to_delete.items():
        # with k = 1 every share number of a segment is the same bytes, so the same
        # share ID: never delete one the old holder still holds under another number
        kept_ids = {s for j, h in new_placement.items() if h == old for s in m.share_ids(j)}
        to_delete[old] = [s for s in ids if s not in kept_ids]
    still_bad = {h: set(v) for h, v in bad.items() if h in new_placement.values()}
    for holder, c in checks.items():
        if c.unreachable:
            continue
        still = {j for j in c.lost() if j in failed and new_placement.get(j) == holder}
        if still:
            still_bad[holder] = still
        else:
            still_bad.pop(holder, None)
    merged = {h: tuple(sorted(v)) for h, v in still_bad.items() if v}
    after = Manifest(
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
    new_state = state_of(after, merged, len(friends))
    changed = after.placement != m.placement or merged != dict(bad) or new_state != state
    resent = {str(j): len(sent.get(j, [])) for j in plan.targets if j not in plan.moving}
    return RepairResult(after, merged, new_state, changed, moved, resent, to_delete)
