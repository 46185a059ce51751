"""A folder's records as SQLite keeps them: the folder, a path as a scan saw it, a version.

Pure (no I/O): `citizen.store.folders` reads and writes them, `citizen.folders`
computes with them. Paths are bytes relative to the folder root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["file", "dir", "link"]
FolderState = Literal["active", "paused", "removed", "elsewhere"]
FolderMode = Literal["backup"]


@dataclass(frozen=True, slots=True)
class Folder:
    name: str
    root: bytes
    mode: FolderMode
    state: FolderState
    error: str
    added_at: int
    last_scan: int | None
    marker: str


@dataclass(frozen=True, slots=True)
class Seen:
    """One path as a scan found it (a file's `content_hash` is the keyed hash of its bytes)."""

    kind: Kind
    size: int
    mtime_ns: int
    mode: int
    content_hash: bytes | None = None
    target: bytes | None = None  # a symlink's target, never followed


@dataclass(frozen=True, slots=True)
class Version:
    """One version of one path; a deletion is a version too."""

    path: bytes
    kind: Kind
    object_id: str | None
    size: int
    mtime_ns: int
    mode: int
    content_hash: bytes | None
    target: bytes | None
    deleted: bool
    device: str
    at_ns: int
    id: int = 0

    def same_as(self, seen: Seen) -> bool:
        """Whether `seen` is this version unchanged (kind, content, link target, mode, mtime)."""
        if self.deleted or self.kind != seen.kind or self.mode != seen.mode:
            return False
        if self.kind == "dir":
            return self.mtime_ns == seen.mtime_ns
        return (
            self.content_hash == seen.content_hash
            and self.target == seen.target
            and self.mtime_ns == seen.mtime_ns
        )
