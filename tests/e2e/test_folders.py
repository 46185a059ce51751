"""Folders through the real CLI against a daemon process: add, watch, history, restore.

The scanning, versions and restore rules are tested against the service in
tests/folders/; this drives the user's flow once end to end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from tests.daemons import Daemon, started, wait_until

ODD = b"r\xe9sum\xe9.txt"  # Latin-1: not UTF-8


def _write(root: Path, name: bytes, data: bytes) -> None:
    with open(os.path.join(os.fsencode(root), name), "wb") as f:
        f.write(data)


def _read(root: Path, name: bytes) -> bytes:
    with open(os.path.join(os.fsencode(root), name), "rb") as f:
        return f.read()


def test_folder_backup_history_and_restore(
    make_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    [d] = started(make_daemon, "alpha")
    root = tmp_path / "Documents"
    (root / "letters").mkdir(parents=True)
    (root / "empty").mkdir()
    _write(root, b"letters/one.txt", b"first letter")
    _write(root, b"gone.txt", b"deleted later")
    _write(root, ODD, b"a name that is not UTF-8")
    os.symlink("letters/one.txt", root / "latest")
    (root / "scratch.tmp").write_bytes(b"never kept")
    (root / ".citizenignore").write_text("*.tmp\n")

    added = d.json("folder", "add", str(root), "--name", "Docs")
    assert added["state"] == "active" and (root / ".citizen-folder").exists()
    first = d.json("folder", "scan", "Docs")
    assert first["paused"] is False
    status = d.json("folder", "status", "Docs")
    assert (status["files"], status["dirs"], status["links"]) == (4, 2, 1)
    [v1] = d.json("folder", "history", "Docs", "letters/one.txt")
    then = str(Decimal(v1["at_ns"]) / 10**9)

    _write(root, b"letters/one.txt", b"first letter, edited")
    (root / "gone.txt").unlink()
    # no scan command: the daemon watches the folder (filesystem events) and records both
    wait_until(
        lambda: d.json("folder", "history", "Docs", "gone.txt")[-1]["deleted"], "the deletion"
    )
    wait_until(lambda: len(d.json("folder", "history", "Docs", "letters/one.txt")) == 2, "the edit")
    assert d.json("folder", "scan", "Docs")["read"] == 0  # nothing changed: nothing read
    versions = d.json("folder", "history", "Docs", "letters/one.txt")
    assert [v["size"] for v in versions] == [len(b"first letter"), len(b"first letter, edited")]
    assert d.json("folder", "history", "Docs", "gone.txt")[-1]["deleted"] is True
    assert [f["name"] for f in d.json("folder", "list")] == ["Docs"]

    old = tmp_path / "restored-old"
    done = d.json("folder", "restore", "Docs", "--to", str(old), "--at", then)
    assert done["files"] == 4
    assert _read(old, b"letters/one.txt") == b"first letter"
    assert _read(old, b"gone.txt") == b"deleted later"
    assert _read(old, ODD) == b"a name that is not UTF-8"
    assert os.readlink(old / "latest") == "letters/one.txt"
    assert (old / "empty").is_dir() and not (old / "scratch.tmp").exists()
    assert os.stat(old / "letters" / "one.txt").st_mtime_ns == v1["mtime_ns"]

    now = tmp_path / "restored-now"
    d.json("folder", "restore", "Docs", "--to", str(now), "letters")
    assert _read(now, b"letters/one.txt") == b"first letter, edited"
    assert not (now / "gone.txt").exists()
    refused = d.cli("--json", "folder", "restore", "Docs", "--to", str(now), check=False)
    assert refused.returncode == 1 and "folder_exists" in refused.stderr

    d.json("folder", "pause", "Docs")
    assert d.json("folder", "status", "Docs")["state"] == "paused"
    d.json("folder", "resume", "Docs")
    removed = d.json("folder", "remove", "Docs", "--forget")
    assert removed["forgotten"] is True and removed["objects_removed"] == 5

    # without --json, add waits for the first scan (a progress bar on stderr), then its status
    music = tmp_path / "Music"
    music.mkdir()
    (music / "song.ogg").write_bytes(b"la" * 50_000)
    shown = d.cli("folder", "add", str(music), json_out=False).stdout
    assert shown.startswith("Music  ") and "1 files" in shown and "last scan never" not in shown
