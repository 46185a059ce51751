"""Folders: add, list, status, pause, resume, remove, scan, history and restore."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from citizen.api.models.base import Model, Text, UnixTime

FolderMode = Literal["backup"]
FolderState = Literal["active", "paused", "removed", "elsewhere"]
FolderKind = Literal["file", "dir", "link"]

#: the `{name}` path parameter
FolderName = Annotated[str, msgspec.Meta(description="The folder's name (`folder list`).")]
#: a path in a folder, relative to its root, as UTF-8 text
FolderPathText = Annotated[
    str, msgspec.Meta(max_length=4096, description="A path relative to the folder root.")
]
#: the same path as the hex of its bytes (for names that are not UTF-8)
FolderPathHex = Annotated[
    str,
    msgspec.Meta(
        max_length=8192,
        pattern="^([0-9a-f]{2})*$",
        description="A path relative to the folder root, as the hex of its bytes.",
    ),
]

# -- requests --------------------------------------------------------------------------


class AddFolder(Model, frozen=True, kw_only=True):
    """Protect a directory of this device."""

    path: Annotated[str, msgspec.Meta(max_length=4096, description="An absolute path.")]
    name: Text | None = None
    mode: FolderMode = "backup"


class RestoreFolder(Model, frozen=True, kw_only=True):
    """Write the folder, or some paths of it, as it was at a time, into a directory."""

    to: Annotated[
        str | None,
        msgspec.Meta(description="An absolute directory (default: the folder's own root)."),
    ] = None
    at: Annotated[
        str | None,
        msgspec.Meta(description="Unix seconds or an ISO time; default: now."),
    ] = None
    paths: tuple[FolderPathText, ...] = ()
    paths_hex: tuple[FolderPathHex, ...] = ()
    force: Annotated[bool, msgspec.Meta(description="Overwrite what is there.")] = False


# -- responses -------------------------------------------------------------------------


class FolderProgress(Model, frozen=True, kw_only=True, omit_defaults=False):
    """A scan running now: reading the tree (hashing what changed), then storing it."""

    stage: Literal["reading", "storing"]
    found: Annotated[int, msgspec.Meta(description="Paths found so far.")]
    read: Annotated[int, msgspec.Meta(description="Files read so far (not in the scan cache).")]
    files: Annotated[int, msgspec.Meta(description="New or changed files to store.")]
    bytes: Annotated[int, msgspec.Meta(description="Their bytes.")]
    stored_bytes: int


class FolderInfo(Model, frozen=True, kw_only=True, omit_defaults=False):
    """A folder, its state and what it holds now (every field always sent)."""

    name: str
    path: str
    mode: FolderMode
    state: Annotated[
        FolderState,
        msgspec.Meta(
            description='"paused" by the user or by an error (see `error`); "elsewhere": only'
            " in the folder index (added on another device, or here before a recovery):"
            " history and restore work, nothing is watched here."
        ),
    ]
    error: str
    added_at: UnixTime
    last_scan: UnixTime | None
    files: int
    dirs: int
    links: int
    bytes: Annotated[int, msgspec.Meta(description="Bytes of the files there now.")]
    versions: Annotated[int, msgspec.Meta(description="Versions kept, deletions included.")]
    deleted: Annotated[int, msgspec.Meta(description="Paths whose last version is a deletion.")]
    objects: Annotated[int, msgspec.Meta(description="Objects holding the files there now.")]
    protection: Annotated[
        dict[str, int],
        msgspec.Meta(description="Those objects per protection (local only, spreading, ...)."),
    ]
    scan: Annotated[
        FolderProgress | None, msgspec.Meta(description="The scan running now, if one is.")
    ]


class RemovedFolder(Model, frozen=True, kw_only=True, omit_defaults=False):
    """A folder no longer watched; `forgotten`: its history and objects are gone too."""

    name: str
    forgotten: bool
    objects_removed: int


class FolderScan(Model, frozen=True, kw_only=True, omit_defaults=False):
    """What one scan found and recorded."""

    name: str
    paused: Annotated[bool, msgspec.Meta(description="The root or marker was gone.")]
    error: str
    files: int
    read: Annotated[int, msgspec.Meta(description="Files read (not in the scan cache).")]
    changed: Annotated[int, msgspec.Meta(description="New versions of new or changed paths.")]
    deleted: int
    busy: Annotated[int, msgspec.Meta(description="Files that kept changing; left for later.")]
    unreadable: int


class FolderVersion(Model, frozen=True, kw_only=True, omit_defaults=False):
    """One version of one path (a deletion is a version too)."""

    path: Annotated[str, msgspec.Meta(description="As text (U+FFFD for bytes not UTF-8).")]
    path_hex: str
    kind: FolderKind
    object_id: str | None
    size: int
    mtime_ns: int
    mode: int
    content_hash: Annotated[
        str | None, msgspec.Meta(description="Keyed BLAKE2b of the bytes (hex).")
    ]
    target: Annotated[str | None, msgspec.Meta(description="A symlink's target.")]
    deleted: bool
    device: str
    at_ns: Annotated[int, msgspec.Meta(description="When it was recorded (Unix ns).")]


class RestoredFolder(Model, frozen=True, kw_only=True, omit_defaults=False):
    """What a restore wrote."""

    name: str
    to: str
    at: UnixTime | None
    files: int
    dirs: int
    links: int
    bytes: int
