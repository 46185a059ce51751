"""Which friend household holds which share: rendezvous hashing, happiness, repair plans.

Pure planning, no I/O. Households are ranked per object by highest random
weight (HRW, "rendezvous") hashing: ``BLAKE2b(object_id || household)``. The
ranking is deterministic, spreads objects evenly over friends, and when a
friend comes or goes only the shares that must move move.

`place_shares` gives each share number a distinct household when at least
`n` friends are reachable with room; otherwise it spreads the shares over as
many households as it can (some hold two or more) and refuses outright if
that is fewer than `happiness` distinct households, because then losing a
few friends could lose the object. `plan_repair` chooses new holders for the
shares whose holders are gone, preferring households that hold nothing of
this object yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from citizen.errors import LocalProtocolError, UnreachableError

_PERSON = b"citizen-place"
_HINT = (
    "Wait until more friends are online, ask friends to offer more storage,"
    " or pair with another household (citizen invite)."
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A friend household that might hold shares, as the shell sees it right now."""

    household: str
    quota_left: int
    reachable: bool


def hrw_score(object_id: str, household: str) -> bytes:
    """Rendezvous weight of `household` for `object_id` (bigger ranks first)."""
    h = hashlib.blake2b(digest_size=16, person=_PERSON)
    h.update(object_id.encode())
    h.update(b"\x00")
    h.update(household.encode())
    return h.digest()


def _ranked(object_id: str, candidates: Iterable[Candidate]) -> list[Candidate]:
    return sorted(
        candidates, key=lambda c: (hrw_score(object_id, c.household), c.household), reverse=True
    )


def _check_unique(candidates: list[Candidate]) -> None:
    seen: set[str] = set()
    for c in candidates:
        if c.household in seen:
            raise LocalProtocolError(f"Household {c.household} is listed twice as a candidate.")
        seen.add(c.household)


def place_shares(
    object_id: str,
    n: int,
    candidates: list[Candidate],
    share_size: int,
    happiness: int,
) -> dict[int, str]:
    """Choose a holder household for each share number 0..n-1.

    `share_size` is the total bytes one share number stands for on its holder
    (the share of every segment), so quota is checked per household against
    the number of shares it would get times `share_size`.

    Raises:
        UnreachableError: fewer than `happiness` distinct reachable friends
            with room, or not enough room in total for all `n` shares.
        LocalProtocolError: bad n/happiness/share_size, or a household listed twice.
    """
    if n < 1 or not 1 <= happiness <= n or share_size < 0:
        raise LocalProtocolError(f"Bad placement request: n={n}, happiness={happiness}.")
    _check_unique(candidates)
    reachable = [c for c in candidates if c.reachable]
    eligible = _ranked(object_id, (c for c in reachable if c.quota_left >= share_size))
    if len(eligible) < happiness:
        raise UnreachableError(
            f"Only {len(reachable)} of {len(candidates)} friends are reachable, and"
            f" {len(eligible)} of them have room for a {share_size}-byte share; storing"
            f" this object needs at least {happiness} different friends.",
            _HINT,
        )
    if len(eligible) >= n:
        return {number: eligible[number].household for number in range(n)}

    # Fewer households than shares: deal shares round-robin in HRW order, each
    # household taking another share only while its quota allows.
    counts = {c.household: 0 for c in eligible}
    placement: dict[int, str] = {}
    turn = 0
    for number in range(n):
        for _ in range(len(eligible)):
            c = eligible[turn % len(eligible)]
            turn += 1
            if c.quota_left >= share_size * (counts[c.household] + 1):
                counts[c.household] += 1
                placement[number] = c.household
                break
        else:
            raise UnreachableError(
                f"The {len(eligible)} reachable friends with room can hold only"
                f" {number} of the {n} shares ({share_size} bytes each).",
                _HINT,
            )
    return placement


def plan_repair(
    object_id: str,
    placement: Mapping[int, str],
    healthy: Set[str],
    candidates: list[Candidate],
    share_size: int,
) -> dict[int, str]:
    """New holders for the share numbers whose holder is not in `healthy`.

    Households already holding a healthy share of this object are used only
    when no other has room, and then the one holding fewest first; a holder
    that lost its share is not chosen again. Best effort: share numbers for
    which no reachable household has room are left out of the result (try
    again later), so the caller compares the result with what is missing.

    Returns:
        share number -> new holder, only for share numbers that need one.
    """
    _check_unique(candidates)
    missing = sorted(number for number, holder in placement.items() if holder not in healthy)
    if not missing:
        return {}
    failed = {placement[number] for number in missing}
    held: dict[str, int] = {}
    for holder in placement.values():
        if holder in healthy:
            held[holder] = held.get(holder, 0) + 1
    room = {c.household: c.quota_left for c in candidates}
    ranked = _ranked(
        object_id, (c for c in candidates if c.reachable and c.household not in failed)
    )
    order = {c.household: i for i, c in enumerate(ranked)}
    plan: dict[int, str] = {}
    for number in missing:
        fits = [c.household for c in ranked if room[c.household] >= share_size]
        if not fits:
            continue
        best = min(fits, key=lambda h: (held.get(h, 0), order[h]))
        plan[number] = best
        held[best] = held.get(best, 0) + 1
        room[best] -= share_size
    return plan
