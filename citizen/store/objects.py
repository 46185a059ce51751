"""The owner's side of objects on this disk: local plaintext copies and the index doc's ID.

Layout: ``<root>/objects/<object ID>`` is the plaintext of an object this
household put (its local copy), ``<root>/objects/tmp/`` holds puts and gets
in progress. A local copy appears (rename after fsync) before its manifest is
recorded, so a crash leaves at most a temp file or a copy no manifest names;
`cleanup` removes both at start-up. The ID of the household index doc (where
manifests live) is kept in the ``meta`` table; whether a friend holds a given
share for a given owner is asked here too, so that every SQL statement stays
in `citizen.store`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import trio

from citizen.ids import DocId, HouseholdId, ObjectId, ShareId
from citizen.store.db import Database

log = logging.getLogger(__name__)

INDEX_DOC_META = "objects.index_doc"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalObjects:
    """Local plaintext copies of this household's objects, and the objects metadata rows."""

    def __init__(self, root_dir: Path, db: Database) -> None:
        self.dir = root_dir / "objects"
        self.tmp = self.dir / "tmp"
        self._db = db

    # -- files --------------------------------------------------------------------

    def path_of(self, object_id: ObjectId) -> Path:
        return self.dir / object_id

    def has(self, object_id: ObjectId) -> bool:
        return self.path_of(object_id).is_file()

    def open_temp(self, object_id: ObjectId) -> tuple[Path, BinaryIO]:
        """A new temp file for an object being put; `commit` or `discard` it."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        path = self.tmp / f"{object_id}.{os.urandom(4).hex()}.put"
        return path, open(path, "wb")

    def commit(self, temp: Path, f: BinaryIO, object_id: ObjectId) -> None:
        """fsync the temp file and move it to the object's local copy (blocking)."""
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(temp, self.path_of(object_id))
        _fsync_dir(self.dir)

    @staticmethod
    def discard(temp: Path, f: BinaryIO) -> None:
        f.close()
        temp.unlink(missing_ok=True)

    def remove(self, object_id: ObjectId) -> bool:
        """Delete the local copy (blocking); False if there was none."""
        path = self.path_of(object_id)
        if not path.exists():
            return False
        path.unlink()
        _fsync_dir(self.dir)
        return True

    def read_segment(self, object_id: ObjectId, index: int, segment_size: int) -> bytes:
        """Segment `index` of the local copy (blocking)."""
        with open(self.path_of(object_id), "rb") as f:
            f.seek(index * segment_size)
            return f.read(segment_size)

    def local_size(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*") if p.is_file())

    def cleanup(self, known: Iterable[str]) -> int:
        """Remove temp files and local copies no manifest names (blocking).

        Returns:
            how many files were removed.
        """
        self.tmp.mkdir(parents=True, exist_ok=True)
        keep = set(known)
        removed = 0
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        for f in self.dir.iterdir():
            if f.is_file() and f.name not in keep:
                f.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d leftover object files from %s", removed, self.dir)
        return removed

    async def cleanup_async(self, known: Iterable[str]) -> int:
        return await trio.to_thread.run_sync(self.cleanup, list(known))

    # -- rows ---------------------------------------------------------------------

    async def index_doc(self) -> DocId | None:
        """The household index doc's ID, once it was created or found."""
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT value FROM meta WHERE key = ?", (INDEX_DOC_META,)
            ).fetchone()
        )
        return None if row is None else DocId(bytes(row[0]).decode())

    async def set_index_doc(self, doc_id: DocId) -> None:
        await self._db.transaction(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (INDEX_DOC_META, str(doc_id).encode()),
            )
        )

    async def holds_for(self, owner: HouseholdId, share_ids: Iterable[ShareId]) -> set[ShareId]:
        """Which of `share_ids` this device holds for `owner` (a friend asking for shares)."""
        wanted = list(dict.fromkeys(share_ids))

        def q(c: sqlite3.Connection) -> set[ShareId]:
            out: set[ShareId] = set()
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                rows = c.execute(
                    "SELECT share_id FROM held_shares WHERE owner = ? AND share_id IN"
                    f" ({','.join('?' * len(part))})",
                    (owner, *part),
                ).fetchall()
                out.update(ShareId(r[0]) for r in rows)
            return out

        return await self._db.run(q)
