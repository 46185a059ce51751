"""Pairing and removing a friend through real daemons and the CLI, the way a user does it.

The service-level behaviour (an invite works once and expires, strangers learn
nothing, a moved friend is found again, a removed friend is refused) is tested
on the in-process grid in tests/friends/test_friends_grid.py.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.daemons import Daemon, friend_named, started, wait_until


def test_pair_and_remove_through_the_cli(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = started(make_daemon, "alpha", "beta")
    code = a.json("invite", "--expires", "10m")["code"]
    accepted = b.json("accept", code)
    assert accepted["name"] == "alpha"
    assert accepted["household"] == a.status()["household"]
    sas = accepted["sas"]
    assert len(sas) == 4

    on_a = wait_until(
        lambda: (friend_named(a, "beta") or {}).get("online") and friend_named(a, "beta"),
        "alpha to see beta online",
    )
    assert on_a["sas"] == sas
    assert on_a["household"] == b.status()["household"]
    assert friend_named(b, "alpha")["sas"] == sas

    # a used or garbled code: a clear error on stderr, no traceback, nothing stored
    replay = b.cli("accept", code, check=False)
    assert replay.returncode == 1 and "already used" in replay.stderr
    assert "Traceback" not in replay.stderr
    garbled = b.cli("accept", code[:-3] + ("AAA" if code[-3:] != "AAA" else "BBB"), check=False)
    assert garbled.returncode == 1 and "garbled" in garbled.stderr
    assert "Traceback" not in garbled.stderr
    assert [f["name"] for f in a.json("friends")] == ["beta"]
    assert [f["name"] for f in b.json("friends")] == ["alpha"]

    # removing a friend disconnects it
    removed = a.json("friends", "remove", "beta")
    assert removed["removed"] is True
    assert friend_named(a, "beta") is None
    wait_until(lambda: not friend_named(b, "alpha")["online"], "beta to see alpha offline")
