"""Recovery with the phrase and one friend's fresh invite, no recovery sheet, on the grid.

The friend recognises the household (the new device's certificate chains to a
household it already trusts), welcomes it back instead of refusing the
pairing, and hands over the sealed backup, which brings back the other
friends (devices and addresses), docs, grants and objects.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from citizen.testing.datadir import RecoverySheet, recover_data_dir
from citizen.testing.grid import Grid, GridNode, open_grid


async def _backup_at(grid: Grid, h: GridNode, households: set[str], version: int) -> None:
    async def done() -> bool:
        status = await h.backup.status()
        current = {f["household"] for f in status["friends"] if f["current"]}  # type: ignore[attr-defined]
        return status["version"] == version and households <= current

    await grid.wait_until(done, "the backup to reach the friends", 120)


async def test_one_friends_invite_brings_the_household_back(tmp_path: Path) -> None:
    async with open_grid(
        3,
        tmp_path,
        names=["home", "f1", "f2"],
        pairing="star",
        configs={"home": {"k": 1, "n": 2, "happiness": 2}},
    ) as grid:
        h, f1, f2 = grid.nodes
        households = {f1.household_id, f2.household_id}
        doc = str((await h.docs.create("Notes"))["doc_id"])
        await h.docs.set(doc, "items", ["first"])
        await h.docs.share(doc, "f2", "writer")
        await h.friends.store.set_offer(f1.household_id, 5 * 1024 * 1024)
        files = {}
        for i, size in enumerate((10, 300_000)):
            data = os.urandom(size)
            files[str((await h.put_bytes(data, f"file{i}.bin"))["object_id"])] = data
        expected = await h.docs.show(doc)
        latest = int((await h.backup.backup_now())["version"])  # type: ignore[call-overload]
        await _backup_at(grid, h, households, latest)
        phrase = (await h.recovery_sheet()).phrase
        household = h.household_id

        # disaster: every device and the recovery sheet are gone; the phrase is left
        await grid.stop(h)
        shutil.rmtree(h.data_dir)
        recover_data_dir(tmp_path / "new-home", RecoverySheet(household, phrase, {}))
        new = grid.adopt("new-home", tmp_path / "new-home")
        await grid.start(new)
        assert not (await new.backup.status())["recovering"]

        invite = await f1.friends.create_invite(600)
        paired = await new.friends.accept(str(invite["code"]), None)
        assert paired["welcomed_back"] is True and paired["household"] == f1.household_id
        # both screens show the same words
        state = await f1.friends.invite_status(str(invite["invite_id"]))
        assert state["sas"] == paired["sas"] and state["household"] == household

        async def recovered() -> bool:
            status = await new.backup.status()
            return not status["recovering"] and status["recovered_version"] == latest

        await grid.wait_until(recovered, "recovery from f1's backup", 120)
        listed = {f["household"]: f for f in await new.friends.list_json()}
        assert set(listed) == households
        assert listed[f1.household_id]["offer_bytes"] == 5 * 1024 * 1024  # as before
        after = await new.docs.show(doc)
        assert after["value"] == expected["value"] and after["heads"] == expected["heads"]
        # f2 never saw an invite: it accepts the new device by its certificate
        for f in (f1, f2):
            await grid.wait_until(lambda f=f: new.is_online(f), f"{f.name} online at new-home")
            await grid.wait_until(lambda f=f: f.is_online(new), f"new-home online at {f.name}")
        restored = await new.objects.restore_all()
        assert set(restored["restored"]) == set(files) and not restored["failed"]  # type: ignore[call-overload]
        for object_id, data in files.items():
            assert await new.get_bytes(object_id) == data
        # the grant came back: f2 gets a change made after recovery
        await new.docs.set(doc, "after_recovery", True)

        async def at_f2() -> bool:
            value = await f2.doc_value(doc)
            return isinstance(value, dict) and value.get("after_recovery") is True

        await grid.wait_until(at_f2, "f2 to get a change made after recovery")
        # f1 still holds one friendship with the household, now with the new device too
        known = [f for f in await f1.friends.list_json() if f["household"] == household]
        assert len(known) == 1
        assert new.device in {d["device"] for d in known[0]["devices"]}  # type: ignore[attr-defined]


async def test_a_welcoming_friend_without_a_backup_stays_a_friend(tmp_path: Path) -> None:
    async with open_grid(2, tmp_path, names=["home", "f1"], pairing="star") as grid:
        h, f1 = grid.nodes
        phrase = (await h.recovery_sheet()).phrase
        household = h.household_id
        await grid.stop(h)
        await f1.backup.backups.drop_held(household)  # f1 never got a backup
        shutil.rmtree(h.data_dir)
        recover_data_dir(tmp_path / "new-home", RecoverySheet(household, phrase, {}))
        new = grid.adopt("new-home", tmp_path / "new-home")
        await grid.start(new)
        invite = await f1.friends.create_invite(600)
        paired = await new.friends.accept(str(invite["code"]), None)
        assert paired["welcomed_back"] is True

        async def settled() -> bool:
            return not (await new.backup.status())["recovering"]

        await grid.wait_until(settled, "recovery to give up on a backup")
        await grid.wait_until(lambda: new.is_online(f1), "f1 online at new-home")
        assert [f["household"] for f in await new.friends.list_json()] == [f1.household_id]
