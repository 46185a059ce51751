"""Friend stamps, tombstones and merges on a real SQLite file (citizen/store/friend_sync.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from citizen import cbor
from citizen.ids import DeviceId, HouseholdId
from citizen.store import db as db_module
from citizen.store import friend_sync
from citizen.store.backup_state import (
    FriendRemoval,
    FriendState,
    HouseholdState,
    decode_state,
    encode_state,
)
from citizen.store.backups import BackupStore, friend_states
from citizen.store.db import Database, open_connection
from citizen.store.friend_records import Friend, FriendDevice
from citizen.store.friends import FriendStore
from tests.store.test_friend_merge import friend

ME = "12D3KooWme"


def row(state: FriendState) -> Friend:
    hh = HouseholdId(state.household)
    return Friend(
        hh,
        state.household_key,
        state.name,
        state.secret,
        state.paired_at,
        state.offer_bytes,
        tuple(
            FriendDevice(DeviceId(d.device), hh, d.name, d.cert, d.addrs, None)
            for d in state.devices
        ),
        state.sas,
    )


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "citizen.db")
    yield database
    database.close()


async def test_removal_leaves_a_tombstone_and_repairing_outdates_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FriendStore(db)
    changes: list[int] = []
    store.on_change.append(lambda: changes.append(1))
    f = friend(1, 0, 1)
    await store.add_friend(row(f))
    paired = (await store.get(HouseholdId(f.household))).changed_at
    assert paired > 0 and changes == [1]

    await store.remove(HouseholdId(f.household), removed_by=ME)
    (gone,) = await store.removals()
    assert gone.household == f.household and gone.removed_by == ME
    assert gone.removed_at > paired and changes == [1, 1]
    assert store.household_of(f.devices[0].device) is None

    # this device's clock is behind the one that removed it: the re-pairing still wins
    monkeypatch.setattr(friend_sync, "now_ms", lambda: gone.removed_at - 60_000)
    await store.add_friend(row(f))
    assert (await store.get(HouseholdId(f.household))).changed_at == gone.removed_at + 1
    assert await store.removals() == []


async def test_offer_change_stamps_later(db: Database) -> None:
    store = FriendStore(db)
    f = friend(1, 0, 1)
    await store.add_friend(row(f))
    before = (await store.get(HouseholdId(f.household))).changed_at
    await store.set_offer(HouseholdId(f.household), 10)
    after = await store.get(HouseholdId(f.household))
    assert after.offer_bytes == 10 and after.changed_at > before


async def test_merge_removes_and_adds_in_one_transaction(db: Database) -> None:
    store = FriendStore(db)
    kept, dropped = friend(1, 0, 1), friend(2, 0, 2)
    await store.add_friend(row(kept))
    await store.add_friend(row(dropped))
    sync = friend_sync.FriendSync(db)
    stamp = 2**50
    newcomer = friend(3, stamp, 3)
    merged = await sync.merge([FriendRemoval(dropped.household, stamp, ME), newcomer])
    assert merged.added == (newcomer.household,)
    assert [r.household for r in merged.removed] == [dropped.household]
    await store.load()
    assert store.household_of(newcomer.devices[0].device) == newcomer.household
    assert store.household_of(dropped.devices[0].device) is None
    friends, removed = await sync.entries()
    assert {f.household for f in friends} == {kept.household, newcomer.household}
    assert [r.household for r in removed] == [dropped.household]
    assert (await sync.merge([*friends, *removed])).writes == ()


async def test_a_merge_that_fails_midway_changes_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FriendStore(db)
    await store.add_friend(row(friend(1, 0, 1)))
    sync = friend_sync.FriendSync(db)
    before = await sync.entries()
    real_write = friend_sync._write
    calls: list[int] = []

    def crash_on_second(c: sqlite3.Connection, entry: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        real_write(c, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(friend_sync, "_write", crash_on_second)
    with pytest.raises(RuntimeError):
        await sync.merge([FriendRemoval(friend(1, 0).household, 2**50, ME), friend(2, 2**50, 2)])
    assert await sync.entries() == before


async def test_backups_carry_tombstones_and_old_ones_still_restore(tmp_path: Path) -> None:
    source = await Database.open(tmp_path / "a.db")
    store = FriendStore(source)
    kept, dropped = friend(1, 0, 1), friend(2, 0, 2)
    await store.add_friend(row(kept))
    await store.add_friend(row(dropped))
    await store.remove(HouseholdId(dropped.household), removed_by=ME)
    state = HouseholdState(
        "home", 0, friend_states(await store.list()), (), (), tuple(await store.removals())
    )
    source.close()

    target = await Database.open(tmp_path / "b.db")
    stale = FriendStore(target)
    await stale.add_friend(row(dropped))  # an older copy of the removed friend
    await target.transaction(lambda c: c.execute("UPDATE friends SET changed_at = 1"))
    await BackupStore(target).restore(state)
    await stale.load()
    assert [f.household for f in await stale.list()] == [kept.household]
    assert [r.household for r in await stale.removals()] == [dropped.household]
    target.close()

    old = await Database.open(tmp_path / "c.db")  # a backup from before stamps and tombstones
    legacy = HouseholdState("home", 0, (friend(1, 0, 1),), (), ())
    await BackupStore(old).restore(legacy)
    (restored,) = await FriendStore(old).list()
    assert restored.household == kept.household and restored.changed_at == kept.paired_at * 1000
    old.close()


def test_migration_stamps_existing_friends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "citizen.db"
    every = db_module._schema_files()
    monkeypatch.setattr(db_module, "_schema_files", lambda: [s for s in every if s[0] < 8])
    conn = open_connection(path)
    f = friend(1, 0)
    conn.execute(
        "INSERT INTO friends (household, household_key, name, secret, paired_at) VALUES"
        " (?, ?, ?, ?, 7)",
        (f.household, f.household_key, f.name, f.secret),
    )
    conn.close()
    monkeypatch.setattr(db_module, "_schema_files", lambda: every)
    conn = open_connection(path)
    assert conn.execute("SELECT changed_at FROM friends").fetchone() == (7000,)
    assert conn.execute("SELECT count(*) FROM friend_removals").fetchone() == (0,)
    conn.close()


def test_backup_state_carries_stamps_and_tombstones_and_reads_old_ones() -> None:
    state = HouseholdState("home", 0, (friend(1, 5, 1),), (), (), (FriendRemoval("H", 9, ME),))
    assert decode_state(encode_state(state)) == state
    old = cbor.loads(encode_state(state))
    assert isinstance(old, dict)
    del old["removed"]
    del old["friends"][0]["changed"]
    decoded = decode_state(cbor.dumps(old))
    assert decoded.removed == () and decoded.friends[0].changed_at == 0
