from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import LocalProtocolError, UnreachableError
from citizen.objects.placement import Candidate, place_shares, plan_repair

MB = 1_000_000


def friends(count: int, quota: int = 100 * MB, reachable: bool = True) -> list[Candidate]:
    return [Candidate(f"h{i}", quota, reachable) for i in range(count)]


def test_one_share_per_household_when_enough_friends() -> None:
    placement = place_shares("obj", 5, friends(8), MB, happiness=4)
    assert sorted(placement) == [0, 1, 2, 3, 4]
    assert len(set(placement.values())) == 5


def test_deterministic_and_independent_of_candidate_order() -> None:
    cands = friends(8)
    a = place_shares("obj", 5, cands, MB, 4)
    assert place_shares("obj", 5, list(reversed(cands)), MB, 4) == a
    # a different object ranks households differently (over many objects)
    assert any(place_shares(f"obj{i}", 5, cands, MB, 4) != a for i in range(20))


def test_spreads_over_few_households_with_some_holding_two() -> None:
    placement = place_shares("obj", 5, friends(3), MB, happiness=3)
    holders = list(placement.values())
    assert len(placement) == 5
    assert len(set(holders)) == 3
    assert sorted(holders.count(h) for h in set(holders)) == [1, 2, 2]


def test_happiness_failure_names_counts_and_what_to_do() -> None:
    cands = [*friends(2), Candidate("off", 100 * MB, False), Candidate("full", MB - 1, True)]
    with pytest.raises(UnreachableError) as info:
        place_shares("obj", 5, cands, MB, happiness=3)
    text = str(info.value)
    assert "3 of 4 friends are reachable" in text
    assert "2 of them have room" in text
    assert "at least 3" in text
    assert info.value.hint


def test_unreachable_and_full_households_are_never_chosen() -> None:
    cands = [*friends(5), Candidate("off", 100 * MB, False), Candidate("full", 10, True)]
    for i in range(30):
        placement = place_shares(f"o{i}", 5, cands, MB, 5)
        assert not {"off", "full"} & set(placement.values())


def test_quota_limits_how_many_shares_a_household_takes() -> None:
    cands = [
        Candidate("big", 10 * MB, True),
        Candidate("small", MB, True),
        Candidate("mid", 2 * MB, True),
    ]
    placement = place_shares("obj", 5, cands, MB, happiness=3)
    holders = list(placement.values())
    assert holders.count("small") == 1
    assert holders.count("mid") <= 2
    assert len(placement) == 5


def test_not_enough_total_room_raises() -> None:
    cands = [Candidate(f"h{i}", MB, True) for i in range(3)]
    with pytest.raises(UnreachableError, match="only 3 of the 5 shares"):
        place_shares("obj", 5, cands, MB, happiness=3)


@pytest.mark.parametrize(("n", "happiness"), [(0, 1), (5, 0), (5, 6)])
def test_bad_requests_are_local_errors(n: int, happiness: int) -> None:
    with pytest.raises(LocalProtocolError):
        place_shares("obj", n, friends(8), MB, happiness)


def test_duplicate_candidate_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        place_shares("obj", 3, [*friends(3), Candidate("h0", 1, True)], 1, 2)


@given(
    n=st.integers(1, 10),
    count=st.integers(0, 12),
    quotas=st.lists(st.integers(0, 5), min_size=12, max_size=12),
    object_id=st.text(max_size=8),
)
def test_placement_invariants(n: int, count: int, quotas: list[int], object_id: str) -> None:
    cands = [Candidate(f"h{i}", quotas[i], True) for i in range(count)]
    happiness = min(n, 2)
    try:
        placement = place_shares(object_id, n, cands, 1, happiness)
    except UnreachableError:
        return
    assert sorted(placement) == list(range(n))
    holders = list(placement.values())
    assert len(set(holders)) >= happiness
    for c in cands:
        assert holders.count(c.household) <= c.quota_left
    eligible = sum(1 for q in quotas[:count] if q >= 1)
    assert len(set(holders)) == min(n, eligible)


# -- repair ---------------------------------------------------------------------------


def test_repair_moves_only_missing_shares_to_households_without_a_share() -> None:
    cands = friends(8)
    placement = place_shares("obj", 5, cands, MB, 5)
    gone = placement[2]
    healthy = set(placement.values()) - {gone}
    remaining = [c for c in cands if c.household != gone]
    plan = plan_repair("obj", placement, healthy, remaining, MB)
    assert list(plan) == [2]
    assert plan[2] not in placement.values()


def test_repair_falls_back_to_least_loaded_holder() -> None:
    placement = {0: "a", 1: "b", 2: "c", 3: "a", 4: "gone"}
    cands = [Candidate(h, 100 * MB, True) for h in "abc"]
    plan = plan_repair("obj", placement, {"a", "b", "c"}, cands, MB)
    assert plan[4] in {"b", "c"}


def test_repair_never_reuses_the_failed_holder_and_respects_quota() -> None:
    placement = {0: "a", 1: "b", 2: "c"}
    cands = [
        Candidate("a", 100 * MB, True),
        Candidate("b", 100 * MB, True),
        Candidate("d", MB - 1, True),
    ]
    # c lost its share but is still reachable; d is too full
    plan = plan_repair("obj", placement, {"a", "b"}, [*cands, Candidate("c", 100 * MB, True)], MB)
    assert plan[2] in {"a", "b"}


def test_repair_is_best_effort_when_nobody_has_room() -> None:
    placement = {0: "a", 1: "b", 2: "c"}
    plan = plan_repair(
        "obj", placement, {"a"}, [Candidate("a", 0, True), Candidate("z", 0, True)], MB
    )
    assert plan == {}


def test_repair_spreads_several_missing_shares() -> None:
    placement = {0: "a", 1: "x", 2: "y", 3: "z"}
    cands = [Candidate(h, 100 * MB, True) for h in ["a", "d", "e", "f"]]
    plan = plan_repair("obj", placement, {"a"}, cands, MB)
    assert sorted(plan) == [1, 2, 3]
    assert sorted(plan.values()) == ["d", "e", "f"]


def test_nothing_to_repair() -> None:
    assert plan_repair("obj", {0: "a"}, {"a"}, friends(3), MB) == {}
