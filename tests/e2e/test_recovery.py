"""Disaster recovery: a household loses its device and gets everything back from friends."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.daemons import Daemon, friend_named, pair, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _backup_everywhere(h: Daemon, households: set[str], version: int | None = None) -> int:
    def done() -> Any:
        status = h.json("backup")
        current = {f["household"] for f in status["friends"] if f["current"]}
        newer = version is None or (status["version"] or 0) > version
        if status["version"] and households <= current and newer:
            return status["version"]
        return None

    return int(wait_until(done, "the backup to reach the friends", 120))


def test_recover_from_friends_with_only_the_phrase(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    h = make_daemon("home")
    h.init()
    # three friends hold 2-of-3 shares of each object
    h.configure(k=2, n=3, happiness=3)
    h.start()
    ports = {}
    friends = []
    for name in ("f1", "f2", "f3"):
        f = make_daemon(name)
        f.init()
        ports[name] = _free_port()
        f.start(port=ports[name])
        pair(h, f)
        friends.append(f)
    f1 = friends[0]
    households = {f.status()["household"] for f in friends}
    for name in ("f1", "f2", "f3"):
        wait_until(lambda n=name: (friend_named(h, n) or {}).get("online"), f"{name} online")

    docs = [h.json("doc", "new", f"doc {i}")["doc_id"] for i in range(3)]
    for i, doc in enumerate(docs):
        h.json("doc", "set", doc, "n", str(i))
        h.json("doc", "set", doc, "items", "[]")
        h.json("doc", "append", doc, "items", '"first"')
    h.json("doc", "share", docs[0], "f1", "--role", "writer")
    files = {}
    sizes = [10, 200_000, 1_500_000] + [1000 * (i + 1) for i in range(17)]
    for i, size in enumerate(sizes):  # 20 files
        path = tmp_path / f"file{i}.bin"
        path.write_bytes(os.urandom(size))
        files[h.json("put", str(path))["object_id"]] = path.read_bytes()
    first = _backup_everywhere(h, households)

    # f1 goes away and keeps the older backup; the others get a newer one
    f1_household = f1.status()["household"]
    f1.stop()
    h.json("doc", "append", docs[1], "items", '"after f1 left"')
    h.json("doc", "set", docs[2], "late", "true")
    expected = {doc: h.json("doc", "show", doc) for doc in docs}
    # `backup --now` seals everything committed so far; wait until f2 and f3 hold it
    latest = h.json("backup", "--now")["version"]
    assert latest > first
    _backup_everywhere(h, households - {f1_household}, latest - 1)
    sheet = tmp_path / "sheet.json"
    h.json("key", "backup", "--sheet", str(sheet))
    household = h.status()["household"]

    # disaster: the device and its data dir are gone
    h.kill()
    shutil.rmtree(h.data_dir)
    f1.start(port=ports["f1"])

    new = make_daemon("new-home")
    created = new.json("init", "--recover", "--sheet", str(sheet))
    assert created["household"] == household and created["recovery_peers"] == 3
    new.start()
    wait_until(lambda: not new.status()["recovering"], "recovery to finish", 120)
    assert new.status()["household"] == household
    assert {f["household"] for f in new.json("friends")} == households
    for doc, before in expected.items():
        after = new.json("doc", "show", doc)
        assert after["value"] == before["value"]
        assert after["heads"] == before["heads"]
    # every object comes back: one fetched on first use, then all with `restore`
    listed = {o["object_id"] for o in new.json("ls")}
    assert listed == set(files)
    lazy = sorted(files)[0]
    out = tmp_path / "lazy.out"
    new.json("get", lazy, "-o", str(out))
    assert out.read_bytes() == files[lazy]
    before = new.json("ls")
    restored = new.json("restore")
    assert set(restored["restored"]) == set(files) and not restored["failed"], before
    for object_id, data in files.items():
        got = tmp_path / f"{object_id}.out"
        new.json("get", object_id, "-o", str(got))
        assert got.read_bytes() == data
    assert all(o["local"] for o in new.json("ls"))
    # the shared doc keeps replicating with the friend after recovery
    new.json("doc", "set", docs[0], "after_recovery", "true")
    wait_until(
        lambda: (f1.json("doc", "show", docs[0])["value"] or {}).get("after_recovery") is True,
        "f1 to get a change made after recovery",
    )
