"""Backups in SQLite: those we keep for friends, what we pushed, and restoring ours.

`restore` writes a decrypted household state (friends, docs, grants) in one
transaction, so a recovery either lands whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from citizen.identity.grants import verify_grant
from citizen.ids import HouseholdId
from citizen.store.backup_state import DeviceState, FriendState, HouseholdState
from citizen.store.db import Database
from citizen.store.friend_records import Friend
from citizen.store.friend_sync import merge_sync


@dataclass(frozen=True, slots=True)
class HeldBackup:
    owner: HouseholdId
    version: int
    pointer: bytes
    blob: bytes


class BackupStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def held(self, owner: HouseholdId) -> HeldBackup | None:
        def q(c: sqlite3.Connection) -> HeldBackup | None:
            row = c.execute(
                "SELECT version, pointer, blob FROM held_backups WHERE owner = ?", (owner,)
            ).fetchone()
            return None if row is None else HeldBackup(owner, row[0], row[1], row[2])

        return await self._db.run(q)

    async def keep(self, owner: HouseholdId, version: int, pointer: bytes, blob: bytes) -> bool:
        """Keep a friend's backup if it is newer than the one held; True if kept."""

        def tx(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT version FROM held_backups WHERE owner = ?", (owner,)).fetchone()
            if row is not None and row[0] >= version:
                return False
            c.execute(
                "INSERT OR REPLACE INTO held_backups (owner, version, pointer, blob, stored_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (owner, version, pointer, blob, int(time.time())),
            )
            return True

        return await self._db.transaction(tx)

    async def drop_held(self, owner: HouseholdId) -> None:
        await self._db.transaction(
            lambda c: c.execute("DELETE FROM held_backups WHERE owner = ?", (owner,))
        )

    async def record_push(self, friend: HouseholdId, version: int) -> None:
        await self._db.transaction(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO backup_pushes (friend, version, pushed_at)"
                " VALUES (?, ?, ?)",
                (friend, version, int(time.time())),
            )
        )

    async def pushes(self) -> dict[HouseholdId, int]:
        rows = await self._db.run(
            lambda c: c.execute("SELECT friend, version FROM backup_pushes").fetchall()
        )
        return {HouseholdId(f): v for f, v in rows}

    async def last_push(self) -> int | None:
        """Unix time a backup last reached a friend (None: never)."""
        row = await self._db.run(
            lambda c: c.execute("SELECT MAX(pushed_at) FROM backup_pushes").fetchone()
        )
        return int(row[0]) if row and row[0] is not None else None

    async def recovery_peers(self) -> dict[str, list[str]]:
        rows = await self._db.run(
            lambda c: c.execute("SELECT device, addrs FROM recovery_peers").fetchall()
        )
        return {d: json.loads(a) for d, a in rows}

    async def add_recovery_peer(self, device: str, addrs: list[str]) -> None:
        """Ask `device` for our backup (a friend welcomed this fresh device back)."""
        await self._db.transaction(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO recovery_peers (device, addrs) VALUES (?, ?)",
                (device, json.dumps(addrs)),
            )
        )

    async def restore(self, state: HouseholdState) -> None:
        """Write a recovered state whole (friends, docs, grants) and forget recovery peers."""

        await self._db.transaction(lambda c: _restore(c, state))


def friend_states(friends: list[Friend]) -> tuple[FriendState, ...]:
    """The trust store's friends as a backup or an enrollment carries them."""
    return tuple(
        FriendState(
            f.household,
            f.household_key,
            f.name,
            f.secret,
            f.paired_at,
            f.offer_bytes,
            f.sas,
            tuple(DeviceState(d.device, d.name, d.cert, d.addrs) for d in f.devices),
            f.changed_at,
        )
        for f in friends
    )


def set_recovery_peers(conn: sqlite3.Connection, peers: dict[str, list[str]]) -> None:
    """For `citizen init --recover --sheet`: remember whom to ask for our backup."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM recovery_peers")
    for device, addrs in peers.items():
        conn.execute(
            "INSERT INTO recovery_peers (device, addrs) VALUES (?, ?)", (device, json.dumps(addrs))
        )
    conn.execute("COMMIT")


def _restore(c: sqlite3.Connection, state: HouseholdState) -> None:
    # friends and tombstones merge like another device's copy (last writer wins)
    merge_sync(c, (*state.friends, *state.removed))
    now = int(time.time() * 1000)
    for doc in state.docs:
        # the backup wins over a doc this fresh device made before recovery finished
        # (the household index, created empty on start-up with the same ID)
        c.execute("DELETE FROM doc_changes WHERE doc_id = ?", (doc.doc_id,))
        c.execute(
            "INSERT OR REPLACE INTO docs (doc_id, owner, title, snapshot, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (doc.doc_id, doc.owner, doc.title, doc.snapshot, now, now),
        )
    for raw in state.grants:
        g = verify_grant(raw)
        c.execute(
            "INSERT OR REPLACE INTO grants (doc_id, friend, owner, role, revoked, issued,"
            " signed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                g.doc_id,
                g.friend_household,
                g.owner_household,
                g.role,
                int(g.revoked),
                g.issued,
                g.raw,
            ),
        )
    c.execute("DELETE FROM recovery_peers")


def restore_sync(conn: sqlite3.Connection, state: HouseholdState) -> None:
    """For `citizen init --join`: write the household's friends before the daemon runs."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _restore(conn, state)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
