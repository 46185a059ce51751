"""The folder index: every folder's versions in one Automerge doc, replicated to our devices.

The doc's ID is derived from the household ID (like the objects' household
index), titled ``household folders``, so every device of the household, and
a device recovered from friends, syncs into the same doc. Layout::

    {"secret": hex,                          # the household's content-hash key
     "folders": {NAME: {"root_hex": hex, "device": ID, "mode": "backup",
                        "scans": {"DEVICE-AT_NS": {PATH_HEX: [kind, object_id, size,
                                  mtime_ns, mode, hash_hex, target_hex, deleted, at_ns]}}}}}

A scan appends one entry under ``scans`` (one Automerge change), so two
devices never write the same key and nothing merges badly. Values written by
another device (or a newer version) are validated when read; a malformed
version is skipped, never trusted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import base58
from automerge.core import Document

from citizen.docs.values import delete_path, set_path, to_json
from citizen.errors import NotFoundError
from citizen.folders.records import Folder, Kind, Version
from citizen.ids import DocId, HouseholdId
from citizen.store.docs import DocCache, DocStore

INDEX_TITLE = "household folders"
_KINDS: tuple[Kind, ...] = ("file", "dir", "link")


def folders_doc_id(household: HouseholdId) -> DocId:
    """The folder index doc's ID, derived from the household ID."""
    digest = hashlib.blake2b(household.encode(), digest_size=16, person=b"citizen-folders").digest()
    return DocId(base58.b58encode(digest).decode())


def _row(v: Version) -> list[object]:
    return [
        v.kind,
        v.object_id or "",
        v.size,
        v.mtime_ns,
        v.mode,
        v.content_hash.hex() if v.content_hash is not None else "",
        v.target.hex() if v.target is not None else "",
        v.deleted,
        v.at_ns,
    ]


def version_from_row(path_hex: str, row: object, device: str) -> Version | None:
    """A version as another device may have written it; None if malformed."""
    if not isinstance(row, list) or len(row) < 9:
        return None
    kind, oid, size, mtime, mode, chash, target, deleted, at = row[:9]
    try:
        path = bytes.fromhex(path_hex)
        content_hash = bytes.fromhex(chash) if isinstance(chash, str) and chash else None
        link = bytes.fromhex(target) if isinstance(target, str) and target else None
    except ValueError:
        return None
    ints = (size, mtime, mode, at)
    if kind not in _KINDS or not isinstance(oid, str) or not isinstance(deleted, bool):
        return None
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in ints) or not path:
        return None
    assert isinstance(size, int) and isinstance(mtime, int)
    assert isinstance(mode, int) and isinstance(at, int)
    return Version(
        path=path,
        kind=kind,
        object_id=oid or None,
        size=size,
        mtime_ns=mtime,
        mode=mode,
        content_hash=content_hash,
        target=link,
        deleted=deleted,
        device=device,
        at_ns=at,
    )


class DocFolderIndex:
    """Reads and writes the folder index doc (created on first use)."""

    def __init__(self, store: DocStore, cache: DocCache, household: HouseholdId) -> None:
        self._store = store
        self._cache = cache
        self._household = household
        self._doc_id: DocId | None = None

    async def doc_id(self) -> DocId:
        if self._doc_id is None:
            found = folders_doc_id(self._household)
            try:
                await self._store.info(found)
            except NotFoundError:
                await self._store.create(self._household, INDEX_TITLE, doc_id=found)
            self._doc_id = found
        return self._doc_id

    async def _root(self) -> dict[str, object]:
        root = to_json(await self._cache.get(await self.doc_id()))
        return root if isinstance(root, dict) else {}

    async def _folder(self, name: str) -> dict[str, object] | None:
        folders = (await self._root()).get("folders")
        entry = folders.get(name) if isinstance(folders, dict) else None
        return entry if isinstance(entry, dict) else None

    async def secret(self) -> bytes:
        """The household's key for content hashes: made once, then the same on every device."""
        found = (await self._root()).get("secret")
        if isinstance(found, str) and len(found) == 64:
            return bytes.fromhex(found)
        made = os.urandom(32)
        await self._cache.mutate(
            await self.doc_id(), lambda d: set_path(d, ("secret",), made.hex())
        )
        return made

    async def names(self) -> list[str]:
        folders = (await self._root()).get("folders")
        return sorted(folders) if isinstance(folders, dict) else []

    async def root_of(self, name: str) -> bytes | None:
        """Where the folder was on the device that added it (None: not in the index)."""
        entry = await self._folder(name)
        root = entry.get("root_hex") if entry is not None else None
        try:
            return bytes.fromhex(root) if isinstance(root, str) else None
        except ValueError:
            return None

    async def versions(self, name: str, path: bytes | None = None) -> list[Version]:
        """Every version in the folder (or of one path), oldest first."""
        entry = await self._folder(name)
        scans = entry.get("scans") if entry is not None else None
        out: list[Version] = []
        if not isinstance(scans, dict):
            return out
        wanted = path.hex() if path is not None else None
        for key, rows in scans.items():
            if not isinstance(rows, dict):
                continue
            device = str(key).rsplit("-", 1)[0]
            for path_hex, row in rows.items():
                if wanted is not None and path_hex != wanted:
                    continue
                v = version_from_row(str(path_hex), row, device)
                if v is not None:
                    out.append(v)
        out.sort(key=lambda v: (v.at_ns, v.path))
        return [_numbered(v, i) for i, v in enumerate(out)]

    async def record(self, f: Folder, device: str, versions: Iterable[Version]) -> None:
        """Add one scan's versions (one change); durable when this returns."""
        listed = list(versions)
        if not listed:
            return
        rows = {v.path.hex(): _row(v) for v in listed}
        key = f"{device}-{max(v.at_ns for v in listed)}"

        def edit(doc: Document) -> list[bytes]:
            root = to_json(doc)
            folders = root.get("folders") if isinstance(root, dict) else None
            changes: list[bytes] = []
            if not isinstance(folders, dict):
                changes += set_path(doc, ("folders",), {})
                folders = {}
            entry = folders.get(f.name)
            if not isinstance(entry, dict) or not isinstance(entry.get("scans"), dict):
                changes += set_path(
                    doc,
                    ("folders", f.name),
                    {"root_hex": f.root.hex(), "device": device, "mode": f.mode, "scans": {}},
                )
            changes += set_path(doc, ("folders", f.name, "scans", key), rows)
            return changes

        await self._cache.mutate(await self.doc_id(), edit)

    async def forget(self, name: str) -> None:
        if await self._folder(name) is not None:
            await self._cache.mutate(
                await self.doc_id(), lambda d: delete_path(d, ("folders", name))
            )


def _numbered(v: Version, i: int) -> Version:
    return Version(
        v.path,
        v.kind,
        v.object_id,
        v.size,
        v.mtime_ns,
        v.mode,
        v.content_hash,
        v.target,
        v.deleted,
        v.device,
        v.at_ns,
        i + 1,
    )
