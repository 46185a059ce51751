"""Friends are the household's: a friend paired or removed on one device follows on the others."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.daemons import Daemon, friend_named, pair, wait_until


def _household(make_daemon: Callable[[str], Daemon]) -> tuple[Daemon, Daemon]:
    """A household "home": its Pi, and a laptop enrolled with `device add` / `init --join`."""
    pi = make_daemon("home")
    pi.init()
    pi.start()
    laptop = make_daemon("laptop")
    laptop.json("init", "--join", pi.json("device", "add")["code"], "--device-name", "laptop")
    laptop.start()
    wait_until(lambda: _device_online(pi, "laptop"), "the laptop online on the pi")
    return pi, laptop


def _device_online(d: Daemon, name: str) -> bool:
    return any(x["name"] == name and x["online"] for x in d.json("device", "list"))


def _online(d: Daemon, name: str) -> Any:
    return (friend_named(d, name) or {}).get("online")


def _value(d: Daemon, doc: str) -> Any:
    result = d.cli("doc", "show", doc, check=False)
    return json.loads(result.stdout)["value"] if result.returncode == 0 else None


def test_friends_follow_the_household(make_daemon: Callable[[str], Daemon]) -> None:
    pi, laptop = _household(make_daemon)
    f = make_daemon("f")
    f.init()
    f.start()

    # paired on the pi after the laptop was enrolled: the laptop gets f and reaches it itself
    pair(pi, f)
    wait_until(lambda: _online(laptop, "f"), "the laptop to reach f's device")
    on_pi, on_laptop = friend_named(pi, "f"), friend_named(laptop, "f")
    assert on_laptop["household"] == on_pi["household"] and on_laptop["sas"] == on_pi["sas"]
    assert {d["device"] for d in on_laptop["devices"]} == {f.status()["device"]}

    # a doc f shares with the household reaches the laptop too
    doc = f.json("doc", "new", "Recipes")["doc_id"]
    f.json("doc", "set", doc, "soup", '"leek"')
    f.json("doc", "share", doc, "home", "--role", "reader")
    wait_until(lambda: _value(laptop, doc) == {"soup": "leek"}, "f's doc on the laptop")

    # removed on the laptop: gone on the pi, which disconnects f and refuses it from then on
    f_device = f.status()["device"]
    laptop.json("friends", "remove", "f")
    assert friend_named(laptop, "f") is None
    wait_until(lambda: friend_named(pi, "f") is None, "the pi to drop f")
    wait_until(lambda: f"{f_device}: friend removed" in pi.log(), "the pi to disconnect f")
    wait_until(lambda: not _online(f, "home"), "f to lose both devices")
    seen = len(pi.log())
    f.stop()
    f.start()  # f dials the household's devices afresh
    wait_until(lambda: "not a friend" in pi.log()[seen:], "the pi to refuse f's reconnection")
    assert friend_named(pi, "f") is None and friend_named(laptop, "f") is None
    assert not _online(f, "home")

    # paired on the pi while the laptop is off: the laptop gets it when it is back
    laptop.stop()
    g = make_daemon("g")
    g.init()
    g.start()
    pair(pi, g)
    laptop.start()
    wait_until(lambda: _online(laptop, "g"), "the laptop to reach g after its restart")
    assert friend_named(laptop, "f") is None


def test_a_removal_outlives_an_older_copy_and_a_new_pairing_wins(
    make_daemon: Callable[[str], Daemon],
) -> None:
    pi, laptop = _household(make_daemon)
    f = make_daemon("f")
    f.init()
    f.start()
    pair(pi, f)
    wait_until(lambda: _online(laptop, "f"), "the laptop to reach f")

    # the pi is off (holding its older copy of f) while the laptop removes f
    pi.stop()
    laptop.json("friends", "remove", "f")
    pi.start()
    wait_until(lambda: friend_named(pi, "f") is None, "the pi's older copy to lose")
    # a later change still flows, and f has not come back on either device
    g = make_daemon("g")
    g.init()
    g.start()
    pair(pi, g)
    wait_until(lambda: _online(laptop, "g"), "the laptop to reach g")
    assert friend_named(pi, "f") is None and friend_named(laptop, "f") is None

    # pairing again after the removal wins over the tombstone, on both devices
    f.json("friends", "remove", "home")
    pair(f, laptop)
    wait_until(lambda: _online(pi, "f"), "the pi to reach f again")
    wait_until(lambda: _online(laptop, "f"), "the laptop to reach f again")
