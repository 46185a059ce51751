"""Disaster recovery through the CLI: a household loses its device and gets everything back.

`key backup --sheet`, `init --recover --sheet`, `run` and `restore`, with one
friend holding a full copy; and without the sheet, the phrase and one
friend's fresh invite (`init --recover`, `accept`). Three friends, one of them holding an older
backup, and twenty objects spread 2-of-3 are tested on the in-process grid in
tests/backup/test_backup_grid.py.
"""

from __future__ import annotations

import json
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


def test_recover_from_a_friend_with_the_recovery_sheet(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    h = make_daemon("home")
    h.init()
    h.configure(k=1, n=1, happiness=1)  # the friend holds a full encrypted copy
    h.start()
    f = make_daemon("f")
    f.init()
    f.start(port=_free_port())
    pair(h, f)
    household, friend_household = h.status()["household"], f.status()["household"]
    wait_until(lambda: (friend_named(h, "f") or {}).get("online"), "f online")

    doc = h.json("doc", "new", "Notes")["doc_id"]
    h.json("doc", "set", doc, "items", "[]")
    h.json("doc", "append", doc, "items", '"first"')
    h.json("doc", "share", doc, "f", "--role", "writer")
    files = {}
    for i, size in enumerate((10, 300_000)):
        path = tmp_path / f"file{i}.bin"
        path.write_bytes(os.urandom(size))
        files[h.json("put", str(path))["object_id"]] = path.read_bytes()
    expected = h.json("doc", "show", doc)
    latest = h.json("backup", "--now")["version"]

    def backed_up() -> Any:
        status = h.json("backup")
        return status["version"] == latest and any(
            x["household"] == friend_household and x["current"] for x in status["friends"]
        )

    wait_until(backed_up, "the backup to reach the friend", 120)
    sheet = tmp_path / "sheet.json"
    h.json("key", "backup", "--sheet", str(sheet))

    # disaster: the device and its data dir are gone
    h.kill()
    shutil.rmtree(h.data_dir)

    new = make_daemon("new-home")
    created = new.json("init", "--recover", "--sheet", str(sheet))
    assert created["household"] == household and created["recovery_peers"] == 1
    new.start()
    wait_until(lambda: not new.status()["recovering"], "recovery to finish", 120)
    assert new.status()["household"] == household
    assert {x["household"] for x in new.json("friends")} == {friend_household}
    after = new.json("doc", "show", doc)
    assert after["value"] == expected["value"] and after["heads"] == expected["heads"]
    # every object comes back: one fetched on first use, then all with `restore`
    assert {o["object_id"] for o in new.json("ls")} == set(files)
    lazy = sorted(files)[0]
    new.json("get", lazy, "-o", str(tmp_path / "lazy.out"))
    assert (tmp_path / "lazy.out").read_bytes() == files[lazy]
    restored = new.json("restore")
    assert set(restored["restored"]) == set(files) and not restored["failed"]
    assert all(o["local"] for o in new.json("ls"))
    # the shared doc keeps replicating with the friend after recovery
    new.json("doc", "set", doc, "after_recovery", "true")
    wait_until(
        lambda: (f.json("doc", "show", doc)["value"] or {}).get("after_recovery") is True,
        "f to get a change made after recovery",
    )


def test_recover_with_only_the_phrase_and_one_friends_invite(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    """No recovery sheet: `init --recover` with the 24 words, then `accept` f's fresh invite.
    f welcomes the household back and hands over its backup, which brings back g too."""
    h = make_daemon("home")
    h.init()
    h.configure(k=1, n=1, happiness=1)
    h.start()
    f, g = make_daemon("f"), make_daemon("g")
    for friend in (f, g):
        friend.init()
        friend.start()
        pair(h, friend)
    household = h.status()["household"]
    friends = {f.status()["household"], g.status()["household"]}
    wait_until(lambda: all((friend_named(h, n) or {}).get("online") for n in "fg"), "f, g online")
    doc = h.json("doc", "new", "Notes")["doc_id"]
    h.json("doc", "set", doc, "items", '["first"]')
    h.json("doc", "share", doc, "g", "--role", "writer")
    path = tmp_path / "photo.bin"
    path.write_bytes(os.urandom(200_000))
    object_id = h.json("put", str(path))["object_id"]
    latest = h.json("backup", "--now")["version"]

    def backed_up() -> Any:
        status = h.json("backup")
        return status["version"] == latest and all(x["current"] for x in status["friends"])

    wait_until(backed_up, "the backup to reach f and g", 120)
    sheet = tmp_path / "sheet.json"
    h.json("key", "backup", "--sheet", str(sheet))
    phrase = json.loads(sheet.read_text())["phrase"]

    # disaster: every device and the recovery sheet are gone; the 24 words are left
    h.kill()
    shutil.rmtree(h.data_dir)
    sheet.unlink()

    new = make_daemon("new-home")
    assert new.json("init", "--recover", input=phrase + "\n")["household"] == household
    new.start()
    accepted = new.cli("accept", f.json("invite")["code"], json_out=False).stdout
    assert "welcomed it back" in accepted and "shows different words" in accepted
    wait_until(lambda: new.json("backup")["recovered_version"] == latest, "recovery from f", 120)
    assert {x["household"] for x in new.json("friends")} == friends
    assert new.json("doc", "show", doc)["value"] == {"items": ["first"]}
    wait_until(lambda: (friend_named(new, "g") or {}).get("online"), "g online at new-home")
    new.json("get", object_id, "-o", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == path.read_bytes()
    # verify names the holder by its friend's name, not its household ID
    verified = new.cli("verify", object_id, json_out=False, check=False).stdout
    assert any(line.split()[:1] in (["f"], ["g"]) for line in verified.splitlines()[1:])
    assert not any(household in verified for household in friends), verified
