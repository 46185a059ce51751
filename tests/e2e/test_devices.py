"""A household of two devices: enroll a laptop, sync docs between them, revoke it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.daemons import Daemon, friend_named, pair, wait_until


def _device(d: Daemon, name: str) -> Any:
    for dev in d.json("device", "list"):
        if dev["name"] == name:
            return dev
    return None


def _value(d: Daemon, doc: str) -> Any:
    result = d.cli("doc", "show", doc, check=False)
    import json

    return json.loads(result.stdout)["value"] if result.returncode == 0 else None


def test_enroll_sync_and_revoke(make_daemon: Callable[[str], Daemon], tmp_path: Path) -> None:
    pi = make_daemon("pi")
    pi.init()
    pi.configure(k=1, n=2, happiness=2)  # two friends hold 1-of-2 shares
    pi.start()
    friend = make_daemon("friend")
    friend.init()
    friend.start()
    other = make_daemon("other")
    other.init()
    other.start()
    pair(pi, friend)
    pair(pi, other)
    wait_until(lambda: (friend_named(pi, "friend") or {}).get("online"), "friend online")
    wait_until(lambda: (friend_named(pi, "other") or {}).get("online"), "other online")

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

    # a doc made and edited on the laptop appears on the pi, and the other way round
    doc = laptop.json("doc", "new", "Holidays")["doc_id"]
    laptop.json("doc", "set", doc, "where", '"sea"')
    wait_until(lambda: _value(pi, doc) == {"where": "sea"}, "laptop's doc on the pi")
    pi.json("doc", "set", doc, "when", '"july"')
    wait_until(lambda: _value(laptop, doc) == {"where": "sea", "when": "july"}, "pi's edit")

    # a file put on the pi is listed on the laptop and readable there (from friends)
    data = os.urandom(300_000)
    (tmp_path / "photo.jpg").write_bytes(data)
    object_id = pi.json("put", str(tmp_path / "photo.jpg"))["object_id"]
    wait_until(
        lambda: object_id in {o["object_id"] for o in laptop.json("ls")}, "the laptop lists it"
    )
    wait_until(lambda: (friend_named(laptop, "other") or {}).get("online"), "laptop to other")
    laptop.json("get", object_id, "-o", str(tmp_path / "copy.jpg"))
    assert (tmp_path / "copy.jpg").read_bytes() == data

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
