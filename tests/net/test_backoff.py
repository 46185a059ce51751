"""The one back-off: doubling, the cap, starting over, and the stateless form agreeing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.net.backoff import Backoff


def test_doubles_up_to_the_cap_and_starts_over() -> None:
    b = Backoff(1.0, 5.0)
    assert [b.failed() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.succeeded()
    assert b.failed() == 1.0


@given(st.floats(0.01, 100), st.floats(1, 10_000), st.integers(1, 40))
def test_after_agrees_with_failing_in_a_row(first: float, factor: float, retry: int) -> None:
    b = Backoff(first, first * factor)
    for _ in range(retry - 1):
        b.failed()
    assert b.failed() == pytest.approx(b.after(retry))


def test_refuses_a_negative_or_inverted_backoff() -> None:
    with pytest.raises(ValueError):
        Backoff(-1, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
