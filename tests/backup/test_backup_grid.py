"""Disaster recovery on an in-process grid: a household loses its device and gets everything back.

Moved from tests/e2e/test_recovery.py, which keeps the same flow through the
CLI (`key backup --sheet`, `init --recover --sheet`, `restore`) with one friend.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from citizen.testing.datadir import recover_data_dir
from citizen.testing.grid import Grid, GridNode, open_grid


async def _backup_everywhere(
    grid: Grid, h: GridNode, households: set[str], version: int | None = None
) -> int:
    """Until every household in `households` holds a backup (newer than `version`)."""

    async def done() -> int | None:
        status = await h.backup.status()
        current = {f["household"] for f in status["friends"] if f["current"]}  # type: ignore[attr-defined]
        newer = version is None or int(status["version"] or 0) > version  # type: ignore[call-overload]
        if status["version"] and households <= current and newer:
            return int(status["version"])  # type: ignore[call-overload]
        return None

    return await grid.wait_until(done, "the backup to reach the friends", 120)


async def test_recover_from_friends_with_only_the_phrase(tmp_path: Path) -> None:
    async with open_grid(
        4,
        tmp_path,
        names=["home", "f1", "f2", "f3"],
        pairing="star",
        # three friends hold 2-of-3 shares of each object
        configs={"home": {"k": 2, "n": 3, "happiness": 3}},
    ) as grid:
        h, f1, f2, f3 = grid.nodes
        households = {f.household_id for f in (f1, f2, f3)}

        docs = [str((await h.docs.create(f"doc {i}"))["doc_id"]) for i in range(3)]
        for i, doc in enumerate(docs):
            await h.docs.set(doc, "n", i)
            await h.docs.set(doc, "items", [])
            await h.docs.append(doc, "items", "first")
        await h.docs.share(docs[0], "f1", "writer")
        files: dict[str, bytes] = {}
        sizes = [10, 200_000, 1_500_000] + [1000 * (i + 1) for i in range(17)]
        for i, size in enumerate(sizes):  # 20 files
            data = os.urandom(size)
            files[str((await h.put_bytes(data, f"file{i}.bin"))["object_id"])] = data
        first = await _backup_everywhere(grid, h, households)

        # f1 goes away and keeps the older backup; the others get a newer one
        f1_port = f1.port
        await grid.stop(f1)
        await h.docs.append(docs[1], "items", "after f1 left")
        await h.docs.set(docs[2], "late", True)
        expected = {doc: await h.docs.show(doc) for doc in docs}
        # a backup now seals everything committed so far; wait until f2 and f3 hold it
        latest = int((await h.backup.backup_now())["version"])  # type: ignore[call-overload]
        assert latest > first
        await _backup_everywhere(grid, h, households - {f1.household_id}, latest - 1)
        sheet = await h.recovery_sheet()
        household = h.household_id

        # disaster: the device and its data dir are gone
        await grid.stop(h)
        shutil.rmtree(h.data_dir)
        await grid.start(f1, port=f1_port)  # back where the sheet says it is

        cert = recover_data_dir(tmp_path / "new-home", sheet)
        assert cert.household == household and len(sheet.peers) == 3
        new = grid.adopt("new-home", tmp_path / "new-home")
        await grid.start(new)

        async def recovered() -> bool:
            return not (await new.backup.status())["recovering"]

        await grid.wait_until(recovered, "recovery to finish", 120)
        assert new.household_id == household
        assert {f["household"] for f in await new.friends.list_json()} == households
        for doc, before in expected.items():
            after = await new.docs.show(doc)
            assert after["value"] == before["value"]
            assert after["heads"] == before["heads"]
        # every object comes back: one fetched on first use, then all with a restore
        for f in (f1, f2, f3):
            await grid.wait_until(
                lambda f=f: new.is_online(f), f"{f.name} online at the new device"
            )
        listed = {o["object_id"] for o in await new.objects.list()}
        assert listed == set(files)
        lazy = sorted(files)[0]
        assert await new.get_bytes(lazy) == files[lazy]
        before_restore = await new.objects.list()
        restored = await new.objects.restore_all()
        assert set(restored["restored"]) == set(files), before_restore  # type: ignore[call-overload]
        assert not restored["failed"]
        for object_id, data in files.items():
            assert await new.get_bytes(object_id) == data
        assert all(o["local"] for o in await new.objects.list())
        # the shared doc keeps replicating with the friend after recovery
        await new.docs.set(docs[0], "after_recovery", True)

        async def at_f1() -> bool:
            value = await f1.doc_value(docs[0])
            return isinstance(value, dict) and value.get("after_recovery") is True

        await grid.wait_until(at_f1, "f1 to get a change made after recovery")
