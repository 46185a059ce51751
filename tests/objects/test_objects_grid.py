"""Objects across friends on an in-process grid: spread, survive, corrupt, repair, re-place, quota.

Moved from tests/e2e/test_objects.py. Segments are 64 KiB here instead of
1 MiB, so an object of 64 segments is 4 MiB, not 64 MiB: every per-segment
and per-share assertion is the same, with a sixteenth of the bytes. Put,
get, verify, repair and rm through the CLI, a kill -9 in the middle of a
put and the memory bound of a 1 GiB put stay process-level in that file.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from citizen.errors import NotProtectedError
from citizen.ids import HouseholdId
from citizen.objects.index import index_doc_id
from citizen.testing.datadir import share_files
from citizen.testing.grid import Grid, GridNode, open_grid

MIB = 1024 * 1024
SEGMENT = 64 * 1024


def _names(friends: int) -> list[str]:
    return ["owner", *(f"f{i}" for i in range(friends))]


async def _entry(owner: GridNode, object_id: str) -> dict[str, object]:
    return next(o for o in await owner.objects.list() if o["object_id"] == object_id)


async def _placement(owner: GridNode, object_id: str) -> dict[str, str]:
    placement = (await _entry(owner, object_id))["placement"]
    assert isinstance(placement, dict)
    return placement


async def _manifest_share_ids(owner: GridNode, object_id: str) -> dict[str, set[str]]:
    """Per holder household: the share IDs its share numbers stand for (read via the doc)."""
    index = index_doc_id(HouseholdId(owner.household_id))
    shown = await owner.docs.show(str(index), f"objects.{object_id}")
    manifest = shown["value"]["manifest"]  # type: ignore[index]
    out: dict[str, set[str]] = {}
    for number, holder in manifest["placement"].items():
        ids = {seg["share_hashes"][int(number)] for seg in manifest["segments"]}
        out.setdefault(holder, set()).update(ids)
    return out


async def _wait_online(grid: Grid, owner: GridNode, friend: GridNode) -> None:
    await grid.wait_until(lambda: owner.is_online(friend), f"{friend.name} online at the owner")


async def test_put_spread_survive_corrupt_and_repair(tmp_path: Path) -> None:
    async with open_grid(
        6, tmp_path, names=_names(5), pairing="star", configs={"owner": {"segment_size": SEGMENT}}
    ) as grid:
        owner, *friends = grid.nodes
        households = {f.household_id: f for f in friends}
        size = 64 * SEGMENT
        data = random.Random(1).randbytes(size)
        put = await owner.put_bytes(data, "in.bin")
        object_id = str(put["object_id"])
        assert put["state"] == "complete" and put["segments"] == 64
        # five friends, all online: 3-of-5, one share each, any two friends may be lost
        assert (put["k"], put["n"], put["protection"], put["survives"]) == (3, 5, "protected", 2)
        placement = put["placement"]
        assert isinstance(placement, dict)
        assert sorted(placement.values()) == sorted(households)

        # every friend holds exactly one share per segment: the ones its share number names
        expected = await _manifest_share_ids(owner, object_id)
        for household, friend in households.items():
            files = share_files(friend.data_dir)
            assert len(files) == 64
            assert {f.parent.name + f.name for f in files} == expected[household]
        # no share file holds plaintext: 256 random 64-byte runs and each segment's start
        shares = [f.read_bytes() for friend in friends for f in share_files(friend.data_dir)]
        rng = random.Random(2)
        needles = [data[p : p + 64] for p in (rng.randrange(size - 64) for _ in range(256))]
        needles += [data[i * SEGMENT : i * SEGMENT + 64] for i in range(64)]
        blob = b"\x00".join(shares)
        assert not any(needle in blob for needle in needles)
        del blob, shares

        # evict the local copy and stop two friends: the bytes come back from the other three
        await owner.objects.evict(object_id)
        assert (await _entry(owner, object_id))["local"] is False
        stopped = [households[placement["3"]], households[placement["4"]]]
        for f in stopped:
            await grid.stop(f)
        assert await owner.get_bytes(object_id) == data
        for f in stopped:
            await grid.start(f)
        for f in stopped:
            await _wait_online(grid, owner, f)

        # flip a byte in one share of the holder of share 0 (always fetched first)
        victim = households[placement["0"]]
        target = sorted(share_files(victim.data_dir))[0]
        raw = bytearray(target.read_bytes())
        raw[100] ^= 0xFF
        target.write_bytes(bytes(raw))
        [report] = await owner.objects.verify(object_id)
        assert not report["healthy"]
        flagged = [h for h in report["holders"] if not h["healthy"]]  # type: ignore[attr-defined]
        assert [h["household"] for h in flagged] == [victim.household_id]
        # no local copy to compare proofs with: the holder itself says the share is damaged
        assert [(len(h["bad"]), h["missing"]) for h in flagged] == [(1, [])]
        assert await owner.get_bytes(object_id) == data
        await owner.objects.repair(None, check=True)
        [report] = await owner.objects.verify(object_id)
        assert report["healthy"], report
        assert target.read_bytes() != bytes(raw)  # the good share is back in place
        assert len(share_files(victim.data_dir)) == 64

        # remove one holder: repair moves its shares to a sixth friend
        sixth = await grid.add("f5")
        await grid.pair(owner, sixth)
        gone = households[placement["2"]]
        await owner.friends.remove(gone.name)

        async def replaced() -> bool:
            return (await _placement(owner, object_id)).get("2") == sixth.household_id

        await grid.wait_until(replaced, "repair to re-place share 2 on the sixth friend")
        assert len(share_files(sixth.data_dir)) == 64
        assert (await _entry(owner, object_id))["state"] == "complete"
        assert await owner.get_bytes(object_id) == data

        # rm: holders drop every share and free the quota
        await owner.objects.remove(object_id)
        assert await owner.objects.list() == []
        for f in [*friends, sixth]:
            if f is not gone:
                assert share_files(f.data_dir) == [], f.name


async def test_quota_refusal_places_elsewhere(tmp_path: Path) -> None:
    # each share number of a 4 MiB object is ~1.33 MiB: past f0's 1 MiB offer
    async with open_grid(
        6, tmp_path, names=_names(5), pairing="star", configs={"f0": {"offer_mib": 1}}
    ) as grid:
        owner, *friends = grid.nodes
        small = friends[0]
        data = random.Random(3).randbytes(4 * MIB)
        put = await owner.put_bytes(data, "in.bin")
        object_id = str(put["object_id"])
        # the small friend refused past its offer, and dropped what it had taken
        held = (await small.objects.storage())["held_for_friends"]
        used = {f["name"]: f["used"] for f in held}  # type: ignore[attr-defined]
        assert used["owner"] == 0
        assert share_files(small.data_dir) == []
        assert small.household_id not in put["placement"].values()  # type: ignore[attr-defined]

        async def all_placed() -> bool:
            return len(await _placement(owner, object_id)) == 5

        await grid.wait_until(all_placed, "repair to place the refused share number elsewhere")
        # four households hold the five share numbers: one loss survived, not the target two,
        # so evicting would be unsafe and is refused
        listed = await _entry(owner, object_id)
        assert (listed["protection"], listed["survives"], listed["target_survives"]) == (
            "spreading",
            1,
            2,
        )
        with pytest.raises(NotProtectedError, match="not protected"):
            await owner.objects.evict(object_id)
        assert await owner.get_bytes(object_id) == data
        assert "Traceback" not in small.log()

        # only two friends with room online: the put is still acknowledged, and spreads later
        for f in friends[1:3]:
            await grid.stop(f)
        for f in friends[1:3]:
            await grid.wait_until(lambda f=f: _offline(owner, f), f"the owner to see {f.name} gone")
        second = await owner.put_bytes(data, "in.bin")
        assert second["protection"] == "spreading"
        assert len(set(second["placement"].values())) == 2  # type: ignore[attr-defined]
        assert len(await owner.objects.list()) == 2


async def _offline(owner: GridNode, friend: GridNode) -> bool:
    return not await owner.is_online(friend)
