"""The trust store: friends, their devices, and pending invites, in SQLite.

A friend becomes trusted in `add_friend_consuming_invite` (inviter side) or
`add_friend` (acceptor side): one transaction stores the friend and its first
device, and on the inviter side also marks the invite used, so an invite can
never pair twice. `trusted_devices()` is an in-memory mirror the friend gate
reads on every inbound stream; every write updates it after its commit.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from citizen.errors import InviteError, NotFoundError
from citizen.ids import DeviceId, HouseholdId, pick_one
from citizen.store import friend_sync
from citizen.store.backup_state import FriendRemoval
from citizen.store.db import Database
from citizen.store.friend_records import Friend, FriendDevice, PendingInvite


class FriendStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._trusted: dict[DeviceId, HouseholdId] = {}
        #: called after a local pairing, removal or offer change commits
        self.on_change: list[Callable[[], None]] = []

    async def load(self) -> None:
        rows = await self._db.run(
            lambda c: c.execute("SELECT device, household FROM friend_devices").fetchall()
        )
        self._trusted = {DeviceId(d): HouseholdId(h) for d, h in rows}

    def household_of(self, device: str) -> HouseholdId | None:
        """The friend household a device belongs to, or None (the gate's question)."""
        return self._trusted.get(DeviceId(device))

    def count(self) -> int:
        return len(set(self._trusted.values()))

    # -- invites --------------------------------------------------------------------------

    async def add_invite(
        self, invite_id: str, secret: bytes, expires: int, kind: str = "pair"
    ) -> None:
        now = int(time.time())
        await self._db.transaction(
            lambda c: c.execute(
                "INSERT INTO invites (invite_id, secret, created, expires, kind)"
                " VALUES (?, ?, ?, ?, ?)",
                (invite_id, secret, now, expires, kind),
            )
        )

    async def invite_used_by(self, invite_id: str) -> HouseholdId | None:
        """The household that used the invite, None while it is unused.

        Raises:
            NotFoundError: no such invite.
        """

        def q(c: sqlite3.Connection) -> tuple[str | None] | None:
            row: tuple[str | None] | None = c.execute(
                "SELECT used_by FROM invites WHERE invite_id = ?", (invite_id,)
            ).fetchone()
            return row

        row = await self._db.run(q)
        if row is None:
            raise NotFoundError(f"No invite {invite_id}.")
        return None if row[0] is None else HouseholdId(row[0])

    async def pending_invites(self, now: int) -> list[PendingInvite]:
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT invite_id, secret, expires FROM invites"
                " WHERE used_at IS NULL AND expires > ?",
                (now,),
            ).fetchall()
        )
        return [PendingInvite(i, s, e) for i, s, e in rows]

    async def find_invite(self, invite_id: str, now: int, kind: str = "pair") -> PendingInvite:
        """The usable invite with this ID.

        Raises:
            InviteError: unknown, already used, or expired.
        """

        def get(c: sqlite3.Connection) -> tuple[bytes, int, int | None, str] | None:
            row: tuple[bytes, int, int | None, str] | None = c.execute(
                "SELECT secret, expires, used_at, kind FROM invites WHERE invite_id = ?",
                (invite_id,),
            ).fetchone()
            return row

        row = await self._db.run(get)
        if row is None:
            raise InviteError(
                "This invite is unknown to the inviting household.",
                "Ask your friend for a new invite.",
            )
        secret, expires, used_at, stored_kind = row
        if stored_kind != kind:
            raise InviteError(
                "This code adds a device to a household; it cannot pair friends."
                if stored_kind == "enroll"
                else "This code pairs friends; it cannot add a device.",
                "Use `citizen init --join CODE` for device codes and `citizen accept CODE` "
                "for friend invites.",
            )
        if used_at is not None:
            raise InviteError(
                "This invite was already used; an invite pairs only once.",
                "Ask your friend for a new invite.",
            )
        if expires <= now:
            raise InviteError("This invite has expired.", "Ask your friend for a new invite.")
        return PendingInvite(invite_id, secret, expires)

    # -- friends --------------------------------------------------------------------------

    @staticmethod
    def _insert(c: sqlite3.Connection, friend: Friend) -> None:
        if c.execute("SELECT 1 FROM friends WHERE household = ?", (friend.household,)).fetchone():
            raise InviteError(
                "You are already friends with this household.",
                "Nothing was changed; see `citizen friends`.",
            )
        c.execute(
            "INSERT INTO friends"
            " (household, household_key, name, secret, paired_at, offer_bytes, sas, changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                friend.household,
                friend.household_key,
                friend.name,
                friend.secret,
                friend.paired_at,
                friend.offer_bytes,
                friend.sas,
                friend_sync.stamp_pairing(c, friend.household),
            ),
        )
        for d in friend.devices:
            c.execute(
                "INSERT OR REPLACE INTO friend_devices"
                " (device, household, name, cert, addrs, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                (d.device, d.household, d.name, d.cert, json.dumps(list(d.addrs)), d.last_seen),
            )

    async def add_friend(self, friend: Friend) -> None:
        await self._db.transaction(lambda c: self._insert(c, friend))
        self._trust(friend)
        self._changed()

    async def consume_invite(self, invite_id: str, used_by: str) -> None:
        """Mark an invite used (an enrollment); raises InviteError if it no longer can be."""
        now = int(time.time())

        def tx(c: sqlite3.Connection) -> None:
            updated = c.execute(
                "UPDATE invites SET used_at = ?, used_by = ?"
                " WHERE invite_id = ? AND used_at IS NULL AND expires > ?",
                (now, used_by, invite_id, now),
            ).rowcount
            if updated != 1:
                raise InviteError("This code was already used or has expired.")

        await self._db.transaction(tx)

    async def add_friend_consuming_invite(self, friend: Friend, invite_id: str) -> None:
        """Store the friend and mark the invite used, atomically (inviter side)."""
        now = int(time.time())

        def tx(c: sqlite3.Connection) -> None:
            updated = c.execute(
                "UPDATE invites SET used_at = ?, used_by = ?"
                " WHERE invite_id = ? AND used_at IS NULL AND expires > ?",
                (now, friend.household, invite_id, now),
            ).rowcount
            if updated != 1:
                raise InviteError(
                    "This invite was already used or has expired.",
                    "Ask your friend for a new invite.",
                )
            self._insert(c, friend)

        await self._db.transaction(tx)
        self._trust(friend)
        self._changed()

    def _trust(self, friend: Friend) -> None:
        for d in friend.devices:
            self._trusted[d.device] = friend.household

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    async def add_device(self, device: FriendDevice) -> None:
        """Record a friend household's (new) device, from a valid certificate."""
        await self._db.transaction(
            lambda c: c.execute(
                "INSERT INTO friend_devices (device, household, name, cert, addrs, last_seen)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET"
                " cert = excluded.cert, name = excluded.name",
                (
                    device.device,
                    device.household,
                    device.name,
                    device.cert,
                    json.dumps(list(device.addrs)),
                    device.last_seen,
                ),
            )
        )
        self._trusted[device.device] = device.household

    async def forget_device(self, device: str) -> None:
        """Drop one friend device (its household revoked it)."""
        await self._db.transaction(
            lambda c: c.execute("DELETE FROM friend_devices WHERE device = ?", (device,))
        )
        self._trusted.pop(DeviceId(device), None)

    async def seen(self, device: DeviceId, addrs: list[str] | None) -> None:
        now = int(time.time())

        def tx(c: sqlite3.Connection) -> None:
            if addrs:
                c.execute(
                    "UPDATE friend_devices SET last_seen = ?, addrs = ? WHERE device = ?",
                    (now, json.dumps(addrs), device),
                )
            else:
                c.execute("UPDATE friend_devices SET last_seen = ? WHERE device = ?", (now, device))

        await self._db.transaction(tx)

    async def remove(self, household: HouseholdId, removed_by: str = "") -> Friend:
        """Remove a friend, leaving a tombstone so our other devices remove it too."""
        friend = await self.get(household)
        await self._db.transaction(lambda c: friend_sync.record_removal(c, household, removed_by))
        for d in friend.devices:
            self._trusted.pop(d.device, None)
        self._changed()
        return friend

    async def removals(self) -> list[FriendRemoval]:
        """Tombstones of removed friends (for backups and enrollment)."""
        return await self._db.run(friend_sync.list_removals)

    async def set_offer(self, household: HouseholdId, offer_bytes: int | None) -> None:
        await self._db.transaction(
            lambda c: c.execute(
                f"UPDATE friends SET offer_bytes = ?, {friend_sync.STAMP_SQL} WHERE household = ?",
                (offer_bytes, friend_sync.now_ms(), household),
            )
        )
        self._changed()

    async def list(self) -> list[Friend]:
        def q(c: sqlite3.Connection) -> list[Friend]:
            devices: dict[str, list[FriendDevice]] = {}
            for d, h, n, cert, addrs, seen in c.execute(
                "SELECT device, household, name, cert, addrs, last_seen FROM friend_devices"
                " ORDER BY device"
            ):
                devices.setdefault(h, []).append(
                    FriendDevice(
                        DeviceId(d), HouseholdId(h), n, cert, tuple(json.loads(addrs)), seen
                    )
                )
            return [
                Friend(HouseholdId(h), k, n, s, p, o, tuple(devices.get(h, [])), sas, ch)
                for h, k, n, s, p, o, sas, ch in c.execute(
                    "SELECT household, household_key, name, secret, paired_at, offer_bytes, sas,"
                    " changed_at FROM friends ORDER BY name"
                )
            ]

        return await self._db.run(q)

    async def get(self, household: HouseholdId) -> Friend:
        for friend in await self.list():
            if friend.household == household:
                return friend
        raise NotFoundError(f"No friend with household ID {household}.", "See `citizen friends`.")

    async def resolve(self, name_or_id: str) -> Friend:
        """Find a friend by household ID (any spelling), display name, or a unique prefix.

        Raises:
            NotFoundError: none fits.
            AmbiguousError: several fit (the message lists them).
        """
        friends = await self.list()
        chosen = pick_one(
            name_or_id, [(f.household, f.name) for f in friends], "friend", "See `citizen friends`."
        )
        return next(f for f in friends if f.household == chosen)
