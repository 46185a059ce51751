"""The SDK reads the doctor's verdicts (`GET /v1/health`) into the API's own models."""

from __future__ import annotations

from collections.abc import Callable

import citizen_sdk
from citizen_sdk.types import Health

from tests.daemons import Daemon


def test_health_from_the_sdk(make_daemon: Callable[[str], Daemon]) -> None:
    d = make_daemon("home")
    d.init()
    d.start()
    with citizen_sdk.connect_sync(d.data_dir) as c:
        health = c.health()
    assert isinstance(health, Health)
    assert {v.check for v in health.checks} >= {"clock", "disk", "friends", "data", "config"}
    friends = [v for v in health.checks if v.check == "friends"]
    assert [(v.level, v.message) for v in friends] == [
        ("warn", "no friends yet: nothing is copied off this device")
    ]
    assert health.level in ("warn", "fail")
