"""This device's folders in SQLite: their config and state, the scan cache, content → object.

Schema: ``0015_folders.sql``. Paths are BLOBs (bytes relative to the folder
root). The scan cache maps (path, size, mtime_ns, inode) to the content's
keyed hash, so a scan never reads an unchanged file again; `folder_contents`
maps a keyed hash to the one object that holds that content. The versions
are in the folder index doc (`citizen.folders.index`).
"""

from __future__ import annotations

import sqlite3

from citizen.store.db import Database
from citizen.store.folder_records import Folder, FolderMode, FolderState

_FOLDER_COLS = "name, root, mode, state, error, added_at, last_scan, marker"
#: (size, mtime_ns, inode, keyed hash) of a file as last read
CacheRow = tuple[int, int, int, bytes]


def _folder(row: tuple[object, ...]) -> Folder:
    name, root, mode, state, error, added, last, marker = row
    assert isinstance(name, str) and isinstance(root, bytes) and isinstance(marker, str)
    assert isinstance(mode, str) and isinstance(state, str) and isinstance(error, str)
    assert isinstance(added, int) and (last is None or isinstance(last, int))
    return Folder(
        name=name,
        root=root,
        mode=_mode(mode),
        state=_state(state),
        error=error,
        added_at=added,
        last_scan=last,
        marker=marker,
    )


def _mode(text: str) -> FolderMode:
    assert text == "backup", text
    return "backup"


def _state(text: str) -> FolderState:
    match text:
        case "active" | "paused" | "removed":
            return text
    raise AssertionError(text)


class FolderStore:
    """Every folder statement. Reads with `Database.run`, writes in one transaction each."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- folders ------------------------------------------------------------------------

    async def folders(self) -> list[Folder]:
        def q(c: sqlite3.Connection) -> list[Folder]:
            return [
                _folder(r) for r in c.execute(f"SELECT {_FOLDER_COLS} FROM folders ORDER BY name")
            ]

        return await self.db.run(q)

    async def folder(self, name: str) -> Folder | None:
        def q(c: sqlite3.Connection) -> Folder | None:
            row = c.execute(
                f"SELECT {_FOLDER_COLS} FROM folders WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else _folder(row)

        return await self.db.run(q)

    async def put_folder(self, f: Folder) -> None:
        """Insert `f`, or replace the folder of that name (its versions stay)."""

        def q(c: sqlite3.Connection) -> None:
            c.execute(
                f"INSERT INTO folders ({_FOLDER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET root = excluded.root, mode = excluded.mode,"
                " state = excluded.state, error = excluded.error, marker = excluded.marker",
                (f.name, f.root, f.mode, f.state, f.error, f.added_at, f.last_scan, f.marker),
            )

        await self.db.transaction(q)

    async def set_state(self, name: str, state: FolderState, error: str = "") -> None:
        def q(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE folders SET state = ?, error = ? WHERE name = ?", (state, error, name)
            )

        await self.db.transaction(q)

    async def forget(self, name: str, objects: list[str]) -> None:
        """Delete the folder and its cache, and `objects` from the content map."""

        def q(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM folders WHERE name = ?", (name,))
            c.executemany(
                "DELETE FROM folder_contents WHERE object_id = ?", [(o,) for o in objects]
            )

        await self.db.transaction(q)

    # -- scan cache -----------------------------------------------------------------------

    async def cache(self, folder: str) -> dict[bytes, CacheRow]:
        def q(c: sqlite3.Connection) -> dict[bytes, CacheRow]:
            rows = c.execute(
                "SELECT path, size, mtime_ns, inode, content_hash FROM folder_scan_cache"
                " WHERE folder = ?",
                (folder,),
            )
            return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

        return await self.db.run(q)

    async def save_scan(self, folder: str, cache: dict[bytes, CacheRow], scanned_at: int) -> None:
        """Replace the folder's scan cache with `cache` and note when it was scanned."""

        def q(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM folder_scan_cache WHERE folder = ?", (folder,))
            c.executemany(
                "INSERT INTO folder_scan_cache (folder, path, size, mtime_ns, inode, content_hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(folder, p, *row) for p, row in cache.items()],
            )
            c.execute("UPDATE folders SET last_scan = ? WHERE name = ?", (scanned_at, folder))

        await self.db.transaction(q)

    # -- contents -----------------------------------------------------------------------

    async def object_for(self, content_hash: bytes) -> str | None:
        def q(c: sqlite3.Connection) -> str | None:
            row = c.execute(
                "SELECT object_id FROM folder_contents WHERE content_hash = ?", (content_hash,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self.db.run(q)

    async def add_content(self, content_hash: bytes, object_id: str, size: int) -> None:
        def q(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO folder_contents VALUES (?, ?, ?)",
                (content_hash, object_id, size),
            )

        await self.db.transaction(q)
