"""Walk a folder's tree (on a worker thread): what is there, hashing only what changed.

Every name is bytes (`os.fsencode` of the root, `os.scandir` of bytes), so a
name that is not UTF-8 is kept as it is. A symlink is recorded with its
target and never followed; a directory is recorded (so empty ones survive);
FIFOs, sockets and devices are skipped. A file whose (size, mtime_ns, inode)
is in the scan cache is not read again. A file is hashed with a keyed
BLAKE2b (the household's secret): a friend who sees a hash cannot tell
whether it is that of a file it knows. A file that changes while it is read
(its size, mtime, ctime or inode differ before and after) is read again, up
to `RETRIES` times; one that keeps changing is *busy*: left as it was for the
next scan, never recorded torn.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from citizen.folders.ignore import IgnoreRules
from citizen.folders.records import IGNORE_FILE, MARKER, Seen
from citizen.store.folders import CacheRow

CHUNK = 1024 * 1024
RETRIES = 3

#: opens a file for reading by its full path (tests count or disturb reads through it)
Opener = Callable[[bytes], BinaryIO]


def open_file(path: bytes) -> BinaryIO:
    # O_NOFOLLOW: a file that became a symlink since it was listed is not followed
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    return os.fdopen(fd, "rb")


def keyed_hash(secret: bytes) -> hashlib.blake2b:
    return hashlib.blake2b(key=secret, digest_size=32, person=b"citizen-folder")


def stable(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether a file stayed the same while it was read."""
    return (
        before.st_size == after.st_size
        and before.st_mtime_ns == after.st_mtime_ns
        and before.st_ctime_ns == after.st_ctime_ns
        and before.st_ino == after.st_ino
    )


def hash_file(full: bytes, secret: bytes, opener: Opener) -> tuple[bytes, os.stat_result] | None:
    """The keyed hash of the file at `full` and its stat, or None if it kept changing.

    Raises:
        OSError: it cannot be read (gone, no permission).
    """
    for _ in range(RETRIES):
        before = os.lstat(full)
        h = keyed_hash(secret)
        with opener(full) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        after = os.lstat(full)
        if stable(before, after):
            return h.digest(), after
    return None


def marker_problem(root: bytes) -> str | None:
    """Why the folder cannot be scanned safely now (root or marker gone), or None."""
    shown = os.fsdecode(root)
    if not os.path.isdir(root):
        return f"The folder root {shown} is missing or not a directory (unmounted?)."
    if not os.path.lexists(os.path.join(root, MARKER)):
        return (
            f"The marker file {MARKER.decode()} is gone from {shown}: the disk may be"
            " unmounted or the folder replaced, so nothing was recorded as deleted."
        )
    return None


@dataclass(slots=True)
class ScanResult:
    """What a walk found: every path kept, the new cache, and what could not be read."""

    seen: dict[bytes, Seen] = field(default_factory=dict)
    cache: dict[bytes, CacheRow] = field(default_factory=dict)
    read: int = 0  # files whose bytes were read (not found in the cache)
    busy: list[bytes] = field(default_factory=list)  # kept changing while read
    unreadable: list[bytes] = field(default_factory=list)


def _rules(root: bytes) -> IgnoreRules:
    try:
        with open(os.path.join(root, IGNORE_FILE), "rb") as f:
            return IgnoreRules.from_bytes(f.read(1024 * 1024))
    except OSError:
        return IgnoreRules()


@dataclass(slots=True)
class ScanProgress:
    """A scan in progress, for `folder status`: reading the tree, then storing what changed.

    `found` fills while the walk runs on its thread (read from trio between
    steps: ints and a dict's length, safe under the GIL).
    """

    found: ScanResult = field(default_factory=ScanResult)
    storing: bool = False
    files: int = 0  # new or changed files to store
    bytes: int = 0
    stored_bytes: int = 0
    existing: set[str] = field(default_factory=set)  # object IDs there are, when storing

    def fields(self) -> dict[str, object]:
        return {
            "stage": "storing" if self.storing else "reading",
            "found": len(self.found.seen),
            "read": self.found.read,
            "files": self.files,
            "bytes": self.bytes,
            "stored_bytes": self.stored_bytes,
        }


def walk(
    root: bytes,
    cache: dict[bytes, CacheRow],
    secret: bytes,
    opener: Opener,
    out: ScanResult | None = None,
) -> ScanResult:
    """Scan the tree under `root` (see the module docstring) into `out`. Run it on a thread."""
    rules = _rules(root)
    out = out if out is not None else ScanResult()
    todo: list[bytes] = [b""]
    while todo:
        rel_dir = todo.pop()
        full_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(full_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            if rel_dir:
                out.unreadable.append(rel_dir)
            continue
        for entry in entries:
            rel = rel_dir + b"/" + entry.name if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                out.unreadable.append(rel)
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if rules.ignored(rel, is_dir):
                continue
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    out.unreadable.append(rel)
                    continue
                out.seen[rel] = Seen("link", 0, st.st_mtime_ns, mode, target=target)
            elif is_dir:
                out.seen[rel] = Seen("dir", 0, st.st_mtime_ns, mode)
                todo.append(rel)
            elif stat.S_ISREG(st.st_mode):
                _file(out, rel, entry.path, st, cache, secret, opener)
    return out


def _file(
    out: ScanResult,
    rel: bytes,
    full: bytes,
    st: os.stat_result,
    cache: dict[bytes, CacheRow],
    secret: bytes,
    opener: Opener,
) -> None:
    cached = cache.get(rel)
    if cached is not None and cached[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
        digest = cached[3]
    else:
        try:
            hashed = hash_file(full, secret, opener)
        except OSError:
            out.unreadable.append(rel)
            return
        out.read += 1
        if hashed is None:
            out.busy.append(rel)
            return
        digest, st = hashed
    out.cache[rel] = (st.st_size, st.st_mtime_ns, st.st_ino, digest)
    out.seen[rel] = Seen("file", st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), digest)


def write_marker(root: bytes, name: str, marker: str) -> None:
    path = os.path.join(root, MARKER)
    text = (
        "This directory is a Citizen Cloud folder. Keep this file: a folder whose marker\n"
        "is gone (an unmounted disk) is paused instead of recorded as deleted.\n"
        f"folder = {name}\nmarker = {marker}\n"
    )
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
