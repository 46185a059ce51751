"""SQLite on one worker thread, trio native: open, migrate, run statements.

aiosqlite is asyncio-only, so this is the same design for trio: one
connection, owned by one thread at a time through a `CapacityLimiter(1)`,
every call made via `trio.to_thread.run_sync`. WAL mode, `synchronous=FULL`
so that a committed transaction survives a power cut. Schema files live in
`citizen/store/schema/NNNN_name.sql` and are applied in order once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

import trio

from citizen.errors import StoreError

T = TypeVar("T")


def _schema_files() -> list[tuple[int, str, str]]:
    out: list[tuple[int, str, str]] = []
    folder = resources.files("citizen.store").joinpath("schema")
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        number = int(name.split("_", 1)[0])
        out.append((number, name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def open_connection(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database at `path`, synchronously."""
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (number INTEGER PRIMARY KEY, name TEXT"
            " NOT NULL) STRICT"
        )
        applied = {row[0] for row in conn.execute("SELECT number FROM schema_version")}
        for number, name, sql in _schema_files():
            if number in applied:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version VALUES (?, ?)", (number, name))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"The database {path} cannot be opened: {exc}.",
            "Restore the data dir from a backup or recover the household from friends.",
        ) from exc
    return conn


class Database:
    """The daemon's one SQLite connection, used from trio through a worker thread.

    `run(fn)` calls `fn(conn)` on the worker thread; use `transaction(fn)` for
    anything that writes, so it commits (durably) or rolls back as a whole.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._limiter = trio.CapacityLimiter(1)
        # held by whichever thread uses the connection, and by close(): closing a
        # connection under a running statement crashes the interpreter
        self._lock = threading.RLock()
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> Database:
        conn = await trio.to_thread.run_sync(open_connection, path)
        return cls(conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only `fn(conn)` on the worker thread."""
        return await trio.to_thread.run_sync(self._guard, fn, limiter=self._limiter)

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` inside BEGIN IMMEDIATE … COMMIT; roll back if it raises."""
        return await trio.to_thread.run_sync(self._in_tx, fn, limiter=self._limiter)

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """For synchronous start-up code that runs before trio services."""
        return self._in_tx(fn)

    def _guard(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self._check_open()
            try:
                return fn(self._conn)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"Database error: {exc}.", "Check the disk; see the log.") from exc

    def _in_tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"Database error: {exc}.", "Check the disk; see the log.") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(
                "The database is closed: the daemon is stopping.", "Start the daemon again."
            )

    def close(self) -> None:
        """Close the connection once any statement running on the worker has finished."""
        with self._lock:
            self._closed = True
            self._conn.close()
