"""A folder's records and the pure rules over them: versions, what a scan changed, --at, paths.

Paths inside a folder are bytes relative to its root, components joined by
``/`` (`os.fsencode`: a name that is not UTF-8 survives as it is). Every
change is a new `Version`; a deletion is a version with ``deleted`` set, so
nothing a scan sees is ever forgotten. No I/O here.
"""

from __future__ import annotations

import datetime
import decimal
import os
from collections.abc import Iterable, Mapping

from citizen.errors import FolderPathError, UsageError
from citizen.store.folder_records import Folder, FolderMode, FolderState, Kind, Seen, Version

__all__ = [
    "IGNORE_FILE",
    "MARKER",
    "MODES",
    "Folder",
    "FolderMode",
    "FolderState",
    "Kind",
    "Seen",
    "Version",
    "changes",
    "check_folder_name",
    "check_root",
    "deletion_of",
    "display_path",
    "folder_summary",
    "is_under",
    "latest_of",
    "object_name",
    "overlaps",
    "parse_time",
    "path_arg",
    "safe_parts",
    "scan_counts",
    "select_at",
    "version_fields",
    "version_of",
]

#: written into the root at `folder add`; a scan that misses it pauses the folder
MARKER = b".citizen-folder"
#: gitignore rules for the folder, at its root
IGNORE_FILE = b".citizenignore"
MAX_NAME = 64
#: never a folder: the kernel's, devices and run state
SYSTEM_TREES = (b"/proc", b"/sys", b"/dev", b"/run")
MODES: tuple[FolderMode, ...] = ("backup",)


def changes(
    latest: Mapping[bytes, Version], scanned: Mapping[bytes, Seen]
) -> tuple[dict[bytes, Seen], list[bytes]]:
    """What a scan changed: paths new or different (with what was seen), and paths deleted."""
    changed = {p: s for p, s in scanned.items() if p not in latest or not latest[p].same_as(s)}
    deleted = sorted(p for p, v in latest.items() if not v.deleted and p not in scanned)
    return changed, deleted


def version_of(path: bytes, seen: Seen, object_id: str | None, device: str, at: int) -> Version:
    """The version a scan records for `path` as it saw it."""
    return Version(
        path, seen.kind, object_id, seen.size, seen.mtime_ns, seen.mode, seen.content_hash,
        seen.target, False, device, at,
    )  # fmt: skip


def deletion_of(was: Version, device: str, at: int) -> Version:
    """The version that records `was.path` deleted (its kind, mode and mtime kept)."""
    return Version(
        was.path, was.kind, None, 0, was.mtime_ns, was.mode, None, None, True, device, at
    )


def latest_of(versions: Iterable[Version]) -> dict[bytes, Version]:
    """The newest version of each path (by `at_ns`, then `id`)."""
    out: dict[bytes, Version] = {}
    for v in versions:
        cur = out.get(v.path)
        if cur is None or (v.at_ns, v.id) >= (cur.at_ns, cur.id):
            out[v.path] = v
    return out


def select_at(
    versions: Iterable[Version], at_ns: int | None, prefixes: Iterable[bytes] = ()
) -> dict[bytes, Version]:
    """The tree as it was at `at_ns` (None: now), within `prefixes` (a path and what is under it).

    A path deleted by then, or first seen after it, is not in the tree.
    """
    wanted = [p.rstrip(b"/") for p in prefixes]
    chosen = latest_of(
        v for v in versions if (at_ns is None or v.at_ns <= at_ns) and _under_any(v.path, wanted)
    )
    return {p: v for p, v in chosen.items() if not v.deleted}


def _under_any(path: bytes, prefixes: list[bytes]) -> bool:
    if not prefixes:
        return True
    return any(p in (b"", b".") or path == p or path.startswith(p + b"/") for p in prefixes)


def safe_parts(path: bytes) -> list[bytes]:
    """The components of a relative folder path, refusing anything that could leave the folder.

    Raises:
        FolderPathError: empty, absolute, or with an empty, ``.``, ``..`` or NUL component.
    """
    shown = display_path(path)
    if not path or path.startswith(b"/"):
        raise FolderPathError(
            f"The path '{shown}' is {'empty' if not path else 'absolute'}.",
            "Paths in a folder are relative to its root, e.g. photos/2024/cat.jpg.",
        )
    parts = path.split(b"/")
    for part in parts:
        if part in (b"", b".", b"..") or b"\x00" in part:
            raise FolderPathError(
                f"The path '{shown}' has the component '{display_path(part)}', which could"
                " reach outside the folder.",
                "Use a plain relative path without '.', '..' or '//'.",
            )
    return parts


