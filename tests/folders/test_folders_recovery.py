"""Lose the device and the folder, recover from friends, restore: an identical tree.

Identical: content, names (one not UTF-8), mtimes, link targets, empty dirs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from citizen.testing.datadir import recover_data_dir
from citizen.testing.grid import open_grid

ODD = b"\xc3\xa9t\xe9.txt"  # not UTF-8


def _tree(root: Path) -> dict[bytes, tuple[str, bytes, int]]:
    """Every path under `root`: kind, content or link target, mtime (dirs: no mtime)."""
    out: dict[bytes, tuple[str, bytes, int]] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in [*dirnames, *filenames]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            st = os.lstat(full)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full), 0)
            elif os.path.isdir(full):
                out[rel] = ("dir", b"", 0)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", f.read(), st.st_mtime_ns)
    return out


async def test_recover_the_household_then_restore_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "Photos"
    (root / "2024" / "summer").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "2024" / "summer" / "beach.jpg").write_bytes(os.urandom(300_000))
    (root / "2024" / "notes.txt").write_bytes(b"unicode \xe2\x9c\x93")
    (root / "zero").write_bytes(b"")
    with open(os.path.join(os.fsencode(root), ODD), "wb") as f:
        f.write(b"odd")
    os.symlink("2024/notes.txt", root / "latest")
    async with open_grid(
        3, tmp_path, names=["home", "f1", "f2"], pairing="star", config={"segment_size": 65536}
    ) as grid:
        h = grid.nodes[0]
        await h.node.folders.add(str(root))
        await h.node.folders.scan("Photos")
        for o in await h.objects.list():
            assert (await h.objects.wait_protected(str(o["object_id"]), 60))["protection"] == (
                "protected"
            )
        before = _tree(root)
        before.pop(b".citizen-folder")
        await h.backup.backup_now()

        async def backed_up() -> bool:
            status = await h.backup.status()
            return len([f for f in status["friends"] if f["current"]]) == 2  # type: ignore[attr-defined]

        await grid.wait_until(backed_up, "the backup at both friends", 120)
        await h.backup.backup_now()  # seals the folder index doc as it is now
        await grid.wait_until(backed_up, "the newest backup at both friends", 120)
        sheet = await h.recovery_sheet()

        # disaster: the device, its data dir and the folder are gone
        await grid.stop(h)
        shutil.rmtree(h.data_dir)
        shutil.rmtree(root)
        recover_data_dir(tmp_path / "new-home", sheet)
        new = grid.adopt("new-home", tmp_path / "new-home")
        await grid.start(new)

        async def recovered() -> bool:
            return not (await new.backup.status())["recovering"]

        await grid.wait_until(recovered, "recovery to finish", 120)
        for friend in grid.nodes[1:3]:
            await grid.wait_until(lambda f=friend: new.is_online(f), f"{friend.name} online", 120)
        out = tmp_path / "restored"
        await new.node.folders.restore("Photos", to=str(out))
        assert _tree(out) == before
