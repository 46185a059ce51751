"""The database connection: closing it under a running statement, using it after."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import trio

from citizen.errors import StoreError
from citizen.store.db import Database


async def test_close_waits_for_the_running_statement_then_refuses_more(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "citizen.sqlite")
    await db.transaction(lambda c: c.execute("CREATE TABLE t (x INTEGER) STRICT"))
    inside, release = threading.Event(), threading.Event()

    def slow_write(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t VALUES (1)")
        inside.set()
        release.wait(10)
        return 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(db.transaction, slow_write)
        await trio.to_thread.run_sync(inside.wait, 10)
        closer = threading.Thread(target=db.close)
        closer.start()  # blocks on the statement, where it used to crash the interpreter
        release.set()
    await trio.to_thread.run_sync(closer.join, 10)
    assert not closer.is_alive()

    with pytest.raises(StoreError, match="closed"):
        await db.run(lambda c: c.execute("SELECT 1").fetchall())
    reopened = await Database.open(tmp_path / "citizen.sqlite")
    try:
        rows = await reopened.run(lambda c: c.execute("SELECT x FROM t").fetchall())
    finally:
        reopened.close()
    assert rows == [(1,)]  # the transaction that was running committed
