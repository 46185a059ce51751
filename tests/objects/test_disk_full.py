"""A full disk is a typed "disk full", at warning level, with nothing half-stored.

Before: a friend whose disk filled while storing a share logged it at debug
and reset the stream (the owner saw "stream broke"), and an owner's put that
hit ENOSPC answered "internal error".
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest
import trio

from citizen.api.client import LocalClient
from citizen.errors import DiskFullError, StoreError
from citizen.ids import ObjectId
from citizen.objects.codec import StoreCode, StoreResult, StoreShare
from citizen.objects.server import Friends, ObjectsServer
from citizen.store import shares as shares_module
from citizen.store.db import Database
from citizen.store.disk import find_disk_full
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareStore, share_id_of
from citizen.testing.grid import GridNode, open_grid
from tests.objects.test_server import ALICE, OID, _Friends

TMPFS_BYTES = 256 * 1024


def _store(data: bytes) -> StoreShare:
    return StoreShare(ALICE, share_id_of(data), OID, 0, 0, data)


async def _server(shares_root: Path, db_dir: Path) -> tuple[ObjectsServer, ShareStore, Database]:
    db = await Database.open(db_dir / "citizen.db")
    shares = ShareStore(shares_root, db)
    await shares.cleanup()
    friends = cast(Friends, _Friends())
    return ObjectsServer(shares, LocalObjects(db_dir, db), friends, 10**9), shares, db


def _leftovers(root: Path) -> list[Path]:
    return [p for p in (root / "shares").rglob("*") if p.is_file()]


async def _check_full_then_fine(root: Path, db_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="citizen.objects.server")
    server, shares, db = await _server(root, db_dir)
    try:
        big = os.urandom(4 * TMPFS_BYTES)
        reply = await server.answer(ALICE, _store(big))
        assert isinstance(reply, StoreResult) and reply.code is StoreCode.STORE
        assert "disk full" in reply.message
        # at the default log level, naming the friend it was for
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("disk is full" in m for m in warned)
        assert _leftovers(root) == []
        assert await shares.held_for(ALICE) == []
        small = os.urandom(1000)
        assert await server.answer(ALICE, _store(small)) == StoreResult(
            share_id_of(small), StoreCode.OK
        )
    finally:
        db.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> AsyncIterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the injected-ENOSPC test covers the rest")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_friends_full_disk_answers_disk_full_and_keeps_nothing(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await _check_full_then_fine(small_disk, tmp_path, caplog)


async def test_enospc_at_the_write_answers_disk_full_and_keeps_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_size > TMPFS_BYTES:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(shares_module.os, "fsync", fsync)
    await _check_full_then_fine(tmp_path / "root", tmp_path, caplog)


def test_a_full_disk_is_found_under_a_store_error_and_in_a_group() -> None:
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    try:
        raise StoreError("could not commit") from sqlite_full
    except StoreError as wrapped:
        assert find_disk_full(wrapped) is sqlite_full
    enospc = OSError(errno.ENOSPC, "No space left on device")
    assert find_disk_full(ExceptionGroup("put", [ValueError(), enospc])) is enospc
    assert find_disk_full(DiskFullError("full")) is not None
    assert find_disk_full(OSError(errno.EACCES, "denied")) is None


async def _api_put(data_dir: Path, size: int) -> tuple[int, dict[str, object]]:
    def put() -> tuple[int, dict[str, object]]:
        conn = LocalClient(data_dir)._open()
        try:
            conn.request("POST", "/v1/objects?name=big.bin", body=os.urandom(size))
            answer = conn.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            conn.close()

    return await trio.to_thread.run_sync(put)


async def _check_owner_put(node: GridNode, caplog: pytest.LogCaptureFixture) -> None:
    status, body = await _api_put(node.data_dir, 4 * TMPFS_BYTES)
    assert status == 507, body
    assert body["error"] == "disk_full" and "Free space" in str(body["hint"])
    assert any(
        r.levelno >= logging.WARNING and "disk is full" in r.getMessage() for r in caplog.records
    )
    tmp = node.data_dir / "objects" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    assert node.running and await node.objects.list() == []


async def test_an_owners_put_on_a_full_disk_is_507_disk_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the injected-ENOSPC test covers the rest")
    caplog.set_level(logging.INFO, logger="citizen.api.app")
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]
        objects = a.data_dir / "objects"
        objects.mkdir(exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(objects)],
            check=True,
        )
        try:
            await _check_owner_put(a, caplog)
        finally:
            subprocess.run(["umount", "-l", str(objects)], check=False)


async def test_an_owners_put_hitting_enospc_is_507_disk_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="citizen.api.app")
    real_open_temp = LocalObjects.open_temp

    class _Full:
        def __init__(self, f: BinaryIO) -> None:
            self._f = f

        def write(self, _data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self._f, name)

    def open_temp(self: LocalObjects, object_id: ObjectId) -> tuple[Path, BinaryIO]:
        path, f = real_open_temp(self, object_id)
        return path, cast(BinaryIO, _Full(f))

    monkeypatch.setattr(LocalObjects, "open_temp", open_temp)
    async with open_grid(1, tmp_path, pairing="none") as grid:
        await _check_owner_put(grid.nodes[0], caplog)
