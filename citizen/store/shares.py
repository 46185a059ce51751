"""Shares this household holds for friends: files named by their hash, accounted in SQLite.

Layout: ``<root>/shares/ab/cdef…`` (the share ID split after two hex digits),
``<root>/shares/tmp/`` for writes in progress, ``<root>/shares/corrupt/`` for
files that failed their hash check. A share is stored when, and only when,
its ``held_shares`` row is committed; the file is made durable first (write
to a temp file, fsync, rename, fsync the directory), so a crash leaves at
most a temp file or an unreferenced file, both removed by `cleanup()` at
start-up. Rows are per owning household: two friends storing identical bytes
each pay quota for them, and the file goes when the last row does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from citizen.errors import NotFoundError, QuotaError, RemoteProtocolError, StoreError
from citizen.ids import HouseholdId, ShareId
from citizen.store.db import Database

log = logging.getLogger(__name__)

_SHARE_ID = re.compile(r"[0-9a-f]{64}")
_READ_CHUNK = 256 * 1024


class ShareHashMismatchError(RemoteProtocolError):
    """The bytes a friend sent do not hash to the share ID they claimed."""

    code = "bad_hash"


class CorruptShareFileError(StoreError):
    """A share file on our disk no longer matches its hash; it was set aside."""

    code = "corrupt_share"


def share_id_of(data: bytes | memoryview) -> ShareId:
    """Hex BLAKE2b-256 of a share (the same hash `citizen.objects.segments.share_hash` makes)."""
    return ShareId(hashlib.blake2b(data, digest_size=32).hexdigest())


def proof_for(nonce: bytes, data: bytes | memoryview) -> bytes:
    """Answer to a storage challenge: BLAKE2b-256(nonce || share).

    The nonce is fresh per challenge, so only a holder of the bytes can answer.
    """
    h = hashlib.blake2b(digest_size=32)
    h.update(nonce)
    h.update(data)
    return h.digest()


def corrupt_proof(nonce: bytes, share_id: str) -> bytes:
    """What a holder answers a challenge with for a share whose file is damaged.

    The owner computes it too (it knows the nonce and the share ID), so it
    reports the share as bad even without a local copy to check proofs against.
    """
    h = hashlib.blake2b(digest_size=32, person=b"citizen-corrupt")
    h.update(nonce)
    h.update(share_id.encode())
    return h.digest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ShareStore:
    """Friends' shares on this device's disk, with per-owner quota accounting.

    Call `cleanup()` once at start-up, before serving friends.
    """

    def __init__(self, root_dir: Path, db: Database) -> None:
        self._dir = root_dir / "shares"
        self._tmp = self._dir / "tmp"
        self._corrupt = self._dir / "corrupt"
        self._db = db
        # one lock per share ID in use, so a put, a delete and a quarantine of
        # the same file never interleave; different shares proceed in parallel
        self._locks: dict[str, tuple[trio.Lock, list[int]]] = {}

    def path_of(self, share_id: str) -> Path:
        return self._dir / share_id[:2] / share_id[2:]

    @asynccontextmanager
    async def _locked(self, share_id: str) -> AsyncIterator[None]:
        entry = self._locks.get(share_id)
        if entry is None:
            entry = self._locks[share_id] = (trio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[share_id]

    # -- start-up -----------------------------------------------------------------

    async def cleanup(self) -> int:
        """Remove temp files and share files no row refers to (crash leftovers).

        Returns:
            how many files were removed.
        """
        referenced = await self._db.run(
            lambda c: {row[0] for row in c.execute("SELECT DISTINCT share_id FROM held_shares")}
        )
        return await trio.to_thread.run_sync(self._sweep, referenced)

    def _sweep(self, referenced: set[str]) -> int:
        for d in (self._dir, self._tmp, self._corrupt):
            d.mkdir(parents=True, exist_ok=True)
        removed = 0
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        for sub in self._dir.iterdir():
            if sub.name in ("tmp", "corrupt") or not sub.is_dir():
                continue
            for f in sub.iterdir():
                if sub.name + f.name not in referenced:
                    f.unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("removed %d leftover share files from %s", removed, self._dir)
        return removed

    # -- writes -------------------------------------------------------------------

    async def put(
        self, owner: HouseholdId, share_id: ShareId, data: bytes, quota_bytes: int
    ) -> None:
        """Store a share for `owner`, durably; idempotent for the same (owner, share).

        Raises:
            ShareHashMismatchError: `data` does not hash to `share_id`.
            QuotaError: it would take `owner` past `quota_bytes`; nothing is stored.
        """
        actual = await trio.to_thread.run_sync(share_id_of, data)
        if actual != share_id:
            raise ShareHashMismatchError(
                f"Share {str(share_id)[:16]}… does not match its bytes (they hash to"
                f" {actual[:16]}…).",
                "The sender's copy is corrupt; it should send another share.",
            )
        size = len(data)
        now = int(time.time())

        def check(c: sqlite3.Connection) -> tuple[bool, int]:
            mine = c.execute(
                "SELECT 1 FROM held_shares WHERE owner = ? AND share_id = ?", (owner, share_id)
            ).fetchone()
            (used,) = c.execute(
                "SELECT COALESCE(SUM(size), 0) FROM held_shares WHERE owner = ?", (owner,)
            ).fetchone()
            return mine is not None, int(used)

        def record(c: sqlite3.Connection) -> None:
            mine, used = check(c)
            if mine:
                return
            self._check_quota(owner, used, size, quota_bytes)
            c.execute(
                "INSERT INTO held_shares (owner, share_id, size, stored_at) VALUES (?, ?, ?, ?)",
                (owner, share_id, size, now),
            )

        async with self._locked(share_id):
            mine, used = await self._db.run(check)
            if mine:
                return
            self._check_quota(owner, used, size, quota_bytes)
            # always (re)write: identical bytes from two owners are vanishingly
            # rare (keys are per object), and this also heals a damaged old copy
            await trio.to_thread.run_sync(self._write_file, share_id, data)
            try:
                # the authoritative quota check: puts for other shares of the
                # same owner may have committed since the pre-check above
                await self._db.transaction(record)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await self._unlink_if_unreferenced(share_id)
                raise

    @staticmethod
    def _check_quota(owner: str, used: int, size: int, quota_bytes: int) -> None:
        if used + size > quota_bytes:
            raise QuotaError(
                f"Household {owner} uses {used} of the {quota_bytes} bytes offered to it;"
                f" a {size}-byte share does not fit.",
                "The owner should place this share with another friend,"
                " or this household can offer it more storage.",
            )

    def _write_file(self, share_id: str, data: bytes) -> None:
        final = self.path_of(share_id)
        self._tmp.mkdir(parents=True, exist_ok=True)
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self._dir)
        tmp = self._tmp / f"{share_id}.{os.urandom(6).hex()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)

    async def _unlink_if_unreferenced(self, share_id: str) -> None:
        referenced = await self._db.run(
            lambda c: c.execute(
                "SELECT 1 FROM held_shares WHERE share_id = ? LIMIT 1", (share_id,)
            ).fetchone()
        )
        if referenced is None:
            await trio.to_thread.run_sync(self._unlink, share_id)

    def _unlink(self, share_id: str) -> None:
        path = self.path_of(share_id)
        path.unlink(missing_ok=True)
        if path.parent.is_dir():
            _fsync_dir(path.parent)

    async def delete(self, owner: HouseholdId, share_ids: Iterable[ShareId]) -> int:
        """Forget `owner`'s rows for these shares; files no one else holds are removed.

        Unknown share IDs are ignored. Returns how many of `owner`'s shares were deleted.
        """
        deleted = 0
        for share_id in sorted(set(share_ids)):
            if not _SHARE_ID.fullmatch(share_id):
                continue
            async with self._locked(share_id):

                def drop(c: sqlite3.Connection, share_id: str = share_id) -> int:
                    return c.execute(
                        "DELETE FROM held_shares WHERE owner = ? AND share_id = ?",
                        (owner, share_id),
                    ).rowcount

                count = await self._db.transaction(drop)
                if count:
                    deleted += count
                    # a crash here leaves an unreferenced file: cleanup() sweeps it
                    await self._unlink_if_unreferenced(share_id)
        return deleted

    # -- reads --------------------------------------------------------------------

    async def used_by(self, owner: HouseholdId) -> int:
        """Bytes stored for `owner` (what counts against its quota)."""
        (used,) = await self._db.run(
            lambda c: c.execute(
                "SELECT COALESCE(SUM(size), 0) FROM held_shares WHERE owner = ?", (owner,)
            ).fetchone()
        )
        return int(used)

    async def held_for(
        self, owner: HouseholdId, after: ShareId | None = None, limit: int | None = None
    ) -> list[ShareId]:
        """Share IDs held for `owner`, sorted, those after `after`, at most `limit`."""
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT share_id FROM held_shares WHERE owner = ? AND share_id > ?"
                " ORDER BY share_id LIMIT ?",
                (owner, after or "", -1 if limit is None else limit),
            ).fetchall()
        )
        return [ShareId(r[0]) for r in rows]

    async def _is_recorded(self, share_id: str) -> bool:
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT 1 FROM held_shares WHERE share_id = ? LIMIT 1", (share_id,)
            ).fetchone()
        )
        return row is not None

    async def get(self, share_id: ShareId) -> bytes:
        """The bytes of a held share, verified against its ID.

        Raises:
            NotFoundError: not held here.
            CorruptShareFileError: the file no longer matches; it was set aside
                and forgotten, so the owner's next check sees it missing and repairs.
        """
        if not _SHARE_ID.fullmatch(share_id) or not await self._is_recorded(share_id):
            raise NotFoundError(f"Share {share_id[:16]}… is not held here.")
        try:
            data = await trio.to_thread.run_sync(self.path_of(share_id).read_bytes)
        except FileNotFoundError:
            await self._lost(share_id, "its file is missing")
            raise NotFoundError(
                f"Share {share_id[:16]}… is recorded but its file is gone."
            ) from None
        if await trio.to_thread.run_sync(share_id_of, data) != share_id:
            await self._lost(share_id, "its file does not match its hash")
            raise CorruptShareFileError(
                f"Share {share_id[:16]}… is corrupt on this disk and was set aside.",
                "Check the disk (SMART, dmesg); the owner will re-place the share.",
            )
        return data

    async def prove(self, share_ids: Iterable[ShareId], nonce: bytes) -> list[bytes]:
        """One `proof_for(nonce, share)` per share ID, in order; b"" where not held.

        A file that no longer matches its hash is answered with `corrupt_proof`
        (so the owner reports the share as bad, not missing) and then set aside,
        like `get` does.
        """
        out: list[bytes] = []
        for share_id in share_ids:
            if not _SHARE_ID.fullmatch(share_id) or not await self._is_recorded(share_id):
                out.append(b"")
                continue
            result = await trio.to_thread.run_sync(self._prove_file, share_id, nonce)
            if result is None:
                await self._lost(share_id, "its file is missing")
                out.append(b"")
            elif result[0] != share_id:
                await self._lost(share_id, "its file does not match its hash")
                out.append(corrupt_proof(nonce, share_id))
            else:
                out.append(result[1])
        return out

    def _prove_file(self, share_id: str, nonce: bytes) -> tuple[str, bytes] | None:
        whole = hashlib.blake2b(digest_size=32)
        proof = hashlib.blake2b(digest_size=32)
        proof.update(nonce)
        try:
            with open(self.path_of(share_id), "rb") as f:
                while chunk := f.read(_READ_CHUNK):
                    whole.update(chunk)
                    proof.update(chunk)
        except FileNotFoundError:
            return None
        return whole.hexdigest(), proof.digest()

    async def _lost(self, share_id: str, why: str) -> None:
        """Report a damaged share, move its file aside and forget every row of it."""
        async with self._locked(share_id):
            # a put may have rewritten a good copy since we read the bad one
            now = await trio.to_thread.run_sync(self._prove_file, share_id, b"")
            if now is not None and now[0] == share_id:
                return
            log.warning("share %s is lost: %s; setting it aside", share_id, why)
            await trio.to_thread.run_sync(self._quarantine, share_id)
            await self._db.transaction(
                lambda c: c.execute("DELETE FROM held_shares WHERE share_id = ?", (share_id,))
            )

    def _quarantine(self, share_id: str) -> None:
        path = self.path_of(share_id)
        self._corrupt.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, self._corrupt / f"{share_id}.{int(time.time())}")
        except FileNotFoundError:
            pass
