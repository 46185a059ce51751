"""citizen_sdk folders on an embedded offline node: add, scan, events, history, restore."""

from __future__ import annotations

import os
from pathlib import Path

import citizen_sdk
import pytest
import trio

from citizen.api.models.events import FolderChanged
from citizen.errors import FolderExistsError, NotFoundError

ODD = b"\xff\xfeodd.bin"


async def test_folders_through_the_sdk(tmp_path: Path) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    (root / "cat.jpg").write_bytes(b"meow" * 100)
    with open(os.path.join(os.fsencode(root), ODD), "wb") as f:
        f.write(b"odd bytes")
    async with (
        citizen_sdk.open_embedded_node(
            tmp_path / "home", name="the sdk household", offline=True, mdns=False
        ) as c,
        c.events() as events,
    ):
        added = await c.folders.add(str(root))
        assert added.name == "Pictures" and added.mode == "backup"
        scanned = await c.folders.scan("Pictures")
        assert scanned.files == 2 and not scanned.paused
        seen: list[object] = []
        with trio.fail_after(30):  # /v1/events: added, then a scan recorded versions
            async for event in events:  # docs and objects change too (the objects' index)
                if isinstance(event, FolderChanged):
                    seen.append(event)
                    if len(seen) == 2:
                        break
        assert seen == [
            FolderChanged("Pictures", "added"),
            FolderChanged("Pictures", "changed"),
        ]
        status = await c.folders.status("Pictures")
        assert status.files == 2 and status.objects == 2
        assert status.protection == {"local only": 2}  # offline: no friend holds any yet
        [v] = await c.folders.history("Pictures", ODD)
        assert bytes.fromhex(v.path_hex) == ODD and v.size == len(b"odd bytes")
        with pytest.raises(NotFoundError):
            await c.folders.history("Pictures", "nothing/here")

        out = tmp_path / "out"
        done = await c.folders.restore("Pictures", to=str(out))
        assert done.files == 2 and (out / "cat.jpg").read_bytes() == b"meow" * 100
        with open(os.path.join(os.fsencode(out), ODD), "rb") as f:
            assert f.read() == b"odd bytes"
        with pytest.raises(FolderExistsError):
            await c.folders.restore("Pictures", [b"cat.jpg"], to=str(out))
        assert (await c.folders.pause("Pictures")).state == "paused"
        assert [f.state for f in await c.folders.list()] == ["paused"]
        removed = await c.folders.remove("Pictures", forget=True)
        assert removed.forgotten and removed.objects_removed == 2
