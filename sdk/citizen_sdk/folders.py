"""Folders for apps: directories the daemon's device protects, their history, and restores.

    async with citizen_sdk.connect() as c:
        folder = await c.folders.add("/home/ada/Photos")
        await c.folders.scan(folder.name)               # or let the daemon's watcher do it
        for v in await c.folders.history("Photos", "2024/cat.jpg"):
            print(v.at_ns, v.size, v.deleted)
        await c.folders.restore("Photos", to="/tmp/back", at="2026-12-01T12:00")

Paths inside a folder are relative to its root. A path given as `bytes` is
sent exactly (names that are not UTF-8); a `str` as UTF-8 text. Each
`FolderVersion` has `path` (text, U+FFFD where bytes were not UTF-8) and
`path_hex` (the exact bytes).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from citizen.api.models.folders import (
    AddFolder,
    FolderInfo,
    FolderScan,
    FolderVersion,
    RemovedFolder,
    RestoredFolder,
    RestoreFolder,
)
from citizen_sdk._http import Channel, path_part

__all__ = [
    "FolderInfo",
    "FolderScan",
    "FolderVersion",
    "Folders",
    "RemovedFolder",
    "RestoredFolder",
]

#: a path in a folder: exact bytes, or UTF-8 text
FolderPath = str | bytes


def _hex(path: FolderPath) -> str:
    raw = path if isinstance(path, bytes) else path.encode("utf-8")
    return raw.strip(b"/").hex()


class Folders:
    """The daemon's folders (`Client.folders`)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def _one(self, name: str) -> str:
        return f"/v1/folders/{path_part(name)}"

    async def add(self, path: str, name: str | None = None) -> FolderInfo:
        """Protect the directory at `path` (absolute, on the daemon's device); scanned at once.

        Raises:
            FolderPathError: not an absolute directory, or it overlaps another folder.
            UsageError: the name is taken or not a name.
        """
        body = AddFolder(path=path, name=name)
        return await self._channel.call(FolderInfo, "POST", "/v1/folders", body)

    async def list(self) -> builtins.list[FolderInfo]:
        return await self._channel.call(builtins.list[FolderInfo], "GET", "/v1/folders")

    async def status(self, name: str) -> FolderInfo:
        """Raises: NotFoundError, for no such folder."""
        return await self._channel.call(FolderInfo, "GET", self._one(name))

    async def pause(self, name: str) -> FolderInfo:
        return await self._channel.call(FolderInfo, "POST", self._one(name) + "/pause")

    async def resume(self, name: str) -> FolderInfo:
        """Raises: FolderPathError, while the folder's root or marker file is missing."""
        return await self._channel.call(FolderInfo, "POST", self._one(name) + "/resume")

    async def remove(self, name: str, *, forget: bool = False) -> RemovedFolder:
        """Stop protecting it; `forget` also drops its history and the objects only it used."""
        path = self._one(name) + ("?forget=true" if forget else "")
        return await self._channel.call(RemovedFolder, "DELETE", path)

    async def scan(self, name: str) -> FolderScan:
        """Scan now and record what changed (waits for a scan already running)."""
        return await self._channel.call(FolderScan, "POST", self._one(name) + "/scan")

    async def history(self, name: str, path: FolderPath) -> builtins.list[FolderVersion]:
        """Every version of `path`, oldest first (a deletion is a version).

        Raises:
            NotFoundError: the folder never had that path.
        """
        url = self._one(name) + "/history?path_hex=" + _hex(path)
        return await self._channel.call(builtins.list[FolderVersion], "GET", url)

    async def restore(
        self,
        name: str,
        paths: Iterable[FolderPath] = (),
        *,
        to: str | None = None,
        at: str | float | None = None,
        force: bool = False,
    ) -> RestoredFolder:
        """Write the folder (or `paths` in it) as it was `at` (default now) into `to`.

        `at` is Unix seconds or an ISO time; `to` an absolute directory (default
        the folder's own root). Nothing is written outside `to`.

        Raises:
            FolderExistsError: a file is in the way and `force` is off (nothing written).
            NotFoundError: nothing matched at that time.
        """
        body = RestoreFolder(
            to=to,
            at=None if at is None else str(at),
            paths_hex=tuple(_hex(p) for p in paths),
            force=force,
        )
        return await self._channel.call(RestoredFolder, "POST", self._one(name) + "/restore", body)
