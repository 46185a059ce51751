"""Local-first puts on the in-process grid: protection as friends come, go and join.

A put is acknowledged with no friend online (``local only``); the repair loop
spreads it when a friend comes, re-encodes it when friends are added, and
reclaims shares no manifest names (an interrupted put, a removal a holder
missed) without `citizen repair`. The k-of-n and the friend losses survived
are the README's table.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio

from citizen.errors import NotProtectedError
from citizen.ids import HouseholdId, new_object_id, random_id_bytes
from citizen.objects import repair as repair_module
from citizen.objects import service as service_module
from citizen.objects.segments import encode_segment, new_object_key
from citizen.testing.datadir import share_files
from citizen.testing.grid import Grid, GridNode, open_grid

SEGMENT = 16 * 1024
CONFIG = {"segment_size": SEGMENT}


@pytest.fixture(autouse=True)
def _quick_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # the loop runs every few seconds and reclaims an orphan when it first sees it
    monkeypatch.setattr(service_module, "REPAIR_EVERY", 2.0)
    monkeypatch.setattr(service_module, "SETTLE", 0.1)
    monkeypatch.setattr(repair_module, "ORPHAN_AGE", 0.0)


async def _listed(owner: GridNode, object_id: str) -> dict[str, object]:
    return next(o for o in await owner.objects.list() if o["object_id"] == object_id)


async def _shape(owner: GridNode, object_id: str) -> tuple[object, ...]:
    o = await _listed(owner, object_id)
    return (o["k"], o["n"], o["protection"], o["survives"])


async def _wait_shape(
    grid: Grid, owner: GridNode, object_id: str, want: tuple[object, ...]
) -> None:
    async def reached() -> bool:
        return await _shape(owner, object_id) == want

    await grid.wait_until(reached, f"{object_id} to be {want}")


async def test_waiting_without_any_friend_answers_at_once(tmp_path: Path) -> None:
    # no friend can protect it: `put --wait` says so instead of waiting out its timeout
    async with open_grid(1, tmp_path, config=CONFIG) as grid:
        [owner] = grid.nodes
        put = await owner.put_bytes(b"alone" * 100, "note.txt")
        with trio.fail_after(120):  # bounds a hang; the wait asked for is an hour
            waited = await owner.objects.wait_protected(str(put["object_id"]), 3600)
        assert (waited["protection"], waited["survives"]) == ("local only", None)


async def test_one_friend_local_only_then_protected_then_evictable(tmp_path: Path) -> None:
    async with open_grid(2, tmp_path, names=["owner", "f0"], pairing="star", config=CONFIG) as grid:
        owner, friend = grid.nodes
        await grid.stop(friend)
        data = random.Random(1).randbytes(5 * SEGMENT + 7)
        put = await owner.put_bytes(data, "photo.jpg")
        object_id = str(put["object_id"])
        assert (put["k"], put["n"], put["protection"], put["survives"]) == (
            1,
            1,
            "local only",
            None,
        )
        assert share_files(friend.data_dir) == []
        assert owner.node.status().objects.local_only == 1  # type: ignore[union-attr]
        with pytest.raises(NotProtectedError) as refused:
            await owner.objects.evict(object_id)
        assert refused.value.hint and (await _listed(owner, object_id))["local"] is True

        await grid.start(friend)
        done = await owner.objects.wait_protected(object_id, 60)
        assert (done["protection"], done["survives"], done["target_survives"]) == (
            "protected",
            0,
            0,
        )
        assert (
            len(share_files(friend.data_dir)) == 6
        )  # the whole object, encrypted, one share a segment
        assert owner.node.status().objects.protected == 1  # type: ignore[union-attr]
        await owner.objects.evict(object_id)
        assert await owner.get_bytes(object_id) == data  # from the friend alone

        # a corrupt share is reported bad, not missing
        await owner.objects.keep_local(object_id)
        target = sorted(share_files(friend.data_dir))[0]
        raw = bytearray(target.read_bytes())
        raw[3] ^= 0xFF
        target.write_bytes(bytes(raw))
        [report] = await owner.objects.verify(object_id)
        [holder] = report["holders"]  # type: ignore[misc]
        assert not report["healthy"]
        assert (len(holder["bad"]), holder["missing"]) == (1, [])


async def test_two_friends_give_one_of_two(tmp_path: Path) -> None:
    async with open_grid(
        3, tmp_path, names=["owner", "f0", "f1"], pairing="star", config=CONFIG
    ) as grid:
        owner, *friends = grid.nodes
        put = await owner.put_bytes(b"x" * (SEGMENT + 1), "a.bin")
        done = await owner.objects.wait_protected(str(put["object_id"]), 60)
        assert (done["k"], done["n"], done["protection"], done["survives"]) == (
            1,
            2,
            "protected",
            1,
        )
        assert {f.household_id for f in friends} == set(done["placement"].values())  # type: ignore[attr-defined]


async def test_three_friends_one_stopped_then_four_and_five_join(tmp_path: Path) -> None:
    names = ["owner", "f0", "f1", "f2"]
    async with open_grid(4, tmp_path, names=names, pairing="star", config=CONFIG) as grid:
        owner, *friends = grid.nodes
        first = str((await owner.put_bytes(random.randbytes(3 * SEGMENT), "one.bin"))["object_id"])
        await _wait_shape(grid, owner, first, (2, 3, "protected", 1))

        # one friend stopped: the put still succeeds, and completes when it returns
        await grid.stop(friends[2])
        data = random.Random(2).randbytes(4 * SEGMENT)
        put = await owner.put_bytes(data, "two.bin")
        second = str(put["object_id"])
        assert (put["k"], put["n"], put["protection"]) == (2, 3, "spreading")
        assert friends[2].household_id not in put["placement"].values()  # type: ignore[attr-defined]
        await grid.start(friends[2])
        await _wait_shape(grid, owner, second, (2, 3, "protected", 1))

        # friends 4 and 5 join: every object is re-encoded by itself, 2-of-4 then 3-of-5
        fourth = await grid.add("f3", CONFIG)
        await grid.pair(owner, fourth)
        for object_id in (first, second):
            await _wait_shape(grid, owner, object_id, (2, 4, "protected", 2))
        fifth = await grid.add("f4", CONFIG)
        await grid.pair(owner, fifth)
        for object_id in (first, second):
            await _wait_shape(grid, owner, object_id, (3, 5, "protected", 2))
        listed = await _listed(owner, second)
        everyone = {f.household_id for f in [*friends, fourth, fifth]}
        assert set(listed["placement"].values()) == everyone  # type: ignore[attr-defined]
        await owner.objects.evict(second)
        assert await owner.get_bytes(second) == data

        # the old encodings' shares are gone: each friend holds one share a segment of each
        async def settled() -> bool:
            return all(len(share_files(f.data_dir)) == 3 + 4 for f in [*friends, fourth, fifth])

        await grid.wait_until(settled, "old shares to be deleted")
        storage = await owner.objects.storage()
        assert storage["protection"] == {"local only": 0, "spreading": 0, "protected": 2}
        assert storage["target"] == {"k": 3, "n": 5, "survives": 2}


async def test_orphans_of_an_interrupted_put_and_a_missed_delete_are_reclaimed(
    tmp_path: Path,
) -> None:
    async with open_grid(2, tmp_path, names=["owner", "f0"], pairing="star", config=CONFIG) as grid:
        owner, friend = grid.nodes
        kept = str((await owner.put_bytes(b"keep me", "kept.txt"))["object_id"])
        await owner.objects.wait_protected(kept, 60)
        gone = str((await owner.put_bytes(b"remove me", "gone.txt"))["object_id"])
        await owner.objects.wait_protected(gone, 60)
        assert len(share_files(friend.data_dir)) == 2

        # a removal while the holder is offline: it keeps the share for now
        await grid.stop(friend)
        removed = await owner.objects.remove(gone)
        assert removed["unreachable"] == [friend.household_id]
        await grid.start(friend)
        await grid.wait_until(
            lambda: len(share_files(friend.data_dir)) == 1,
            "the holder to learn of the missed delete",
        )

        # an interrupted put: shares at the friend that no manifest names
        ctx = owner.objects.context
        async with ctx.transfer() as transfer:
            oid = new_object_id()
            segment = encode_segment(new_object_key(), random_id_bytes(oid), 0, b"half a put", 1, 1)
            outcome = await transfer.store(HouseholdId(friend.household_id), oid, segment, 0)
            assert outcome.ok
        assert len(share_files(friend.data_dir)) == 2
        await grid.wait_until(
            lambda: len(share_files(friend.data_dir)) == 1, "the loop to reclaim the orphan share"
        )
        assert await owner.get_bytes(kept) == b"keep me"
        [report] = await owner.objects.verify(kept)
        assert report["healthy"]
