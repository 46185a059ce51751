"""Write a folder's tree as of some time into a target directory, never outside it.

Every path is checked first (`records.safe_parts`: no absolute path, no
``..``), and nothing is written when one fails or, without ``force``, when
a file or link is there already. While writing, every parent inside the
target must be a real directory (never a symlink, whatever the index or the
disk says), files are written to a temporary name beside their place and
renamed over it, and each file's bytes are checked against the recorded
size and keyed hash before the rename. Directories are made first, links
last; modes and mtimes are set at the end, deepest directory first.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import trio

from citizen.errors import FolderExistsError, FolderPathError, StoreError
from citizen.folders.records import Version, display_path, safe_parts
from citizen.folders.scan import keyed_hash

#: the plaintext of an object, streamed
Reader = Callable[[str], Awaitable[AsyncIterator[bytes]]]


@dataclass(slots=True)
class RestoreReport:
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0


def check_tree(target: bytes, tree: dict[bytes, Version], force: bool) -> None:
    """Refuse the restore before writing anything (see the module docstring).

    Raises:
        FolderPathError: a path could leave the target, or the target is not a directory.
        FolderExistsError: a file or link is in the way and `force` is off.
    """
    if os.path.lexists(target) and not os.path.isdir(target):
        raise FolderPathError(
            f"The restore target {os.fsdecode(target)} is not a directory.",
            "Pass --to with a directory (it is made if missing).",
        )
    in_the_way = []
    for path, v in sorted(tree.items()):
        safe_parts(path)
        full = os.path.join(target, path)
        if os.path.lexists(full) and (v.kind != "dir" or not os.path.isdir(full)):
            in_the_way.append(path)
    if in_the_way and not force:
        shown = ", ".join(display_path(p) for p in in_the_way[:5])
        more = f" and {len(in_the_way) - 5} more" if len(in_the_way) > 5 else ""
        raise FolderExistsError(
            f"{len(in_the_way)} paths are there already in {os.fsdecode(target)}: {shown}{more}.",
            "Restore into an empty directory with --to DIR, or overwrite them with --force.",
        )


def _real_dirs(target: bytes, parts: list[bytes]) -> bytes:
    """Make the parent directories of `parts` under `target`; each must be a real directory."""
    here = target
    for part in parts[:-1]:
        here = os.path.join(here, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise FolderPathError(
                f"{os.fsdecode(here)} is not a directory (a symlink or a file), so nothing"
                " was written below it.",
                "Restore into an empty directory with --to DIR.",
            )
    return os.path.join(here, parts[-1])


def _clear(full: bytes) -> None:
    if os.path.lexists(full) and not os.path.isdir(full):
        os.unlink(full)


async def restore_tree(
    target: bytes,
    tree: dict[bytes, Version],
    read: Reader,
    secret: bytes,
    *,
    force: bool,
    progress: Callable[[int], None] = lambda _n: None,
) -> RestoreReport:
    """Write `tree` under `target` (checked with `check_tree` first).

    Raises:
        FolderPathError, FolderExistsError: see `check_tree`; nothing was written.
        StoreError: an object's bytes do not match the version (nothing written for that file).
    """
    await trio.to_thread.run_sync(check_tree, target, tree, force)
    await trio.to_thread.run_sync(lambda: os.makedirs(target, exist_ok=True))
    report = RestoreReport()
    ordered = sorted(tree.items())
    for path, v in ordered:
        if v.kind == "dir":
            await trio.to_thread.run_sync(_real_dirs, target, [*safe_parts(path), b""])
            report.dirs += 1
    for path, v in ordered:
        if v.kind == "file":
            await _write_file(target, path, v, read, secret, force)
            report.files += 1
            report.bytes += v.size
            progress(v.size)
    for path, v in ordered:
        if v.kind == "link" and v.target is not None:
            await trio.to_thread.run_sync(_write_link, target, path, v.target)
            report.links += 1
    for path, v in sorted(ordered, key=lambda pv: -pv[0].count(b"/")):
        await trio.to_thread.run_sync(_set_times, os.path.join(target, path), v)
    return report


def _write_link(target: bytes, path: bytes, link_to: bytes) -> None:
    full = _real_dirs(target, safe_parts(path))
    _clear(full)
    os.symlink(link_to, full)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _set_times(full: bytes, v: Version) -> None:
    if v.kind == "link":
        if os.utime in os.supports_follow_symlinks:
            os.utime(full, ns=(v.mtime_ns, v.mtime_ns), follow_symlinks=False)
        return
    os.chmod(full, v.mode, follow_symlinks=False)
    os.utime(full, ns=(v.mtime_ns, v.mtime_ns), follow_symlinks=False)


async def _write_file(
    target: bytes, path: bytes, v: Version, read: Reader, secret: bytes, force: bool
) -> None:
    full = await trio.to_thread.run_sync(_real_dirs, target, safe_parts(path))
    head, tail = os.path.split(full)
    temp = os.path.join(head, b".citizen-restore-" + tail[:100])
    fd = await trio.to_thread.run_sync(
        lambda: os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    )
    h = keyed_hash(secret)
    size = 0
    try:
        if v.object_id is not None:
            async for chunk in await read(v.object_id):
                h.update(chunk)
                size += len(chunk)
                await trio.to_thread.run_sync(_write_all, fd, chunk)
        await trio.to_thread.run_sync(os.fsync, fd)
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    os.close(fd)
    if size != v.size or (v.content_hash is not None and h.digest() != v.content_hash):
        os.unlink(temp)
        raise StoreError(
            f"The stored bytes of {display_path(path)} do not match its version"
            f" ({size} bytes read, {v.size} recorded).",
            "Run `citizen verify` and `citizen repair`, then restore again.",
        )
    if force:
        await trio.to_thread.run_sync(_clear, full)
    await trio.to_thread.run_sync(os.replace, temp, full)
