from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from citizen.errors import NotFoundError, QuotaError, RemoteProtocolError
from citizen.ids import HouseholdId, ShareId
from citizen.objects.segments import share_hash
from citizen.store.db import Database
from citizen.store.shares import (
    CorruptShareFileError,
    ShareHashMismatchError,
    ShareStore,
    corrupt_proof,
    proof_for,
    share_id_of,
)

ALICE = HouseholdId("alice")
BOB = HouseholdId("bob")
BIG = 10**9


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ShareStore]:
    db = await Database.open(tmp_path / "citizen.db")
    s = ShareStore(tmp_path, db)
    await s.cleanup()
    yield s
    db.close()


def share(n: int = 1000) -> tuple[ShareId, bytes]:
    data = os.urandom(n)
    return share_id_of(data), data


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_share_id_matches_the_segment_hash() -> None:
    data = os.urandom(100)
    assert share_id_of(data) == share_hash(data).hex()


async def test_put_get_round_trip_and_layout(store: ShareStore, tmp_path: Path) -> None:
    sid, data = share()
    await store.put(ALICE, sid, data, BIG)
    assert await store.get(sid) == data
    assert (tmp_path / "shares" / sid[:2] / sid[2:]).read_bytes() == data
    assert await store.used_by(ALICE) == len(data)
    assert await store.held_for(ALICE) == [sid]
    assert await store.held_for(BOB) == []


async def test_bad_hash_is_refused_and_nothing_stored(store: ShareStore, tmp_path: Path) -> None:
    sid, data = share()
    with pytest.raises(ShareHashMismatchError) as info:
        await store.put(ALICE, sid, data + b"x", BIG)
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(ShareHashMismatchError):
        await store.put(ALICE, ShareId("../../x"), data, BIG)
    assert files_under(tmp_path / "shares") == []
    assert await store.used_by(ALICE) == 0


async def test_quota_refusal_leaves_nothing_stored(store: ShareStore, tmp_path: Path) -> None:
    first_id, first = share(600)
    await store.put(ALICE, first_id, first, 1000)
    sid, data = share(401)
    with pytest.raises(QuotaError) as info:
        await store.put(ALICE, sid, data, 1000)
    assert "600 of the 1000 bytes" in str(info.value)
    assert files_under(tmp_path / "shares") == [tmp_path / "shares" / first_id[:2] / first_id[2:]]
    assert await store.used_by(ALICE) == 600
    with pytest.raises(NotFoundError):
        await store.get(sid)
    # exactly filling the quota is fine, and quota is per owner
    fit_id, fit = share(400)
    await store.put(ALICE, fit_id, fit, 1000)
    await store.put(BOB, sid, data, 1000)


async def test_concurrent_puts_never_exceed_quota(store: ShareStore) -> None:
    shares = [share(100) for _ in range(8)]
    refused: list[ShareId] = []

    async def put(sid: ShareId, data: bytes) -> None:
        try:
            await store.put(ALICE, sid, data, 300)
        except QuotaError:
            refused.append(sid)

    async with trio.open_nursery() as nursery:
        for sid, data in shares:
            nursery.start_soon(put, sid, data)
    held = await store.held_for(ALICE)
    assert len(held) == 3
    assert len(refused) == 5
    assert await store.used_by(ALICE) == 300
    for sid in refused:
        with pytest.raises(NotFoundError):
            await store.get(sid)
        assert not store.path_of(sid).exists()


async def test_put_is_idempotent(store: ShareStore) -> None:
    sid, data = share(500)
    await store.put(ALICE, sid, data, 500)
    await store.put(ALICE, sid, data, 500)  # already held: no quota error either
    assert await store.used_by(ALICE) == 500
    assert await store.held_for(ALICE) == [sid]


async def test_two_owners_of_the_same_bytes(store: ShareStore) -> None:
    sid, data = share()
    await store.put(ALICE, sid, data, BIG)
    await store.put(BOB, sid, data, BIG)
    assert await store.used_by(BOB) == len(data)
    assert await store.delete(ALICE, [sid]) == 1
    assert await store.get(sid) == data
    assert await store.delete(ALICE, [sid]) == 0
    assert await store.delete(BOB, [sid, ShareId("nonsense")]) == 1
    assert not store.path_of(sid).exists()
    with pytest.raises(NotFoundError):
        await store.get(sid)


async def test_corrupt_file_is_detected_set_aside_and_can_be_replaced(
    store: ShareStore, tmp_path: Path
) -> None:
    sid, data = share()
    await store.put(ALICE, sid, data, BIG)
    path = store.path_of(sid)
    damaged = bytearray(path.read_bytes())
    damaged[10] ^= 0xFF
    path.write_bytes(damaged)
    with pytest.raises(CorruptShareFileError):
        await store.get(sid)
    assert not path.exists()
    assert len(list((tmp_path / "shares" / "corrupt").iterdir())) == 1
    assert await store.held_for(ALICE) == []
    assert await store.used_by(ALICE) == 0
    await store.put(ALICE, sid, data, BIG)
    assert await store.get(sid) == data


async def test_missing_file_is_reported_as_not_found(store: ShareStore) -> None:
    sid, data = share()
    await store.put(ALICE, sid, data, BIG)
    store.path_of(sid).unlink()
    with pytest.raises(NotFoundError):
        await store.get(sid)
    assert await store.held_for(ALICE) == []


async def test_cleanup_removes_crash_leftovers_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "citizen.db")
    store = ShareStore(tmp_path, db)
    await store.cleanup()
    kept_id, kept = share()
    await store.put(ALICE, kept_id, kept, BIG)
    # a crash before the rename: a temp file; a crash after it: a file with no row
    (tmp_path / "shares" / "tmp" / "deadbeef.1234.tmp").write_bytes(b"partial")
    orphan_id, orphan = share()
    store._write_file(orphan_id, orphan)
    db.close()

    db = await Database.open(tmp_path / "citizen.db")
    store = ShareStore(tmp_path, db)
    assert await store.cleanup() == 2
    assert files_under(tmp_path / "shares") == [store.path_of(kept_id)]
    assert await store.get(kept_id) == kept
    db.close()


async def test_proofs_need_the_bytes_and_change_with_the_nonce(store: ShareStore) -> None:
    a_id, a = share()
    b_id, b = share()
    await store.put(ALICE, a_id, a, BIG)
    await store.put(ALICE, b_id, b, BIG)
    missing = share()[0]
    n1, n2 = os.urandom(32), os.urandom(32)
    p1 = await store.prove([a_id, missing, b_id], n1)
    assert p1 == [proof_for(n1, a), b"", proof_for(n1, b)]
    p2 = await store.prove([a_id, missing, b_id], n2)
    assert p2[0] != p1[0]
    assert p2[2] != p1[2]
    assert p2[0] == proof_for(n2, a)
    # a damaged file is answered as damaged (the owner reports it bad), then set aside
    store.path_of(b_id).write_bytes(b"\x00" * len(b))
    assert await store.prove([b_id], n1) == [corrupt_proof(n1, b_id)]
    assert await store.held_for(ALICE) == [a_id]
    assert await store.prove([b_id], n1) == [b""]


async def test_held_for_pages_in_order(store: ShareStore) -> None:
    ids = []
    for _ in range(5):
        sid, data = share(10)
        await store.put(ALICE, sid, data, BIG)
        ids.append(sid)
    ids.sort()
    first = await store.held_for(ALICE, limit=2)
    assert first == ids[:2]
    assert await store.held_for(ALICE, after=first[-1], limit=2) == ids[2:4]
    assert await store.held_for(ALICE, after=ids[3]) == ids[4:]
