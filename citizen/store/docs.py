"""Where a doc is stored: Automerge snapshots plus append-only change logs in SQLite, and grants.

A doc on disk is its snapshot followed by its change log (`doc_changes` in
seq order); `Document.load` accepts exactly that concatenation. A change is
durable once `append_changes` returns (one transaction, `synchronous=FULL`),
and only then may it be acknowledged. `compact` folds the log into a new
snapshot in one transaction, automatically once the log passes
`compact_after` changes. `DocCache` keeps the live `Document` objects so the
replication hot path never reloads from SQLite.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import trio
from automerge.core import Document

from citizen.errors import NotFoundError, RemoteProtocolError, StoreError, UsageError
from citizen.identity.grants import Grant, verify_grant
from citizen.ids import DocId, HouseholdId, new_doc_id, parse_doc_id
from citizen.store.db import Database

log = logging.getLogger(__name__)

DEFAULT_COMPACT_AFTER = 1000
MAX_TITLE_LEN = 200


@dataclass(frozen=True, slots=True)
class DocInfo:
    """What `citizen doc list` shows about a doc.

    Attributes:
        doc_id: the doc.
        owner: the household that owns it (ours, or the friend who shared it).
        title: local label, not replicated.
        updated: when a change was last stored here (UTC).
        n_changes: changes in the log since the last snapshot.
    """

    doc_id: DocId
    owner: HouseholdId
    title: str
    updated: datetime
    n_changes: int


def _now_ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


def _load_bytes(doc_id: DocId, data: bytes) -> Document:
    try:
        return Document.load(data)
    except Exception as exc:  # the bindings raise bare Exception
        raise StoreError(
            f"Doc {doc_id} is stored but cannot be loaded: {exc}.",
            "Delete it here and let a friend or another device sync it back.",
        ) from exc


def _stored_parts(conn: sqlite3.Connection, doc_id: DocId) -> tuple[bytes, list[bytes]]:
    """Snapshot and change log (in order) of a live doc."""
    row = conn.execute(
        "SELECT snapshot, log_len FROM docs WHERE doc_id = ? AND deleted = 0", (doc_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"There is no doc {doc_id} here.", "See `citizen doc list`.")
    snapshot, log_len = bytes(row[0]), int(row[1])
    if log_len == 0:
        return snapshot, []
    changes = conn.execute(
        "SELECT change FROM doc_changes WHERE doc_id = ? ORDER BY seq", (doc_id,)
    ).fetchall()
    return snapshot, [bytes(c[0]) for c in changes]


def _info(row: tuple[object, ...]) -> DocInfo:
    doc_id, owner, title, updated, log_len = row
    assert isinstance(doc_id, str) and isinstance(owner, str) and isinstance(title, str)
    assert isinstance(updated, int) and isinstance(log_len, int)
    return DocInfo(
        doc_id=DocId(doc_id),
        owner=HouseholdId(owner),
        title=title,
        updated=datetime.fromtimestamp(updated / 1000, UTC),
        n_changes=log_len,
    )


def _grant(raw: bytes) -> Grant:
    try:
        return verify_grant(raw)
    except RemoteProtocolError as exc:
        raise StoreError(f"A stored grant is corrupt: {exc.message}", "Issue it again.") from exc


class DocStore:
    """Docs and grants in the daemon's database.

    Args:
        db: the daemon's database.
        compact_after: fold the change log into the snapshot past this many changes.
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        db: Database,
        *,
        compact_after: int = DEFAULT_COMPACT_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._compact_after = compact_after
        self._clock = clock
        self._uncompactable: set[DocId] = set()

    # -- docs -----------------------------------------------------------------------

    async def create(
        self, owner: HouseholdId, title: str = "", *, doc_id: DocId | None = None
    ) -> DocId:
        """Store a new, empty doc (its root map has no keys).

        Pass `doc_id` to open a local replica of a friend's doc, which sync fills.

        Raises:
            UsageError: the title is too long, or `doc_id` is taken (or was deleted here).
        """
        if len(title) > MAX_TITLE_LEN:
            raise UsageError(f"A doc title is at most {MAX_TITLE_LEN} characters.")
        new_id = new_doc_id() if doc_id is None else parse_doc_id(doc_id)
        snapshot = Document().save()
        now = _now_ms(self._clock)

        def insert(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM docs WHERE doc_id = ?", (new_id,)).fetchone():
                raise UsageError(
                    f"Doc {new_id} already exists here (or was deleted here).",
                    "Use another doc ID.",
                )
            conn.execute(
                "INSERT INTO docs (doc_id, owner, title, snapshot, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (new_id, owner, title, snapshot, now, now),
            )

        await self._db.transaction(insert)
        return new_id

    async def load(self, doc_id: DocId) -> Document:
        """The doc as stored: snapshot plus every change in the log.

        Raises:
            NotFoundError: no such doc, or it was deleted.
            StoreError: the stored bytes do not load.
        """

        def read(conn: sqlite3.Connection) -> Document:
            snapshot, log = _stored_parts(conn, doc_id)
            return _load_bytes(doc_id, snapshot + b"".join(log))

        return await self._db.run(read)

    async def append_changes(self, doc_id: DocId, changes: list[bytes]) -> None:
        """Append encoded changes to the doc's log; durable when this returns.

        Compacts afterwards once the log is longer than `compact_after`.

        Raises:
            NotFoundError: no such doc, or it was deleted.
        """
        if not changes:
            return
        now = _now_ms(self._clock)

        def append(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT log_len FROM docs WHERE doc_id = ? AND deleted = 0", (doc_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"There is no doc {doc_id} here.", "See `citizen doc list`.")
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM doc_changes WHERE doc_id = ?", (doc_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO doc_changes (doc_id, seq, change) VALUES (?, ?, ?)",
                [(doc_id, last + i, bytes(c)) for i, c in enumerate(changes, start=1)],
            )
            log_len = int(row[0]) + len(changes)
            conn.execute(
                "UPDATE docs SET log_len = ?, updated = ? WHERE doc_id = ?",
                (log_len, now, doc_id),
            )
            return log_len

        log_len = await self._db.transaction(append)
        if log_len > self._compact_after and doc_id not in self._uncompactable:
            # The changes are committed; a failed compaction must not look
            # like a failed append, and is not retried until restart.
            try:
                await self.compact(doc_id)
            except StoreError as exc:
                self._uncompactable.add(doc_id)
                log.warning("not compacting doc %s: %s", doc_id, exc)

    async def compact(self, doc_id: DocId) -> bool:
        """Fold the change log into a new snapshot, atomically.

        Returns:
            False if the log was already empty.

        Raises:
            NotFoundError: no such doc, or it was deleted.
            StoreError: the stored bytes do not load, or some stored changes lack
                their dependencies (nothing is changed then).
        """

        def fold(conn: sqlite3.Connection) -> bool:
            snapshot, log = _stored_parts(conn, doc_id)
            if not log:
                return False
            # Document.load silently drops changes whose dependencies are
            # missing; folding them away would lose them for good.
            base_heads = _load_bytes(doc_id, snapshot).get_heads()
            doc = _load_bytes(doc_id, snapshot + b"".join(log))
            if len(doc.get_changes(base_heads)) < len(set(log)):
                raise StoreError(
                    f"Doc {doc_id} has stored changes whose dependencies are missing;"
                    " it was not compacted.",
                    "Sync it with a friend or another device to fetch them.",
                )
            snapshot = doc.save()
            conn.execute(
                "UPDATE docs SET snapshot = ?, log_len = 0 WHERE doc_id = ?", (snapshot, doc_id)
            )
            conn.execute("DELETE FROM doc_changes WHERE doc_id = ?", (doc_id,))
            return True

        return await self._db.transaction(fold)

    async def info(self, doc_id: DocId) -> DocInfo:
        """Raises: NotFoundError: no such doc, or it was deleted."""

        def read(conn: sqlite3.Connection) -> DocInfo:
            row = conn.execute(
                "SELECT doc_id, owner, title, updated, log_len FROM docs"
                " WHERE doc_id = ? AND deleted = 0",
                (doc_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"There is no doc {doc_id} here.", "See `citizen doc list`.")
            return _info(tuple(row))

        return await self._db.run(read)

    async def list_docs(self) -> list[DocInfo]:
        """Every live doc, most recently updated first."""

        def read(conn: sqlite3.Connection) -> list[DocInfo]:
            rows = conn.execute(
                "SELECT doc_id, owner, title, updated, log_len FROM docs WHERE deleted = 0"
                " ORDER BY updated DESC, doc_id"
            ).fetchall()
            return [_info(tuple(r)) for r in rows]

        return await self._db.run(read)

    async def set_title(self, doc_id: DocId, title: str) -> None:
        """Raises: UsageError: too long. NotFoundError: no such doc."""
        if len(title) > MAX_TITLE_LEN:
            raise UsageError(f"A doc title is at most {MAX_TITLE_LEN} characters.")

        def update(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE docs SET title = ? WHERE doc_id = ? AND deleted = 0", (title, doc_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"There is no doc {doc_id} here.", "See `citizen doc list`.")

        await self._db.transaction(update)

    async def delete(self, doc_id: DocId) -> None:
        """Delete the doc's contents and grants; a tombstone row stays behind.

        Raises:
            NotFoundError: no such doc, or it was already deleted.
        """
        now = _now_ms(self._clock)

        def remove(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE docs SET deleted = 1, snapshot = ?, log_len = 0, updated = ?"
                " WHERE doc_id = ? AND deleted = 0",
                (b"", now, doc_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"There is no doc {doc_id} here.", "See `citizen doc list`.")
            conn.execute("DELETE FROM doc_changes WHERE doc_id = ?", (doc_id,))
            conn.execute("DELETE FROM grants WHERE doc_id = ?", (doc_id,))

        await self._db.transaction(remove)

    # -- grants ---------------------------------------------------------------------

    async def put_grant(self, grant: Grant) -> bool:
        """Store a verified grant (or revocation) unless a newer one is stored.

        Returns:
            True if stored, False if the stored statement is newer.
        """
        row = (
            grant.doc_id,
            grant.friend_household,
            grant.owner_household,
            grant.role,
            int(grant.revoked),
            grant.issued,
            grant.raw,
        )

        def upsert(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT INTO grants (doc_id, friend, owner, role, revoked, issued, signed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (doc_id, friend) DO UPDATE SET owner = excluded.owner,"
                " role = excluded.role, revoked = excluded.revoked, issued = excluded.issued,"
                " signed = excluded.signed WHERE excluded.issued >= grants.issued",
                row,
            )
            return cur.rowcount > 0

        return await self._db.transaction(upsert)

    async def get_grant(self, doc_id: DocId, friend: HouseholdId) -> Grant | None:
        """The stored statement for (doc, friend), revoked or not, or None."""

        def read(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT signed FROM grants WHERE doc_id = ? AND friend = ?", (doc_id, friend)
            ).fetchone()
            return None if row is None else bytes(row[0])

        raw = await self._db.run(read)
        return None if raw is None else _grant(raw)

    async def list_grants(
        self,
        *,
        doc_id: DocId | None = None,
        friend: HouseholdId | None = None,
        include_revoked: bool = False,
    ) -> list[Grant]:
        """Stored grants, filtered by doc and/or friend, ordered by doc then friend."""

        def read(conn: sqlite3.Connection) -> list[bytes]:
            rows = conn.execute(
                "SELECT signed FROM grants WHERE (? IS NULL OR doc_id = ?)"
                " AND (? IS NULL OR friend = ?) AND (? OR revoked = 0)"
                " ORDER BY doc_id, friend",
                (doc_id, doc_id, friend, friend, int(include_revoked)),
            ).fetchall()
            return [bytes(r[0]) for r in rows]

        return [_grant(raw) for raw in await self._db.run(read)]

    async def delete_grant(self, doc_id: DocId, friend: HouseholdId) -> bool:
        """Forget the statement for (doc, friend); True if there was one."""

        def remove(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM grants WHERE doc_id = ? AND friend = ?", (doc_id, friend)
            )
            return cur.rowcount > 0

        return await self._db.transaction(remove)

    async def delete_friend_grants(self, friend: HouseholdId) -> int:
        """Forget every grant to or from `friend` (removing a friend); returns how many."""

        def remove(conn: sqlite3.Connection) -> int:
            cur = conn.execute("DELETE FROM grants WHERE friend = ? OR owner = ?", (friend, friend))
            return cur.rowcount

        return await self._db.transaction(remove)


class DocCache:
    """The live `Document` of each doc in use, loaded once from the store.

    Replication sessions and the local API share these objects; a local
    mutation goes through `mutate`, which persists before it returns.
    """

    def __init__(self, store: DocStore) -> None:
        self._store = store
        self._docs: dict[DocId, Document] = {}
        self._locks: dict[DocId, trio.Lock] = {}
        #: awaited after each committed local mutation (replication, backups, events)
        self.on_local_change: list[Callable[[DocId], Awaitable[None]]] = []

    async def get(self, doc_id: DocId) -> Document:
        """The cached doc, loading it on first use (concurrent callers share one load).

        Raises:
            NotFoundError: no such doc, or it was deleted.
        """
        doc = self._docs.get(doc_id)
        if doc is not None:
            return doc
        lock = self._locks.setdefault(doc_id, trio.Lock())
        async with lock:
            doc = self._docs.get(doc_id)
            if doc is None:
                doc = await self._store.load(doc_id)
                self._docs[doc_id] = doc
        return doc

    def peek(self, doc_id: DocId) -> Document | None:
        """The cached doc, or None if it is not loaded."""
        return self._docs.get(doc_id)

    def evict(self, doc_id: DocId) -> None:
        """Drop the cached doc (deleted, or memory ahead of disk after a failed write)."""
        self._docs.pop(doc_id, None)
        self._locks.pop(doc_id, None)

    async def mutate(self, doc_id: DocId, edit: Callable[[Document], list[bytes]]) -> list[bytes]:
        """Apply `edit` (e.g. a `docvalues` mutation) and persist the changes it returns.

        Returns only once the changes are committed to disk. If persisting
        fails the cached doc is evicted, so memory never stays ahead of disk.
        """
        doc = await self.get(doc_id)
        changes = edit(doc)
        await self.persist(doc_id, changes)
        if changes:
            for listener in self.on_local_change:
                await listener(doc_id)
        return changes

    async def persist(self, doc_id: DocId, changes: list[bytes]) -> None:
        """Commit changes already applied to the cached doc (e.g. from a sync)."""
        try:
            await self._store.append_changes(doc_id, changes)
        except BaseException:
            self.evict(doc_id)
            raise
