"""The clock check for real: hellos carry the sender's clock, and a friend 10 min off is seen."""

from __future__ import annotations

import time
from pathlib import Path

from citizen import cbor
from citizen.api import routes_health
from citizen.friends import pair_codec
from citizen.testing.grid import open_grid


def test_hello_carries_the_time_and_an_old_hello_without_it_still_decodes() -> None:
    hello = pair_codec.Hello(b"cert", "Home", ("/ip4/1.2.3.4/tcp/4747",), sent_ms=1_700_000_000_123)
    assert pair_codec.decode(pair_codec.encode(hello)) == hello
    old = cbor.dumps({"t": "hello", "cert": b"cert", "name": "Home", "addrs": [], "revoked": []})
    assert pair_codec.decode(old) == pair_codec.Hello(b"cert", "Home", ())
    assert pair_codec.decode(old).sent_ms is None


async def test_a_friend_whose_clock_is_ten_minutes_ahead_fails_the_clock_check(
    tmp_path: Path,
) -> None:
    async with open_grid(2, tmp_path) as grid:
        alpha, beta = grid.nodes
        await grid.wait_until(
            lambda: beta.device in alpha.friends.clock_offsets, "alpha to hear beta's clock"
        )
        agreed = await routes_health.health(alpha.node.api)
        assert next((c.level, c.message) for c in agreed.checks if c.check == "clock") == (
            "ok",
            "within 30 s of friends' clocks",
        )

        beta.friends.wall_clock = lambda: time.time() + 600
        await beta.friends.rehello_all()
        await grid.wait_until(
            lambda: alpha.friends.clock_offsets[beta.device] > 500, "beta's new hello at alpha"
        )
        off = await routes_health.health(alpha.node.api)
        clock = [c for c in off.checks if c.check == "clock"]
        assert clock[0].level == "fail", clock
        assert "this clock is 600 s behind the median of 1 friend(s)" in clock[0].message
        assert off.level == "fail"
