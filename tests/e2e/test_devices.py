"""A household of two devices through the CLI: enroll a laptop with `device add`, revoke it.

Docs and objects between the household's devices, its shared friend list and
the service-level half of this flow are tested on the in-process grid in
tests/household/test_household_grid.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.daemons import Daemon, friend_named, pair, started, wait_until


def _device(d: Daemon, name: str) -> Any:
    for dev in d.json("device", "list"):
        if dev["name"] == name:
            return dev
    return None


def test_enroll_and_revoke_through_the_cli(make_daemon: Callable[[str], Daemon]) -> None:
    pi, friend = started(make_daemon, "pi", "friend")
    pair(pi, friend)
    wait_until(lambda: (friend_named(pi, "friend") or {}).get("online"), "friend online")

    code = pi.json("device", "add")["code"]
    laptop = make_daemon("laptop")
    joined = laptop.json("init", "--join", code, "--device-name", "laptop")
    assert joined["household"] == pi.status()["household"]
    replay = make_daemon("thief").cli("init", "--join", code, check=False)
    assert replay.returncode == 1 and "already used" in replay.stderr
    laptop.start()

    devices = pi.json("device", "list")
    assert [d["holds_household_key"] for d in devices if d["this_device"]] == [True]
    wait_until(lambda: (_device(pi, "laptop") or {}).get("online"), "laptop online on the pi")
    assert not _device(laptop, "laptop")["holds_household_key"]
    # the laptop knows the household's friends and the friend accepts it from its certificate
    wait_until(lambda: (friend_named(laptop, "friend") or {}).get("online"), "laptop to friend")

    # a device without the household key says so when asked to do what needs it
    refused = laptop.cli("device", "add", check=False)
    assert refused.returncode == 1 and "household key" in refused.stderr

    # revoke the laptop: the pi and the friend refuse it from then on
    pi.json("device", "remove", "laptop")
    assert _device(pi, "laptop") is None
    wait_until(lambda: "revoked" in friend.log(), "the friend to learn of the revocation")
    wait_until(lambda: not (friend_named(laptop, "friend") or {}).get("online"), "friend drops it")
    laptop.stop()
    seen = len(pi.log())
    laptop.start()
    wait_until(lambda: "This device was revoked" in pi.log()[seen:], "the pi to refuse the laptop")
    assert not (friend_named(laptop, "friend") or {}).get("online")
    assert _device(pi, "laptop") is None
