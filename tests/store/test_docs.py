"""DocStore and DocCache on a real SQLite file: round trips, compaction, crashes, grants."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from automerge.core import Document
from nacl.signing import SigningKey

from citizen.docs.values import append_path, set_path, to_json
from citizen.errors import NotFoundError, StoreError, UsageError
from citizen.identity.fingerprints import household_id
from citizen.identity.grants import Grant, Role, sign_grant, verify_grant
from citizen.ids import DocId, new_doc_id
from citizen.store.db import Database, open_connection
from citizen.store.docs import DocCache, DocStore

OWNER_KEY = SigningKey(b"\x01" * 32)
OWNER = household_id(bytes(OWNER_KEY.verify_key))
FRIEND_KEY = SigningKey(b"\x02" * 32)
FRIEND = household_id(bytes(FRIEND_KEY.verify_key))
OTHER_KEY = SigningKey(b"\x03" * 32)
OTHER = household_id(bytes(OTHER_KEY.verify_key))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "citizen.sqlite"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    database.close()


async def _edit(store: DocStore, doc_id: DocId, doc: Document, path: str, value: object) -> None:
    await store.append_changes(doc_id, set_path(doc, path, value))


async def test_create_append_load_round_trip(db: Database, db_path: Path) -> None:
    store = DocStore(db, clock=lambda: 1_700_000_000.5)
    doc_id = await store.create(OWNER, "Groceries")
    doc = await store.load(doc_id)
    assert to_json(doc) == {}
    await _edit(store, doc_id, doc, "", {"items": []})
    await store.append_changes(doc_id, append_path(doc, "items", "milk"))
    await store.append_changes(doc_id, [])  # nothing to do
    loaded = await store.load(doc_id)
    assert loaded.get_heads() == doc.get_heads()
    assert to_json(loaded) == {"items": ["milk"]}
    [info] = await store.list_docs()
    assert (info.doc_id, info.owner, info.title, info.n_changes) == (doc_id, OWNER, "Groceries", 2)
    assert info.updated.timestamp() == 1_700_000_000.5
    assert await store.info(doc_id) == info
    # durable: another connection to the file sees it once append_changes returned
    conn = open_connection(db_path)
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM doc_changes WHERE doc_id = ?", (doc_id,)
    ).fetchone()
    conn.close()
    assert count == 2


async def test_replica_with_a_given_id_and_title_rules(db: Database) -> None:
    store = DocStore(db)
    doc_id = new_doc_id()
    assert await store.create(FRIEND, doc_id=doc_id) == doc_id
    with pytest.raises(UsageError, match="already exists"):
        await store.create(FRIEND, doc_id=doc_id)
    with pytest.raises(UsageError):
        await store.create(OWNER, "x" * 201)
    await store.set_title(doc_id, "Their list")
    assert (await store.info(doc_id)).title == "Their list"


async def test_unknown_doc(db: Database) -> None:
    store = DocStore(db)
    missing = new_doc_id()
    with pytest.raises(NotFoundError):
        await store.load(missing)
    with pytest.raises(NotFoundError):
        await store.append_changes(missing, [b"x"])
    with pytest.raises(NotFoundError):
        await store.compact(missing)
    with pytest.raises(NotFoundError):
        await store.info(missing)


async def test_compact_folds_the_log(db: Database) -> None:
    store = DocStore(db)
    doc_id = await store.create(OWNER, "t")
    doc = await store.load(doc_id)
    for i in range(5):
        await _edit(store, doc_id, doc, f"k{i}", i)
    assert await store.compact(doc_id)
    assert not await store.compact(doc_id)
    assert (await store.info(doc_id)).n_changes == 0
    loaded = await store.load(doc_id)
    assert loaded.get_heads() == doc.get_heads()
    # appending after a compaction continues the same doc
    await _edit(store, doc_id, doc, "after", True)
    assert to_json(await store.load(doc_id)) == {**{f"k{i}": i for i in range(5)}, "after": True}


async def test_auto_compaction(db: Database) -> None:
    store = DocStore(db, compact_after=3)
    doc_id = await store.create(OWNER, "t")
    doc = await store.load(doc_id)
    lengths = []
    for i in range(8):
        await _edit(store, doc_id, doc, "n", i)
        lengths.append((await store.info(doc_id)).n_changes)
    assert lengths == [1, 2, 3, 0, 1, 2, 3, 0]
    assert to_json(await store.load(doc_id)) == {"n": 7}


async def test_ten_thousand_changes_load_and_compact(db: Database) -> None:
    store = DocStore(db, compact_after=20_000)
    doc_id = await store.create(OWNER, "big")
    doc = await store.load(doc_id)
    batch = set_path(doc, "", {"l": []})
    for i in range(10_000):
        batch += set_path(doc, f"k{i % 100}", i) if i % 2 else append_path(doc, "l", i)
        if len(batch) == 500:
            await store.append_changes(doc_id, batch)
            batch = []
    await store.append_changes(doc_id, batch)
    assert (await store.info(doc_id)).n_changes == 10_001
    loaded = await store.load(doc_id)
    assert loaded.get_heads() == doc.get_heads()
    assert await store.compact(doc_id)
    compacted = await store.load(doc_id)
    assert compacted.get_heads() == doc.get_heads()
    assert to_json(compacted) == to_json(doc)


def _crash_in_transaction(db_path: Path, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    """Run statements in a transaction in another process that dies before COMMIT."""
    code = (
        "import os, sys, sqlite3, ast\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA journal_mode=WAL')\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "for sql, params in ast.literal_eval(sys.argv[2]):\n"
        "    conn.execute(sql, params)\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(db_path), repr(statements)])
    assert proc.returncode == 9


async def test_a_crash_mid_transaction_leaves_the_doc_loadable(db_path: Path) -> None:
    db = await Database.open(db_path)
    store = DocStore(db)
    doc_id = await store.create(OWNER, "t")
    doc = await store.load(doc_id)
    await _edit(store, doc_id, doc, "k", "committed")
    heads = doc.get_heads()
    db.close()
    _crash_in_transaction(
        db_path,
        [
            ("INSERT INTO doc_changes VALUES (?, 2, ?)", (doc_id, b"torn change")),
            ("UPDATE docs SET log_len = 2 WHERE doc_id = ?", (doc_id,)),
        ],
    )
    _crash_in_transaction(  # a compaction that died after overwriting the snapshot
        db_path,
        [
            ("UPDATE docs SET snapshot = ?, log_len = 0 WHERE doc_id = ?", (b"half", doc_id)),
            ("DELETE FROM doc_changes WHERE doc_id = ?", (doc_id,)),
        ],
    )
    db = await Database.open(db_path)
    store = DocStore(db)
    loaded = await store.load(doc_id)
    assert loaded.get_heads() == heads
    assert to_json(loaded) == {"k": "committed"}
    await _edit(store, doc_id, loaded, "k", "after the crash")
    assert to_json(await store.load(doc_id)) == {"k": "after the crash"}
    db.close()


async def test_corrupt_stored_bytes_are_a_store_error(db: Database) -> None:
    store = DocStore(db)
    doc_id = await store.create(OWNER, "t")
    await store.append_changes(doc_id, [b"not an automerge change"])
    with pytest.raises(StoreError, match="cannot be loaded"):
        await store.load(doc_id)
    with pytest.raises(StoreError):
        await store.compact(doc_id)
    assert (await store.info(doc_id)).n_changes == 1  # the failed compaction changed nothing


async def test_delete_leaves_a_tombstone(db: Database) -> None:
    store = DocStore(db)
    doc_id = await store.create(OWNER, "t")
    await store.put_grant(verify_grant(sign_grant(OWNER_KEY, doc_id, _pub(FRIEND_KEY), "reader")))
    await store.delete(doc_id)
    assert await store.list_docs() == []
    assert await store.list_grants(include_revoked=True) == []
    with pytest.raises(NotFoundError):
        await store.load(doc_id)
    with pytest.raises(NotFoundError):
        await store.delete(doc_id)
    with pytest.raises(UsageError):
        await store.create(OWNER, doc_id=doc_id)


def _pub(key: SigningKey) -> bytes:
    return bytes(key.verify_key)


async def test_grants(db: Database) -> None:
    store = DocStore(db)
    doc_a, doc_b = sorted([new_doc_id(), new_doc_id()])

    def grant(
        doc: DocId, friend: SigningKey, role: Role, issued: int, revoked: bool = False
    ) -> Grant:
        signed = sign_grant(OWNER_KEY, doc, _pub(friend), role, issued=issued, revoked=revoked)
        return verify_grant(signed)

    reader = grant(doc_a, FRIEND_KEY, "reader", 10)
    assert await store.put_grant(reader)
    assert await store.get_grant(doc_a, FRIEND) == reader
    assert await store.get_grant(doc_a, OTHER) is None
    writer = grant(doc_a, FRIEND_KEY, "writer", 20)
    assert await store.put_grant(writer)
    assert not await store.put_grant(reader)  # older: ignored
    assert await store.get_grant(doc_a, FRIEND) == writer
    other = grant(doc_b, OTHER_KEY, "reader", 5)
    await store.put_grant(other)
    assert await store.list_grants() == [writer, other]
    assert await store.list_grants(doc_id=doc_b) == [other]
    assert await store.list_grants(friend=FRIEND) == [writer]
    revoked = grant(doc_a, FRIEND_KEY, "writer", 30, revoked=True)
    assert await store.put_grant(revoked)
    assert await store.list_grants() == [other]
    assert await store.list_grants(include_revoked=True) == [revoked, other]
    assert await store.delete_grant(doc_b, OTHER)
    assert not await store.delete_grant(doc_b, OTHER)
    # grants issued to us by a friend are removed with that friend, too
    theirs = verify_grant(sign_grant(FRIEND_KEY, doc_b, _pub(OWNER_KEY), "writer", issued=1))
    await store.put_grant(theirs)
    assert await store.delete_friend_grants(FRIEND) == 2
    assert await store.list_grants(include_revoked=True) == []


async def test_cache_loads_once_and_mutate_persists(db: Database) -> None:
    store = DocStore(db)
    cache = DocCache(store)
    doc_id = await store.create(OWNER, "t")
    doc = await cache.get(doc_id)
    assert await cache.get(doc_id) is doc
    assert cache.peek(doc_id) is doc
    changes = await cache.mutate(doc_id, lambda d: set_path(d, "k", 1))
    assert len(changes) == 1
    assert to_json(await store.load(doc_id)) == {"k": 1}
    cache.evict(doc_id)
    assert cache.peek(doc_id) is None
    assert to_json(await cache.get(doc_id)) == {"k": 1}


async def test_cache_evicts_when_persisting_fails(db: Database) -> None:
    store = DocStore(db)
    cache = DocCache(store)
    doc_id = await store.create(OWNER, "t")
    doc = await cache.get(doc_id)
    await store.delete(doc_id)
    with pytest.raises(NotFoundError):
        await cache.mutate(doc_id, lambda d: set_path(d, "k", 1))
    assert to_json(doc) == {"k": 1}  # memory got ahead of disk...
    assert cache.peek(doc_id) is None  # ...so it is no longer served


async def test_changes_missing_their_dependencies_are_never_compacted_away(db: Database) -> None:
    store = DocStore(db, compact_after=1)
    doc_id = await store.create(OWNER, "t")
    elsewhere = Document()
    set_path(elsewhere, "a", 1)  # never stored here
    orphan = set_path(elsewhere, "b", 2)  # depends on the change above
    await store.append_changes(doc_id, orphan)  # a single change: no auto-compaction yet
    with pytest.raises(StoreError, match="dependencies are missing"):
        await store.compact(doc_id)
    await store.append_changes(doc_id, orphan)  # auto-compaction fails quietly
    assert (await store.info(doc_id)).n_changes == 2
