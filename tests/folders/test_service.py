"""The folders service on a real directory and SQLite, with in-memory objects.

Scan → versions; an unchanged file is not read again (reads counted through
the opener); a file that changes while read is retried, never stored torn;
a missing marker pauses the folder and records nothing deleted; names that
are not UTF-8 round-trip; restore --at an older time gives the older bytes.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import pytest

from citizen.errors import FolderExistsError, FolderPathError, NotFoundError, UsageError
from citizen.folders.index import DocFolderIndex
from citizen.folders.records import MARKER, Version
from citizen.folders.scan import open_file
from citizen.folders.service import FolderService
from citizen.ids import HouseholdId
from citizen.store.db import Database
from citizen.store.docs import DocCache, DocStore
from citizen.store.folders import FolderStore


class FakeObjects:
    """Objects in a dict: put reads the stream to the end, like the objects service."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.puts = 0
        self.during_put: Callable[[], Awaitable[None]] | None = None

    async def put(
        self, chunks: AsyncIterator[bytes], name: str, size_hint: int | None
    ) -> dict[str, object]:
        body = b"".join([c async for c in chunks])
        if self.during_put is not None:
            await self.during_put()
        self.puts += 1
        object_id = f"obj{self.puts}"
        self.data[object_id] = body
        return {"object_id": object_id, "name": name, "size": len(body)}

    async def open_read(self, object_id: str) -> tuple[object, AsyncIterator[bytes]]:
        if object_id not in self.data:
            raise NotFoundError("no such object")
        body = self.data[object_id]

        async def chunks() -> AsyncIterator[bytes]:
            yield body

        return None, chunks()

    async def remove(self, object_id: str) -> dict[str, object]:
        del self.data[object_id]
        return {"object_id": object_id, "removed": True}

    async def list(self) -> builtins.list[dict[str, object]]:
        return [{"object_id": o, "protection": "local only"} for o in self.data]


class Reads:
    """An opener that counts reads per path and may run a hook on open."""

    def __init__(self) -> None:
        self.count: dict[bytes, int] = {}
        self.on_open: dict[bytes, object] = {}

    def __call__(self, path: bytes) -> BinaryIO:
        name = os.path.basename(path)
        self.count[name] = self.count.get(name, 0) + 1
        hook = self.on_open.get(name)
        if callable(hook):
            hook()
        return open_file(path)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    d = await Database.open(tmp_path / "citizen.db")
    yield d
    d.close()


