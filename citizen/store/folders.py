"""Folders in SQLite: their config and state, the scan cache, every version, content → object.

Schema: ``0015_folders.sql``. Paths are BLOBs (bytes relative to the folder
root). The scan cache maps (path, size, mtime_ns, inode) to the content's
keyed hash, so a scan never reads an unchanged file again; `folder_contents`
maps a keyed hash to the one object that holds that content for the
household.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

from citizen.store.db import Database
from citizen.store.folder_records import Folder, FolderMode, FolderState, Kind, Version

_FOLDER_COLS = "name, root, mode, state, error, added_at, last_scan, marker"
_VERSION_COLS = (
    "path, kind, object_id, size, mtime_ns, mode, content_hash, target, deleted, device, at_ns, id"
)

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


def _kind(text: str) -> Kind:
    match text:
        case "file" | "dir" | "link":
            return text
    raise AssertionError(text)


def _version(row: tuple[object, ...]) -> Version:
    path, kind, oid, size, mtime, mode, chash, target, deleted, device, at, vid = row
    assert isinstance(path, bytes) and isinstance(kind, str) and isinstance(device, str)
    assert isinstance(size, int) and isinstance(mtime, int) and isinstance(mode, int)
    assert isinstance(at, int) and isinstance(vid, int) and isinstance(deleted, int)
    assert oid is None or isinstance(oid, str)
    assert chash is None or isinstance(chash, bytes)
    assert target is None or isinstance(target, bytes)
    return Version(
        path=path,
        kind=_kind(kind),
        object_id=oid,
        size=size,
        mtime_ns=mtime,
        mode=mode,
        content_hash=chash,
        target=target,
        deleted=bool(deleted),
        device=device,
        at_ns=at,
        id=vid,
    )


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

    async def forget(self, name: str) -> list[str]:
        """Delete the folder, its cache and versions; the objects no other folder uses."""

        def q(c: sqlite3.Connection) -> list[str]:
            mine = {
                r[0]
                for r in c.execute(
                    "SELECT DISTINCT object_id FROM folder_versions"
                    " WHERE folder = ? AND object_id IS NOT NULL",
                    (name,),
                )
            }
            c.execute("DELETE FROM folders WHERE name = ?", (name,))
            still = {
                r[0]
                for r in c.execute(
                    "SELECT DISTINCT object_id FROM folder_versions WHERE object_id IS NOT NULL"
                )
            }
            gone = sorted(mine - still)
            c.executemany("DELETE FROM folder_contents WHERE object_id = ?", [(o,) for o in gone])
            return gone

        return await self.db.transaction(q)

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

    # -- versions -----------------------------------------------------------------------

    async def versions(self, folder: str, path: bytes | None = None) -> list[Version]:
        """Every version in the folder (or of one path), oldest first."""

        def q(c: sqlite3.Connection) -> list[Version]:
            sql = f"SELECT {_VERSION_COLS} FROM folder_versions WHERE folder = ?"
            args: tuple[object, ...] = (folder,)
            if path is not None:
                sql += " AND path = ?"
                args = (folder, path)
            return [_version(r) for r in c.execute(sql + " ORDER BY at_ns, id", args)]

        return await self.db.run(q)

    async def record_scan(
        self,
        folder: str,
        versions: Iterable[Version],
        cache: dict[bytes, CacheRow],
        scanned_at: int,
    ) -> None:
        """Append `versions`, replace the folder's scan cache with `cache`, note the scan time."""

        def q(c: sqlite3.Connection) -> None:
            c.executemany(
                "INSERT INTO folder_versions (folder, path, kind, object_id, size, mtime_ns, mode,"
                " content_hash, target, deleted, device, at_ns) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        folder,
                        v.path,
                        v.kind,
                        v.object_id,
                        v.size,
                        v.mtime_ns,
                        v.mode,
                        v.content_hash,
                        v.target,
                        int(v.deleted),
                        v.device,
                        v.at_ns,
                    )
                    for v in versions
                ],
            )
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

    async def secret(self) -> bytes:
        """The household's key for content hashes (made once, 32 random bytes)."""

        def q(c: sqlite3.Connection) -> bytes:
            c.execute("INSERT OR IGNORE INTO folder_secret VALUES (1, ?)", (os.urandom(32),))
            row = c.execute("SELECT secret FROM folder_secret WHERE id = 1").fetchone()
            return bytes(row[0])

        return await self.db.transaction(q)
