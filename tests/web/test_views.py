"""The pure parts of the web page: the protection summary and the login limiter."""

from __future__ import annotations

from citizen.web.limits import LoginLimiter
from citizen.web.views import protection


def test_protection_is_that_of_the_worst_object() -> None:
    objects = [
        {"protection": "protected", "survives": 2},
        {"protection": "spreading", "survives": 1},
        {"protection": "local only", "survives": None},
    ]
    p = protection(objects[:2])
    assert (p.objects, p.survive, p.protected, p.spreading, p.local_only) == (2, 1, 1, 1, 0)
    assert protection(objects).survive is None  # one file would not survive losing this device
    assert protection(objects).local_only == 1
    assert protection([]).survive is None and protection([]).objects == 0


def test_the_limiter_lets_an_address_try_again_once_its_failures_age_out() -> None:
    limiter = LoginLimiter(max_failures=3, window_s=100)
    for t in (0, 10, 20):
        assert limiter.wait_s("a", t) == 0
        limiter.failed("a", t)
    assert limiter.wait_s("a", 30) == 70  # until the first failure is 100 s old
    assert limiter.wait_s("b", 30) == 0  # per address
    assert limiter.wait_s("a", 100) == 0
    limiter.failed("a", 100)
    assert limiter.wait_s("a", 101) > 0
    limiter.succeeded("a")
    assert limiter.wait_s("a", 101) == 0
