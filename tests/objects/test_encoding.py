"""The encoding rule (k-of-n from the number of friends), its config, what a placement survives."""

from __future__ import annotations

import pytest

from citizen.errors import ConfigError
from citizen.objects.encoding import (
    LOCAL_ONLY,
    PROTECTED,
    SPREADING,
    EncodingRule,
    Target,
    protection_of,
    survives,
)

# the README's table: friends -> (k, n, friend losses survived)
TABLE = [
    (0, (1, 1, 0)),
    (1, (1, 1, 0)),
    (2, (1, 2, 1)),
    (3, (2, 3, 1)),
    (4, (2, 4, 2)),
    (5, (3, 5, 2)),
    (6, (3, 5, 2)),
    (12, (3, 5, 2)),
]


@pytest.mark.parametrize(("friends", "expected"), TABLE)
def test_the_default_rule_is_the_readme_table(friends: int, expected: tuple[int, int, int]) -> None:
    assert EncodingRule.from_config(0, 0, -1).target(friends) == Target(*expected)


@pytest.mark.parametrize(("friends", "expected"), TABLE[1:])
def test_the_target_placement_survives_what_the_table_says(
    friends: int, expected: tuple[int, int, int]
) -> None:
    k, n, t = expected
    one_each = {j: f"h{j}" for j in range(n)}  # a share per household
    assert survives(k, one_each) == t


@pytest.mark.parametrize(
    ("survive", "friends", "expected"),
    [
        (0, 3, (3, 3, 0)),  # no loss to survive: least overhead, k = n
        (1, 6, (4, 5, 1)),
        (3, 6, (2, 5, 3)),
        (2, 2, (1, 2, 1)),  # two friends cannot give more than one loss
        (4, 8, (1, 5, 4)),
    ],
)
def test_a_configured_loss_count(
    survive: int, friends: int, expected: tuple[int, int, int]
) -> None:
    assert EncodingRule.from_config(0, 0, survive).target(friends) == Target(*expected)


def test_a_configured_k_and_n_survive_what_an_even_spread_gives() -> None:
    rule = EncodingRule.from_config(3, 5, -1)
    assert rule.target(5) == Target(3, 5, 2)
    assert rule.target(3) == Target(3, 5, 1)  # 2+2+1 shares: one household may go
    assert rule.target(1) == Target(3, 5, 0)


@pytest.mark.parametrize(
    ("k", "n", "survive"),
    [(3, 0, -1), (0, 5, -1), (4, 3, -1), (3, 40, -1), (-1, -1, -1), (3, 5, 1), (0, 0, -2)],
)
def test_contradictory_or_out_of_range_config_is_refused(k: int, n: int, survive: int) -> None:
    with pytest.raises(ConfigError) as raised:
        EncodingRule.from_config(k, n, survive)
    assert raised.value.hint


def test_survives_counts_households_not_shares() -> None:
    # 3-of-5 with two households holding two shares each: losing one of those leaves 3
    doubled = {0: "a", 1: "a", 2: "b", 3: "b", 4: "c"}
    assert survives(3, doubled) == 1
    assert survives(3, {0: "a", 1: "a", 2: "a"}) == 0
    assert survives(3, {0: "a", 1: "b"}) is None  # friends hold fewer than k
    assert survives(1, {}) is None
    # bad shares and unavailable holders do not count
    assert survives(2, {0: "a", 1: "b", 2: "c"}, bad={"a": [0]}) == 0
    assert survives(2, {0: "a", 1: "b", 2: "c"}, unavailable={"c"}) == 0
    assert survives(2, {0: "a", 1: "b", 2: "c"}, unavailable={"b", "c"}) is None


def test_protection_names() -> None:
    assert protection_of(0, None, 0) == LOCAL_ONLY
    assert protection_of(2, None, 1) == SPREADING
    assert protection_of(3, 0, 1) == SPREADING
    assert protection_of(1, 0, 0) == PROTECTED
    assert protection_of(5, 2, 2) == PROTECTED
