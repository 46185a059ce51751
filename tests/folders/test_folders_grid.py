"""A folder on the grid through the real objects service: files spread, restore from friends.

Once protected, the owner's local copies are evicted, so the restore reads the
files back from the friends' shares.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from citizen.api import routes_health
from citizen.errors import NotFoundError, UsageError
from citizen.testing.grid import GridNode, open_grid

CONFIG = {"segment_size": 64 * 1024}


async def test_folder_files_reach_friends_and_restore_from_them(tmp_path: Path) -> None:
    root = tmp_path / "Photos"
    (root / "2024").mkdir(parents=True)
    (root / "2024" / "cat.jpg").write_bytes(b"\x89cat" * 40_000)  # 160 kB: three segments
    (root / "dog.jpg").write_bytes(b"woof" * 1000)
    async with open_grid(
        3, tmp_path, names=["owner", "f0", "f1"], pairing="star", config=CONFIG
    ) as grid:
        owner = grid.nodes[0]
        folders = owner.node.folders
        await folders.add(str(root))
        await folders.scan("Photos")
        versions = await folders.history("Photos", b"2024/cat.jpg")
        object_ids = [str(v["object_id"]) for v in versions]
        for object_id in [
            *object_ids,
            str((await folders.history("Photos", b"dog.jpg"))[0]["object_id"]),
        ]:
            done = await owner.objects.wait_protected(object_id, 60)
            assert done["protection"] == "protected"
        status = await folders.info("Photos")
        assert status["protection"] == {"protected": 2}

        # the owner's local copies go (evict is allowed: protected); restore reads from friends
        for o in await owner.objects.list():
            await owner.objects.evict(str(o["object_id"]))
        out = tmp_path / "back"
        done_restore = await folders.restore("Photos", to=str(out))
        assert done_restore["files"] == 2
        assert (out / "2024" / "cat.jpg").read_bytes() == b"\x89cat" * 40_000
        assert (out / "dog.jpg").read_bytes() == b"woof" * 1000


async def test_the_folder_index_reaches_another_device_which_restores(tmp_path: Path) -> None:
    root = tmp_path / "Docs"
    root.mkdir()
    (root / "plan.txt").write_bytes(b"the plan, version one")
    async with open_grid(
        2, tmp_path, names=["pi", "friend"], pairing="star", config=CONFIG
    ) as grid:
        pi = grid.nodes[0]
        laptop = await grid.enroll(pi, "laptop")
        await pi.node.folders.add(str(root))
        await pi.node.folders.scan("Docs")
        [v] = await pi.node.folders.history("Docs", b"plan.txt")
        await pi.objects.wait_protected(str(v["object_id"]), 60)

        async def on_laptop() -> object:
            try:
                return await laptop.node.folders.history("Docs", b"plan.txt")
            except NotFoundError:
                return None

        # the index doc replicated: the laptop, which never scanned it, has the history
        assert await grid.wait_until(on_laptop, "the folder index on the laptop")
        await grid.wait_until(
            lambda: _has_object(laptop, str(v["object_id"])), "the object's manifest"
        )
        [listed] = await laptop.node.folders.list()
        assert (listed["name"], listed["state"], listed["files"]) == ("Docs", "elsewhere", 1)
        with pytest.raises(UsageError, match="not watched on this device"):
            await laptop.node.folders.scan("Docs")
        # the laptop's doctor does not look for free space at the pi's path
        facts = await routes_health.gather(laptop.node.api)
        assert not [p for p in facts.disk.places if p.label == "folder Docs"]
        friend = grid.nodes[1]
        await grid.wait_until(lambda: laptop.is_online(friend), "the friend online at the laptop")
        out = tmp_path / "on-laptop"
        await laptop.node.folders.restore("Docs", to=str(out))
        assert (out / "plan.txt").read_bytes() == b"the plan, version one"


async def _has_object(node: GridNode, object_id: str) -> bool:
    return any(o["object_id"] == object_id for o in await node.objects.list())
