"""Login attempts per client address: a sliding window of failures, pure."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: failed logins one address may make within `WINDOW_S` before it must wait
MAX_FAILURES = 10
WINDOW_S = 15 * 60
#: addresses remembered at once; the oldest are forgotten first (a flood cannot grow memory)
MAX_ADDRESSES = 4096


@dataclass(slots=True)
class LoginLimiter:
    """Counts failed logins by address; `wait_s` says how long an address must still wait."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait_s(self, address: str, now: float) -> float:
        """0 if `address` may try now, else the seconds until its oldest failure ages out."""
        times = self._failures.get(address)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
            return 0.0
        if len(times) < self.max_failures:
            return 0.0
        return times[0] + self.window_s - now

    def failed(self, address: str, now: float) -> None:
        times = self._failures.pop(address, None) or deque()
        times.append(now)
        while len(times) > self.max_failures:
            times.popleft()
        self._failures[address] = times  # re-inserted last: the most recent address
        while len(self._failures) > MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
