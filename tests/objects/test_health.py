"""An object's health and its repair plan: records in, a plan and its outcome out."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from hypothesis import given
from hypothesis import strategies as st

from citizen.ids import HouseholdId, ShareId, new_object_id
from citizen.objects.encoding import Target
from citizen.objects.health import (
    COMPLETE,
    QUOTA_BACKOFF,
    UNDER_REPLICATED,
    UNKNOWN_ROOM,
    HolderCheck,
    RepairPlan,
    Standing,
    after_checks,
    candidates,
    holders_to_check,
    merge_problems,
    needs_reencoding,
    needs_repair,
    plan_object_repair,
    protection,
    recently_refused,
    settle_repair,
    state_of,
    unheard_of,
)
from citizen.objects.manifest import Manifest
from citizen.objects.placement import Candidate
from citizen.objects.segments import SegmentInfo, share_hash

ME = HouseholdId("me")
A, B, C, D, E, F = (HouseholdId(x) for x in "abcdef")
SEGMENTS = 3


def _manifest(placement: Mapping[int, str], n: int = 5, k: int = 3) -> Manifest:
    segs = tuple(
        SegmentInfo(100, 116, tuple(share_hash(os.urandom(8)) for _ in range(n)))
        for _ in range(SEGMENTS)
    )
    return Manifest(
        object_id=new_object_id(),
        size=300,
        segment_size=100,
        k=k,
        n=n,
        segments=segs,
        placement={j: HouseholdId(h) for j, h in placement.items()},
        created=1,
    )


def _online(households: Iterable[HouseholdId], refused: Iterable[str] = ()) -> list[Candidate]:
    gone = set(refused)
    return [Candidate(h, 0 if h in gone else UNKNOWN_ROOM, True) for h in households]


def _lost(household: HouseholdId, numbers: list[int], lost: list[tuple[int, int]]) -> HolderCheck:
    return HolderCheck(household, numbers, missing=lost)


def _all_sent(plan: RepairPlan) -> dict[int, list[ShareId]]:
    return {j: [ShareId(f"{j}-{i}") for i in sorted(segs)] for j, (_, segs) in plan.targets.items()}


# -- health -----------------------------------------------------------------------------


def test_complete_needs_every_share_placed_spread_and_none_bad() -> None:
    spread = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    assert state_of(spread, {}, friends=5) == COMPLETE
    assert state_of(spread, {A: (0,)}, friends=5) == UNDER_REPLICATED
    assert state_of(spread, {A: ()}, friends=5) == COMPLETE  # an empty record is no problem
    assert state_of(_manifest({0: A, 1: B, 2: C, 3: D}), {}, 5) == UNDER_REPLICATED
    doubled = _manifest({0: A, 1: B, 2: C, 3: A, 4: B})
    assert state_of(doubled, {}, friends=3) == COMPLETE  # as spread as 3 friends allow
    assert state_of(doubled, {}, friends=4) == UNDER_REPLICATED  # a fourth could take one


def test_repair_looks_at_under_replicated_objects_or_gone_holders_unless_checking() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    everyone = {A, B, C, D, E}
    assert not needs_repair(COMPLETE, m, everyone, check=False)
    assert needs_repair(COMPLETE, m, everyone, check=True)
    assert needs_repair(UNDER_REPLICATED, m, everyone, check=False)
    assert needs_repair(COMPLETE, m, everyone - {C}, check=False)  # C was removed


def test_a_quota_refusal_keeps_a_household_out_for_a_while() -> None:
    refused = {A: 1000.0}
    assert recently_refused(refused, A, 1000.0 + QUOTA_BACKOFF - 1)
    assert not recently_refused(refused, A, 1000.0 + QUOTA_BACKOFF)
    assert not recently_refused(refused, B, 1000.0)
    got = candidates(ME, [A, B, ME, C], lambda h: h != C, refused, 1001.0)
    assert got == [
        Candidate(A, 0, True),
        Candidate(B, UNKNOWN_ROOM, True),
        Candidate(C, UNKNOWN_ROOM, False),
    ]


def test_problems_a_read_found_are_added_to_the_record() -> None:
    merged = merge_problems({A: (1,)}, {A: {3}, B: {0}}, {B: {0, 2}})
    assert merged == {A: (1, 3), B: (0, 2)}
    assert merge_problems({A: (1,)}) == {A: (1,)}


def test_a_verify_replaces_what_answering_holders_lost_and_keeps_the_rest() -> None:
    checks = {
        A: HolderCheck(A, [0], ok=3),  # lost nothing any more
        B: _lost(B, [1], [(1, 0), (1, 2)]),
        C: HolderCheck(C, [2], unreachable="not connected"),  # no news
    }
    assert after_checks({A: (0,), C: (2,), D: (3,)}, checks) == {B: (1,), C: (2,), D: (3,)}


def test_holder_check_reports_what_to_resend() -> None:
    check = HolderCheck(A, [0, 3], ok=4, missing=[(0, 1)], bad=[(3, 0), (0, 2)])
    assert check.lost() == {0: {1, 2}, 3: {0}}
    assert not check.healthy()
    report = check.to_json()
    assert report["healthy"] is False and report["missing"] == [{"share_number": 0, "segment": 1}]
    assert HolderCheck(A, [0], ok=3).healthy()


def test_holders_to_check_are_known_bad_ones_or_every_friend_on_a_check() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    friends = {A, B, C, D}  # E was removed: nothing to ask it
    assert holders_to_check(m, {B: (1,), E: (4,)}, friends, check=False) == {B}
    assert holders_to_check(m, {}, friends, check=True) == {A, B, C, D}


# -- repair plans -----------------------------------------------------------------------


def test_nothing_to_do_for_a_healthy_object() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    friends = {A, B, C, D, E, F}
    plan = plan_object_repair(m, friends, {}, _online(friends))
    assert plan == RepairPlan({}, frozenset(), frozenset())
    done = settle_repair(m, COMPLETE, {}, plan, {}, {}, set(), friends)
    assert not done.changed and done.state == COMPLETE and not done.to_delete


def test_a_removed_friends_share_moves_whole_to_a_household_holding_nothing() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    friends = {A, B, C, D, F}  # E was removed
    plan = plan_object_repair(m, friends, {}, _online(friends))
    assert plan.replace == {4} and plan.moving == {4}
    assert plan.targets == {4: (F, frozenset(range(SEGMENTS)))}
    assert plan.segments() == [0, 1, 2]
    done = settle_repair(m, UNDER_REPLICATED, {E: (4,)}, plan, {}, _all_sent(plan), set(), friends)
    assert done.manifest.placement[4] == F and done.state == COMPLETE and done.changed
    assert done.moved == {"4": {"from": E, "to": F}}
    assert done.bad == {}  # E holds nothing of it any more
    assert done.to_delete == {}  # nobody to ask about E's old copies


def test_never_placed_share_numbers_get_a_holder() -> None:
    m = _manifest({0: A, 1: B, 2: C})
    friends = {A, B, C, D, E}
    plan = plan_object_repair(m, friends, {}, _online(friends))
    assert plan.replace == {3, 4}
    assert {h for h, _ in plan.targets.values()} == {D, E}
    done = settle_repair(m, UNDER_REPLICATED, {}, plan, {}, _all_sent(plan), set(), friends)
    assert len(set(done.manifest.placement.values())) == 5 and done.state == COMPLETE


def test_lost_segments_go_back_to_the_same_holder() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    friends = {A, B, C, D, E}
    checks = {B: _lost(B, [1], [(1, 0), (1, 2)]), A: HolderCheck(A, [0], ok=3)}
    plan = plan_object_repair(m, friends, checks, _online(friends))
    assert plan.targets == {1: (B, frozenset({0, 2}))} and not plan.moving
    assert plan.segments() == [0, 2]
    done = settle_repair(
        m, UNDER_REPLICATED, {B: (1,)}, plan, checks, _all_sent(plan), set(), friends
    )
    assert done.resent == {"1": 2} and done.bad == {} and done.state == COMPLETE
    # a resend that failed keeps the holder recorded as bad
    failed = settle_repair(m, UNDER_REPLICATED, {B: (1,)}, plan, checks, {}, {1}, friends)
    assert failed.bad == {B: (1,)} and failed.state == UNDER_REPLICATED
    assert failed.resent == {"1": 0} and not failed.changed


def test_doubled_up_shares_spread_onto_new_friends_and_old_copies_go() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: A, 4: B})  # placed while only 3 friends existed
    friends = {A, B, C, D, E}
    plan = plan_object_repair(m, friends, {}, _online(friends))
    assert plan.moving == {3, 4} and not plan.replace
    assert {h for h, _ in plan.targets.values()} == {D, E}
    done = settle_repair(m, UNDER_REPLICATED, {}, plan, {}, _all_sent(plan), set(), friends)
    assert len(set(done.manifest.placement.values())) == 5 and done.state == COMPLETE
    assert done.to_delete == {
        A: [ShareId(s) for s in m.share_ids(3)],
        B: [ShareId(s) for s in m.share_ids(4)],
    }


def test_only_as_many_spread_as_there_are_empty_households() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: A, 4: B})
    friends = {A, B, C, D}
    plan = plan_object_repair(m, friends, {}, _online(friends))
    assert len(plan.moving) == 1 and {h for h, _ in plan.targets.values()} == {D}


def test_offline_or_refusing_households_get_nothing() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    friends = {A, B, C, D, F}  # E removed; F refused for quota a moment ago
    offered = _online([A, B, C, D, F], refused=[F])
    plan = plan_object_repair(m, friends, {}, offered)
    assert F not in {h for h, _ in plan.targets.values()}
    assert plan.targets[4][0] in {A, B, C, D}  # doubled up rather than lost
    nobody = plan_object_repair(
        m, friends, {}, [Candidate(h, UNKNOWN_ROOM, False) for h in friends]
    )
    assert nobody.targets == {} and nobody.replace == {4}


def test_a_failed_move_leaves_the_number_unplaced_and_its_partial_copies_deleted() -> None:
    m = _manifest({0: A, 1: B, 2: C, 3: D, 4: E})
    friends = {A, B, C, D, F}
    plan = plan_object_repair(m, friends, {}, _online(friends))
    partial = {4: [ShareId("4-0")]}  # the first segment arrived, then F refused
    done = settle_repair(m, UNDER_REPLICATED, {}, plan, {}, partial, {4}, friends)
    assert 4 not in done.manifest.placement and done.state == UNDER_REPLICATED
    assert done.to_delete == {F: [ShareId("4-0")]} and done.moved == {}


# -- properties -------------------------------------------------------------------------

HOUSEHOLDS = [HouseholdId(f"h{i}") for i in range(8)]


@st.composite
def _situations(draw: st.DrawFn) -> tuple[Manifest, set[HouseholdId], set[HouseholdId]]:
    n = draw(st.integers(1, 6))
    placement = draw(
        st.dictionaries(st.integers(0, n - 1), st.sampled_from(HOUSEHOLDS), max_size=n)
    )
    friends = set(draw(st.lists(st.sampled_from(HOUSEHOLDS), min_size=1, unique=True)))
    online = set(draw(st.lists(st.sampled_from(sorted(friends)), unique=True)))
    return _manifest(placement, n=n, k=1), friends, online


@given(_situations())
def test_a_plan_sends_only_to_online_friends_and_a_repair_that_works_places_every_share(
    situation: tuple[Manifest, set[HouseholdId], set[HouseholdId]],
) -> None:
    m, friends, online = situation
    offered = [Candidate(h, UNKNOWN_ROOM, h in online) for h in sorted(friends)]
    plan = plan_object_repair(m, friends, {}, offered)
    assert plan.moving <= set(plan.targets) and plan.moving >= plan.replace & set(plan.targets)
    for j in plan.moving:
        assert plan.targets[j][0] in online
    assert plan == plan_object_repair(m, friends, {}, list(reversed(offered)))
    done = settle_repair(m, UNDER_REPLICATED, {}, plan, {}, _all_sent(plan), set(), friends)
    if online:
        assert set(done.manifest.placement) == set(range(m.n))
        assert set(done.manifest.placement.values()) <= friends
    if len(online) >= m.n:
        assert done.state == COMPLETE


@given(_situations(), st.data())
def test_a_failed_send_never_records_a_holder_that_lacks_the_share(
    situation: tuple[Manifest, set[HouseholdId], set[HouseholdId]], data: st.DataObject
) -> None:
    m, friends, online = situation
    offered = [Candidate(h, UNKNOWN_ROOM, h in online) for h in sorted(friends)]
    plan = plan_object_repair(m, friends, {}, offered)
    failed = set(data.draw(st.lists(st.sampled_from(sorted(plan.targets) or [0]))))
    done = settle_repair(m, UNDER_REPLICATED, {}, plan, {}, _all_sent(plan), failed, friends)
    for j in plan.moving & failed:
        assert done.manifest.placement.get(j) != plan.targets[j][0]
    if failed & plan.moving & plan.replace:  # a share number left with no holder
        assert done.state == UNDER_REPLICATED


# -- protection -------------------------------------------------------------------------


def _standing(friends: str, unheard: str = "", k: int = 2, n: int = 3, t: int = 1) -> Standing:
    return Standing(frozenset(friends), frozenset(unheard), Target(k, n, t))


def test_a_removed_or_long_unheard_holder_no_longer_protects() -> None:
    m = _manifest({0: A, 1: B, 2: C}, n=3, k=2)
    assert protection(m, {}, _standing("abc")) == ("protected", 1)
    # C was removed: two shares left of a 2-of-3, no friend may be lost any more
    assert protection(m, {}, _standing("ab", t=1)) == ("spreading", 0)
    # C is still a friend but unheard of past the grace period: the same
    assert protection(m, {}, _standing("abc", unheard="c")) == ("spreading", 0)
    # B lost its share as well: friends no longer hold enough to rebuild it
    assert protection(m, {B: (1,)}, _standing("abc", unheard="c")) == ("spreading", None)
    # every holder removed: only this household's devices have it
    assert protection(m, {}, _standing("def")) == ("local only", None)
    assert protection(_manifest({}, n=1, k=1), {}, _standing("a")) == ("local only", None)


def test_unheard_of_is_offline_and_silent_past_the_grace() -> None:
    now, grace = 1_000_000.0, 24 * 3600.0
    heard = {A: now - grace - 1, B: now - grace + 1, C: now - 10 * grace, D: None}
    assert unheard_of(heard, online={C}, now=now, grace=grace) == {A, D}


def test_an_encoding_that_no_longer_fits_is_re_encoded() -> None:
    m = _manifest({0: A, 1: B, 2: C}, n=3, k=2)
    assert not needs_reencoding(m, Target(2, 3, 1), friends=3)
    assert needs_reencoding(m, Target(2, 4, 2), friends=4)
    assert not needs_reencoding(m, Target(1, 1, 0), friends=0)  # no friend: nothing to do