def _tree(root: Path) -> Path:
    root.mkdir()
    (root / "a.txt").write_bytes(b"alpha")
    (root / "sub").mkdir()
    (root / "sub" / "b.bin").write_bytes(b"beta" * 1000)
    (root / "empty").mkdir()
    (root / "zero").write_bytes(b"")
    os.symlink("a.txt", root / "link")
    (root / "junk.tmp").write_bytes(b"ignored")
    (root / ".citizenignore").write_text("*.tmp\n")
    os.utime(root / "a.txt", ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    return root


def _service(db: Database, reads: Reads | None = None) -> tuple[FolderService, FakeObjects]:
    objects = FakeObjects()
    docs = DocStore(db)
    index = DocFolderIndex(docs, DocCache(docs), HouseholdId("household"))
    svc = FolderService(
        FolderStore(db), index, objects, "dev1", opener=reads or open_file, watch=False
    )
    return svc, objects


async def test_scan_records_versions_and_restore_gives_the_tree(
    db: Database, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "docs")
    svc, _ = _service(db)
    added = await svc.add(str(root))
    assert added["name"] == "docs" and (root / MARKER.decode()).exists()
    report = await svc.scan("docs")
    assert report["changed"] == 7  # a.txt sub sub/b.bin empty zero link .citizenignore
    info = await svc.info("docs")
    assert (info["files"], info["dirs"], info["links"]) == (4, 2, 1)
    history = await svc.history("docs", b"link")
    assert history[0]["kind"] == "link" and history[0]["target"] == "a.txt"
    with pytest.raises(NotFoundError):
        await svc.history("docs", b"junk.tmp")  # ignored: never in the index

    out = tmp_path / "out"
    done = await svc.restore("docs", to=str(out))
    assert done["files"] == 4
    assert (out / "a.txt").read_bytes() == b"alpha"
    assert (out / "sub" / "b.bin").read_bytes() == b"beta" * 1000
    assert (out / "empty").is_dir() and (out / "zero").read_bytes() == b""
    assert os.readlink(out / "link") == "a.txt"
    assert os.stat(out / "a.txt").st_mtime_ns == 1_600_000_000 * 10**9
    assert not (out / "junk.tmp").exists()
    with pytest.raises(FolderExistsError):
        await svc.restore("docs", to=str(out))  # refuses to overwrite
    await svc.restore("docs", to=str(out), force=True)


async def test_an_unchanged_file_is_never_read_again(db: Database, tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    reads = Reads()
    svc, objects = _service(db, reads)
    await svc.add(str(root))
    await svc.scan("docs")
    before = dict(reads.count)
    puts = objects.puts
    again = await svc.scan("docs")
    assert again["read"] == 0 and again["changed"] == 0 and reads.count == before
    (root / "a.txt").write_bytes(b"alpha 2")
    third = await svc.scan("docs")
    assert third["read"] == 1 and third["changed"] == 1
    assert reads.count[b"b.bin"] == before[b"b.bin"]
    assert objects.puts == puts + 1


async def test_identical_content_is_stored_once(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "one").write_bytes(b"same bytes")
    (root / "two").write_bytes(b"same bytes")
    svc, objects = _service(db)
    await svc.add(str(root))
    await svc.scan("d")
    assert objects.puts == 1
    os.rename(root / "one", root / "three")  # a rename stores nothing new either
    await svc.scan("d")
    assert objects.puts == 1
    assert (await svc.history("d", b"one"))[-1]["deleted"] is True


async def test_a_file_changing_while_read_is_read_again(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    target = root / "busy.log"
    target.write_bytes(b"first")
    reads = Reads()
    writes = iter([b"second, longer", b"third, longer still"])

    def disturb() -> None:  # the file changes after its stat, while it is being read
        chunk = next(writes, None)
        if chunk is not None:
            target.write_bytes(chunk)

    reads.on_open[b"busy.log"] = disturb
    svc, objects = _service(db, reads)
    await svc.add(str(root))
    await svc.scan("d")
    [version] = await svc.history("d", b"busy.log")
    assert version["size"] == len(b"third, longer still")
    assert list(objects.data.values()) == [b"third, longer still"]
    assert reads.count[b"busy.log"] >= 3


async def test_a_vanished_marker_pauses_and_records_no_deletion(
    db: Database, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "docs")
    svc, _ = _service(db)
    await svc.add(str(root))
    await svc.scan("docs")
    versions = (await svc.info("docs"))["versions"]
    for p in root.iterdir():  # an unmounted disk looks like an empty directory
        if p.is_dir() and not p.is_symlink():
            for q in sorted(p.rglob("*"), reverse=True):
                q.unlink() if not q.is_dir() else q.rmdir()
            p.rmdir()
        else:
            p.unlink()
    report = await svc.scan("docs")
    assert report["paused"] is True and "marker" in str(report["error"])
    info = await svc.info("docs")
    assert info["state"] == "paused" and info["versions"] == versions and info["deleted"] == 0
    with pytest.raises(UsageError):
        await svc.scan("docs")
    with pytest.raises(UsageError):
        await svc.resume("docs")  # still no marker


async def test_names_that_are_not_utf8_round_trip(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    name = b"caf\xe9-\xff.txt"  # Latin-1, not UTF-8
    with open(os.path.join(os.fsencode(root), name), "wb") as f:
        f.write(b"bytes in a strange name")
    svc, _ = _service(db)
    await svc.add(str(root))
    await svc.scan("d")
    [v] = await svc.history("d", name)
    assert bytes.fromhex(str(v["path_hex"])) == name
    out = tmp_path / "out"
    await svc.restore("d", to=str(out))
    with open(os.path.join(os.fsencode(out), name), "rb") as f:
        assert f.read() == b"bytes in a strange name"


async def test_restore_at_an_older_time_gives_the_older_bytes(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "note").write_bytes(b"version one")
    (root / "other").write_bytes(b"stays")
    svc, _ = _service(db)
    await svc.add(str(root))
    await svc.scan("d")
    first_at = (await svc.history("d", b"note"))[0]["at_ns"]
    assert isinstance(first_at, int)
    (root / "note").write_bytes(b"version two!")
    (root / "other").unlink()
    await svc.scan("d")
    at = str(Decimal(first_at + 1) / 10**9)
    old = tmp_path / "old"
    await svc.restore("d", to=str(old), at=at)
    assert (old / "note").read_bytes() == b"version one"
    assert (old / "other").read_bytes() == b"stays"  # deleted later, restorable
    new = tmp_path / "new"
    await svc.restore("d", to=str(new), paths=[b"note"])
    assert (new / "note").read_bytes() == b"version two!" and not (new / "other").exists()


async def test_pause_resume_remove_and_forget(db: Database, tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    svc, objects = _service(db)
    await svc.add(str(root), name="Docs")
    await svc.scan("Docs")
    assert (await svc.pause("Docs"))["state"] == "paused"
    assert (await svc.resume("Docs"))["state"] == "active"
    with pytest.raises(UsageError):
        await svc.add(str(root / "sub"), name="Inner")  # inside another folder
    kept = await svc.remove("Docs")
    assert kept["forgotten"] is False and objects.data  # friends keep it
    assert (await svc.info("Docs"))["state"] == "removed"
    assert (await svc.restore("Docs", to=str(tmp_path / "r")))["files"] == 4
    gone = await svc.remove("Docs", forget=True)
    assert gone["objects_removed"] == 3 and not objects.data
    with pytest.raises(NotFoundError):
        await svc.info("Docs")


async def test_status_shows_a_scan_in_progress(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "one").write_bytes(b"1" * 1000)
    (root / "two").write_bytes(b"2" * 3000)
    svc, objects = _service(db)
    await svc.add(str(root))
    assert (await svc.info("d"))["scan"] is None
    seen: list[object] = []

    async def look() -> None:
        seen.append((await svc.info("d"))["scan"])

    objects.during_put = look
    await svc.scan("d")
    assert seen == [
        {"stage": "storing", "found": 2, "read": 2, "files": 2, "bytes": 4000, "stored_bytes": n}
        for n in (1000, 4000)
    ]
    assert (await svc.info("d"))["scan"] is None


async def test_content_of_a_removed_object_is_stored_again(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "a").write_bytes(b"same")
    svc, objects = _service(db)
    await svc.add(str(root))
    await svc.scan("d")
    [first] = list(objects.data)
    await objects.remove(first)  # `citizen rm` of the object behind a folder's file
    (root / "b").write_bytes(b"same")
    await svc.scan("d")
    [v] = await svc.history("d", b"b")
    assert v["object_id"] != first and objects.data[str(v["object_id"])] == b"same"


async def test_restore_never_writes_outside_the_target_whatever_the_index_says(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "ok").write_bytes(b"fine")
    svc, _ = _service(db)
    await svc.add(str(root))
    await svc.scan("d")
    folder = await svc.store.folder("d")
    assert folder is not None
    # another device (or a hostile doc) recorded a path that climbs out
    evil = Version(b"../escaped", "file", None, 0, 1, 0o644, None, None, False, "dev2", 1)
    await svc.index.record(folder, "dev2", [evil])
    out = tmp_path / "out"
    with pytest.raises(FolderPathError):
        await svc.restore("d", to=str(out))
    assert not (tmp_path / "escaped").exists() and not (out / "ok").exists()  # nothing written


async def test_restore_does_not_write_through_a_symlink_in_the_target(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "d"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_bytes(b"inside")
    svc, _ = _service(db)
    await svc.add(str(root))
    await svc.scan("d")
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "sub")  # planted: sub/ points outside the target
    with pytest.raises((FolderPathError, FolderExistsError)):
        await svc.restore("d", to=str(out), force=True)
    assert list(elsewhere.iterdir()) == []
