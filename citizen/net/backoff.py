"""One back-off for every retry loop: a delay that doubles from `first` up to `most`, pure."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """The pause before the next attempt, doubling after each failure until `most`.

    `failed()` returns the pause to wait now and doubles the next one;
    `succeeded()` starts over from `first`. `after(n)` is the pause before
    retry number n (1 = the first retry) without keeping state.
    """

    first: float
    most: float
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.first <= self.most:
            raise ValueError("a back-off needs 0 <= first <= most")
        self.delay = self.first

    def failed(self) -> float:
        """The pause before the next attempt; the one after it is twice as long (capped)."""
        now = self.delay
        self.delay = min(self.delay * 2, self.most)
        return now

    def succeeded(self) -> None:
        """Start over: the next failure waits `first` again."""
        self.delay = self.first

    def after(self, retry: int) -> float:
        """The pause before retry number `retry` (1 = the first retry)."""
        return float(min(self.most, self.first * 2 ** max(0, retry - 1)))
