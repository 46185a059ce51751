"""This household's devices and everyone's device revocations, in SQLite.

`is_own_device` and `is_revoked` answer from memory (the friend gate asks on
every stream); every write updates the mirror after its commit.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from citizen.errors import NotFoundError
from citizen.ids import DeviceId
from citizen.store.db import Database


@dataclass(frozen=True, slots=True)
class HouseholdDevice:
    device: DeviceId
    name: str
    cert: bytes
    addrs: tuple[str, ...]
    last_seen: int | None
    holds_key: bool


class HouseholdStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._devices: set[str] = set()
        self._revoked: set[str] = set()

    async def load(self) -> None:
        def q(c: sqlite3.Connection) -> tuple[set[str], set[str]]:
            devices = {r[0] for r in c.execute("SELECT device FROM household_devices")}
            revoked = {r[0] for r in c.execute("SELECT device FROM revocations")}
            return devices, revoked

        self._devices, self._revoked = await self._db.run(q)

    def is_own_device(self, device: str) -> bool:
        return device in self._devices and device not in self._revoked

    def is_revoked(self, device: str) -> bool:
        return device in self._revoked

    async def add(self, d: HouseholdDevice) -> None:
        if d.device in self._revoked:
            return
        await self._db.transaction(lambda c: _insert(c, d))
        self._devices.add(d.device)

    async def seen(self, device: str, addrs: list[str]) -> None:
        now = int(time.time())
        await self._db.transaction(
            lambda c: c.execute(
                "UPDATE household_devices SET last_seen = ?, addrs = ? WHERE device = ?",
                (now, json.dumps(addrs), device),
            )
        )

    async def devices(self) -> list[HouseholdDevice]:
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT device, name, cert, addrs, last_seen, holds_key FROM household_devices"
                " ORDER BY name"
            ).fetchall()
        )
        return [
            HouseholdDevice(DeviceId(d), n, cert, tuple(json.loads(a)), seen, bool(k))
            for d, n, cert, a, seen, k in rows
        ]

    async def get(self, device: str) -> HouseholdDevice:
        for d in await self.devices():
            if d.device == device or d.name == device:
                return d
        raise NotFoundError(
            f"No device {device!r} in this household.", "See `citizen device list`."
        )

    async def revoke(self, device: str, household: str, signed: bytes) -> None:
        """Record a revocation (ours or a friend's) and drop the device if it is ours."""

        def tx(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR IGNORE INTO revocations (device, household, signed) VALUES (?, ?, ?)",
                (device, household, signed),
            )
            c.execute("DELETE FROM household_devices WHERE device = ?", (device,))

        await self._db.transaction(tx)
        self._revoked.add(device)
        self._devices.discard(device)

    async def revocations(self, household: str) -> list[bytes]:
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT signed FROM revocations WHERE household = ?", (household,)
            ).fetchall()
        )
        return [r[0] for r in rows]


def _insert(c: sqlite3.Connection, d: HouseholdDevice) -> None:
    c.execute(
        "INSERT INTO household_devices (device, name, cert, addrs, last_seen, holds_key)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET cert = excluded.cert,"
        " name = excluded.name",
        (d.device, d.name, d.cert, json.dumps(list(d.addrs)), d.last_seen, int(d.holds_key)),
    )


def add_devices_sync(conn: sqlite3.Connection, devices: list[HouseholdDevice]) -> None:
    """For `citizen init --join`: remember the household's devices before the daemon runs."""
    conn.execute("BEGIN IMMEDIATE")
    for d in devices:
        _insert(conn, d)
    conn.execute("COMMIT")
