"""The friend list as the household's devices share it, in SQLite: stamps, tombstones, merges.

Every local change to a friend stamps it (`friends.changed_at`, ms) inside the
change's own transaction: `stamp_pairing` when `FriendStore` pairs, `record_removal`
when it removes (the row goes, a tombstone in `friend_removals` stays),
`STAMP_SQL` on an offer change. A stamp is always later than the one it
replaces, even when this device's clock is behind the device that wrote the
older one. `FriendSync.merge` applies another device's copy with
`citizen.store.friend_merge` in one transaction: a crash leaves the old or the
new list, never a mix.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from citizen.store.backup_state import DeviceState, FriendRemoval, FriendState
from citizen.store.db import Database
from citizen.store.friend_merge import Entry, Merged, merge

#: SQL fragment for an UPDATE of `friends`: a stamp later than now and than the row's own
STAMP_SQL = "changed_at = MAX(changed_at + 1, ?)"


def now_ms() -> int:
    return int(time.time() * 1000)


def stamp_pairing(c: sqlite3.Connection, household: str) -> int:
    """Inside a pairing's transaction: the new friend's stamp; its tombstone, if any, goes."""
    row = c.execute(
        "SELECT removed_at FROM friend_removals WHERE household = ?", (household,)
    ).fetchone()
    c.execute("DELETE FROM friend_removals WHERE household = ?", (household,))
    return max(now_ms(), 0 if row is None else int(row[0]) + 1)


def record_removal(c: sqlite3.Connection, household: str, removed_by: str) -> None:
    """Inside a removal's transaction: drop the friend (and its devices), keep a tombstone."""
    row = c.execute(
        "SELECT changed_at, paired_at FROM friends WHERE household = ?", (household,)
    ).fetchone()
    stamp = 0 if row is None else (int(row[0]) or int(row[1]) * 1000)
    c.execute("DELETE FROM friends WHERE household = ?", (household,))
    c.execute(
        "INSERT OR REPLACE INTO friend_removals (household, removed_at, removed_by)"
        " VALUES (?, ?, ?)",
        (household, max(now_ms(), stamp + 1), removed_by),
    )


def list_removals(c: sqlite3.Connection) -> list[FriendRemoval]:
    return [
        FriendRemoval(h, at, by)
        for h, at, by in c.execute(
            "SELECT household, removed_at, removed_by FROM friend_removals ORDER BY household"
        )
    ]


def read_entries(c: sqlite3.Connection) -> dict[str, Entry]:
    """Every friend and tombstone this device holds, by household."""
    devices: dict[str, list[DeviceState]] = {}
    for d, h, n, cert, addrs, seen in c.execute(
        "SELECT device, household, name, cert, addrs, last_seen FROM friend_devices ORDER BY device"
    ):
        devices.setdefault(h, []).append(DeviceState(d, n, cert, tuple(json.loads(addrs)), seen))
    out: dict[str, Entry] = {r.household: r for r in list_removals(c)}
    for h, k, n, s, p, o, sas, changed in c.execute(
        "SELECT household, household_key, name, secret, paired_at, offer_bytes, sas, changed_at"
        " FROM friends"
    ):
        out[h] = FriendState(h, k, n, s, p, o, sas, tuple(devices.get(h, [])), changed)
    return out


def _revoked(c: sqlite3.Connection) -> set[str]:
    return {r[0] for r in c.execute("SELECT device FROM revocations")}


def _write(c: sqlite3.Connection, entry: Entry) -> None:
    match entry:
        case FriendRemoval():
            c.execute("DELETE FROM friends WHERE household = ?", (entry.household,))
            c.execute(
                "INSERT OR REPLACE INTO friend_removals (household, removed_at, removed_by)"
                " VALUES (?, ?, ?)",
                (entry.household, entry.removed_at, entry.removed_by),
            )
        case FriendState():
            c.execute("DELETE FROM friend_removals WHERE household = ?", (entry.household,))
            c.execute(
                "INSERT INTO friends (household, household_key, name, secret, paired_at,"
                " offer_bytes, sas, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(household) DO UPDATE SET household_key = excluded.household_key,"
                " name = excluded.name, secret = excluded.secret, paired_at = excluded.paired_at,"
                " offer_bytes = excluded.offer_bytes, sas = excluded.sas,"
                " changed_at = excluded.changed_at",
                (
                    entry.household,
                    entry.household_key,
                    entry.name,
                    entry.secret,
                    entry.paired_at,
                    entry.offer_bytes,
                    entry.sas,
                    entry.changed_at,
                ),
            )
            keep = [d.device for d in entry.devices]
            c.execute(
                "DELETE FROM friend_devices WHERE household = ?"
                f" AND device NOT IN ({','.join('?' * len(keep))})",
                (entry.household, *keep),
            )
            for d in entry.devices:
                # a device row of another household is never taken over
                c.execute(
                    "INSERT INTO friend_devices (device, household, name, cert, addrs, last_seen)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET"
                    " name = excluded.name, cert = excluded.cert, addrs = excluded.addrs,"
                    " last_seen = excluded.last_seen"
                    " WHERE friend_devices.household = excluded.household",
                    (
                        d.device,
                        entry.household,
                        d.name,
                        d.cert,
                        json.dumps(list(d.addrs)),
                        d.last_seen,
                    ),
                )


def merge_sync(c: sqlite3.Connection, remote: Iterable[Entry]) -> Merged:
    """Merge a copy into the database, inside the caller's transaction."""
    merged = merge(read_entries(c), remote, _revoked(c))
    for entry in merged.writes:
        _write(c, entry)
    return merged


class FriendSync:
    """The household-shared view of the trust store (`FriendStore` keeps the in-memory mirror;
    call its `load()` after a merge that wrote)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def entries(self) -> tuple[tuple[FriendState, ...], tuple[FriendRemoval, ...]]:
        """Our friends and tombstones, to send to another device of the household."""
        entries = await self._db.run(read_entries)
        friends = tuple(e for e in entries.values() if isinstance(e, FriendState))
        removed = tuple(e for e in entries.values() if isinstance(e, FriendRemoval))
        return friends, removed

    async def merge(self, remote: Iterable[Entry]) -> Merged:
        """Merge another device's (checked) copy in one transaction."""
        entries = tuple(remote)
        return await self._db.transaction(lambda c: merge_sync(c, entries))