def display_path(path: bytes) -> str:
    """`path` as text for people: names that are not UTF-8 show U+FFFD where bytes were."""
    return path.decode("utf-8", "replace")


def path_arg(text: str) -> bytes:
    """A path typed on the command line (or sent by an app), as the bytes a scan records."""
    return os.fsencode(text).strip(b"/") if text not in ("", ".", "/") else b""


def parse_time(text: str) -> int:
    """``--at``: Unix seconds, or an ISO date/time (local time unless it has an offset), in ns.

    Raises:
        UsageError: neither.
    """
    try:
        return int(decimal.Decimal(text) * 1_000_000_000)  # exact, to the ns
    except (decimal.InvalidOperation, ValueError):
        pass
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(
            f"'{text}' is not a time.",
            "Give Unix seconds or an ISO time like 2026-12-03T16:00 (local) or 2026-12-03T16:00Z.",
        ) from exc
    return int(when.timestamp() * 1_000_000_000)


def object_name(path: bytes) -> str:
    """A display name for the object holding `path`: its last component, made harmless."""
    base = path.rsplit(b"/", 1)[-1].decode("utf-8", "replace")
    out = "".join("_" if ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in base)
    out = out[:255]
    return "_" if out in ("", ".", "..") else out


def version_fields(v: Version) -> dict[str, object]:
    return {
        "path": display_path(v.path),
        "path_hex": v.path.hex(),
        "kind": v.kind,
        "object_id": v.object_id,
        "size": v.size,
        "mtime_ns": v.mtime_ns,
        "mode": v.mode,
        "content_hash": v.content_hash.hex() if v.content_hash is not None else None,
        "target": display_path(v.target) if v.target is not None else None,
        "deleted": v.deleted,
        "device": v.device,
        "at_ns": v.at_ns,
    }


def check_folder_name(name: str) -> str:
    """Raises: UsageError, for a name that is empty, too long, or has a separator or control."""
    if not name or len(name) > MAX_NAME or name in (".", "..") or name.strip() != name:
        raise UsageError(
            f"'{name[:80]}' is not a folder name.",
            f"Give --name with 1 to {MAX_NAME} characters, e.g. Photos.",
        )
    if any(ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise UsageError(f"The folder name '{name}' has a separator or control character.", "")
    return name


def folder_summary(
    f: Folder, versions: Iterable[Version], objects: Iterable[Mapping[str, object]]
) -> dict[str, object]:
    """`folder status`: the folder and what it holds now, its objects counted by protection."""
    listed = list(versions)
    now = latest_of(listed)
    live = [v for v in now.values() if not v.deleted]
    ids = {v.object_id for v in live if v.object_id is not None}
    protection: dict[str, int] = {}
    for o in objects:
        if o.get("object_id") in ids:
            state = str(o.get("protection", "local only"))
            protection[state] = protection.get(state, 0) + 1
    return {
        "name": f.name,
        "path": os.fsdecode(f.root),
        "mode": f.mode,
        "state": f.state,
        "error": f.error,
        "added_at": f.added_at,
        "last_scan": f.last_scan,
        "files": sum(v.kind == "file" for v in live),
        "dirs": sum(v.kind == "dir" for v in live),
        "links": sum(v.kind == "link" for v in live),
        "bytes": sum(v.size for v in live if v.kind == "file"),
        "versions": len(listed),
        "deleted": sum(v.deleted for v in now.values()),
        "objects": len(ids),
        "protection": protection,
    }


def scan_counts(**counts: int) -> dict[str, int]:
    keys = ("files", "read", "changed", "deleted", "busy", "unreadable")
    return {k: counts.get(k, 0) for k in keys}


def is_under(path: bytes, dirs: set[bytes]) -> bool:
    return any(path.startswith(d + b"/") for d in dirs)


def overlaps(a: bytes, b: bytes) -> bool:
    a, b = a.rstrip(b"/") + b"/", b.rstrip(b"/") + b"/"
    return a.startswith(b) or b.startswith(a)


def check_root(path: str, root: bytes, data_dir: bytes | None) -> None:
    """Refuse a folder root that is not household data (`root` is resolved, absolute).

    Raises:
        FolderPathError: the whole disk, a system tree, or holding or inside the data dir.
    """
    if root == b"/" or any(root == d or root.startswith(d + b"/") for d in SYSTEM_TREES):
        raise FolderPathError(
            f"{path} is not household data (the whole disk or a system directory).",
            "Add the directories to protect, e.g. ~/Photos or /srv/documents.",
        )
    if data_dir is not None and overlaps(root, data_dir):
        raise FolderPathError(
            f"{path} holds or is inside this daemon's data dir ({os.fsdecode(data_dir)}):"
            " it would back up its own objects.",
            "Add a directory outside the data dir.",
        )
