"""`citizen get`: writes to the object's name by default and never overwrites without --force."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.daemons import Daemon


def test_get_writes_the_objects_name_and_keeps_existing_files(
    make_daemon: Callable[[str], Daemon], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make_daemon("alpha")
    d.init()
    d.start()
    source = tmp_path / "in" / "holiday photo.jpg"
    source.parent.mkdir()
    source.write_bytes(os.urandom(5000))
    object_id = d.json("put", str(source))["object_id"]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    got = d.json("get", "holiday photo.jpg")  # by its name; no -o: written under that name
    assert Path(got["path"]).name == "holiday photo.jpg"
    assert (work / "holiday photo.jpg").read_bytes() == source.read_bytes()

    (work / "holiday photo.jpg").write_bytes(b"mine")
    refused = d.cli("get", object_id, check=False)
    assert refused.returncode != 0 and "--force" in refused.stdout + refused.stderr
    kept = work / "kept.bin"
    kept.write_bytes(b"keep me")
    assert d.cli("get", object_id, "-o", str(kept), check=False).returncode != 0
    assert (work / "holiday photo.jpg").read_bytes() == b"mine"
    assert kept.read_bytes() == b"keep me"
    assert not [p for p in work.iterdir() if p.name.endswith(".part")]

    d.json("get", object_id[:6], "-o", str(kept), "--force")  # a unique ID prefix
    assert kept.read_bytes() == source.read_bytes()
