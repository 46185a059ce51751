"""The folders service: add, list, pause, remove, scan, history and restore, and its loop.

A folder is a directory this device protects (``backup`` mode: one way,
versioned, restorable anywhere). `run` watches every active folder with
`watchfiles` (inotify through Rust notify, under trio via anyio) and also
rescans every folder every `rescan_every` seconds; an event only marks the
folder due, and the scan that follows is cheap since the scan cache skips
unchanged files (`citizen.folders.scan`). A scan records a new version for
each new or changed path and a deletion version for each path gone, all in
one transaction; it first checks the root and its marker file, and pauses
the folder with an error (recording nothing) when either is gone.

Each new content is stored once per household as an object through
`FolderObjects` (the objects service, handed in by the composition root):
the keyed content hash maps to the object, so a second file with the same
bytes, or a file renamed, costs nothing. The versions go to the folder
index doc (`FolderIndex`: `citizen.folders.index`), which replicates to the
household's other devices; this device's folders, scan caches and content
map stay in SQLite (`citizen.store.folders`).
"""

from __future__ import annotations

import builtins
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Literal, Protocol

import trio

from citizen.errors import CitizenError, FolderPathError, NotFoundError, UsageError
from citizen.folders.records import (
    MARKER,
    MODES,
    Folder,
    Seen,
    Version,
    changes,
    check_folder_name,
    check_root,
    deletion_of,
    display_path,
    folder_summary,
    is_under,
    latest_of,
    object_name,
    overlaps,
    parse_time,
    scan_counts,
    select_at,
    version_fields,
    version_of,
)
from citizen.folders.restore import restore_tree
from citizen.folders.scan import (
    CHUNK,
    Opener,
    ScanProgress,
    keyed_hash,
    marker_problem,
    open_file,
    stable,
    walk,
    write_marker,
)
from citizen.folders.watch import watch_folder
from citizen.store.folders import CacheRow, FolderStore

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

RESCAN_EVERY = 3600.0
UPLOAD_RETRIES = 3


class FolderObjects(Protocol):
    """What folders need of the objects service: put a stream, read one back, forget one."""

    async def put(
        self, chunks: AsyncIterator[bytes], name: str, size_hint: int | None
    ) -> dict[str, object]: ...

    async def open_read(self, object_id: str) -> tuple[object, AsyncIterator[bytes]]: ...

    async def remove(self, object_id: str) -> dict[str, object]: ...

    async def list(self) -> builtins.list[dict[str, object]]: ...


class FolderIndex(Protocol):
    """Where versions live: the folder index doc (`citizen.folders.index.DocFolderIndex`)."""

    async def secret(self) -> bytes: ...

    async def root_of(self, name: str) -> bytes | None: ...

    async def names(self) -> builtins.list[str]: ...

    async def versions(self, name: str, path: bytes | None = None) -> builtins.list[Version]: ...

    async def record(self, f: Folder, device: str, versions: Iterable[Version]) -> None: ...

    async def forget(self, name: str) -> None: ...


#: what happened to a folder, as /v1/events reports it
FolderChange = Literal["added", "changed", "paused", "resumed", "removed", "restored"]
#: told (folder name, what happened, the error if it paused on one)
Listener = Callable[[str, FolderChange, str], None]


class FolderService:
    """This device's folders.

    Args:
        store: this device's folders, their scan caches and content → object, in SQLite.
        index: every folder's versions (the folder index doc).
        objects: where file contents are stored (see `FolderObjects`).
        device: this device's ID, recorded in every version.
        rescan_every: seconds between full rescans of every active folder.
        opener: how a file is opened for reading (tests count reads through it).
        watch: False: periodic rescans only (no filesystem events).
        data_dir: the daemon's data dir, which no folder may hold or be inside.
    """

    def __init__(
        self,
        store: FolderStore,
        index: FolderIndex,
        objects: FolderObjects,
        device: str,
        *,
        rescan_every: float = RESCAN_EVERY,
        opener: Opener = open_file,
        watch: bool = True,
        data_dir: bytes | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.objects = objects
        self.device = device
        self.rescan_every = rescan_every
        self.opener = opener
        self._listeners: list[Listener] = []
        self.watch = watch
        self.data_dir = os.path.realpath(data_dir) if data_dir is not None else None
        self._locks: dict[str, trio.Lock] = {}
        self._due: set[str] = set()
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._watchers: dict[str, trio.CancelScope] = {}
        self._scans: dict[str, ScanProgress] = {}

    # -- events -------------------------------------------------------------------------

    def on_event(self, listener: Listener) -> None:
        """Call `listener(folder, change, error)` whenever a folder changes (for /v1/events)."""
        self._listeners.append(listener)

    def _notify(self, name: str, change: FolderChange, error: str = "") -> None:
        for listener in self._listeners:
            try:
                listener(name, change, error)
            except Exception:
                log.exception("a folder event listener failed")

    # -- the loop -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch and rescan every active folder until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for f in await self.store.folders():
                if f.state == "active":
                    self._start_watch(f)
                    self._due.add(f.name)
            task_status.started()
            while True:
                if not self._due:
                    with trio.move_on_after(self.rescan_every) as timer:
                        await self._wake.wait()
                    if timer.cancelled_caught:
                        self._due.update(f.name for f in await self.store.folders())
                self._wake = trio.Event()
                due, self._due = sorted(self._due), set()
                for name in due:
                    await self._scan_quietly(name)

    async def _scan_quietly(self, name: str) -> None:
        try:
            f = await self.store.folder(name)
            if f is not None and f.state == "active":
                await self.scan(name)
        except CitizenError as exc:
            log.warning("scan of folder %s failed: %s", name, exc)
        except Exception:
            log.exception("scan of folder %s failed", name)

    def _want_scan(self, name: str) -> None:
        self._due.add(name)
        self._wake.set()

    def _start_watch(self, f: Folder) -> None:
        if not self.watch or self._nursery is None or f.name in self._watchers:
            return
        scope = trio.CancelScope()
        self._watchers[f.name] = scope
        self._nursery.start_soon(self._watch, f.name, f.root, scope)

    def _stop_watch(self, name: str) -> None:
        scope = self._watchers.pop(name, None)
        if scope is not None:
            scope.cancel()

    async def _watch(self, name: str, root: bytes, scope: trio.CancelScope) -> None:
        with scope:
            await watch_folder(root, lambda: self._want_scan(name), name)
        if self._watchers.get(name) is scope:
            del self._watchers[name]

    async def _readable(self, name: str) -> bytes:
        """The folder's root, here or (a folder another device added) as the index has it.

        Raises:
            NotFoundError: neither this device nor the index knows the folder.
        """
        f = await self.store.folder(name)
        if f is not None:
            return f.root
        root = await self.index.root_of(name)
        if root is None:
            await self._need(name)  # raises, listing the folders there are
        assert root is not None
        return root

    # -- config -------------------------------------------------------------------------

    async def _need(self, name: str) -> Folder:
        f = await self.store.folder(name)
        if f is None and await self.index.root_of(name) is not None:
            raise UsageError(
                f"The folder '{name}' is not watched on this device (it was added on another"
                " one, or here before a recovery): its history and restore work here.",
                f"To protect a copy of it here: citizen folder add PATH --name {name}.",
            )
        if f is None:
            names = ", ".join(x.name for x in await self.store.folders()) or "none yet"
            raise NotFoundError(
                f"There is no folder named '{name}' (folders: {names}).",
                "See `citizen folder list`, or add one with `citizen folder add PATH`.",
            )
        return f

    async def add(
        self, path: str, name: str | None = None, mode: str = "backup"
    ) -> dict[str, object]:
        """Protect the directory at `path` (absolute); writes its marker file, scans it soon.

        Raises:
            FolderPathError: not an absolute path to a directory, or inside another folder.
            UsageError: a bad name or mode, or the name is taken.
        """
        if mode not in MODES:
            raise UsageError(f"Unknown folder mode '{mode}'.", "Use --mode backup.")
        root = os.fsencode(path)
        if not os.path.isabs(root) or not os.path.isdir(root):
            raise FolderPathError(
                f"{path} is not {'a directory' if os.path.isabs(root) else 'an absolute path'}.",
                "Give the absolute path of an existing directory.",
            )
        root = os.path.realpath(root)
        check_root(path, root, self.data_dir)
        name = check_folder_name(name if name is not None else os.fsdecode(os.path.basename(root)))
        for other in await self.store.folders():
            if other.name == name and other.state != "removed":
                raise UsageError(f"There is a folder named '{name}' already.", "Pick --name.")
            if other.state != "removed" and overlaps(other.root, root):
                raise FolderPathError(
                    f"{path} overlaps the folder '{other.name}' ({os.fsdecode(other.root)}).",
                    "A directory belongs to one folder; remove the other first.",
                )
        marker = secrets.token_hex(8)
        await trio.to_thread.run_sync(write_marker, root, name, marker)
        old = await self.store.folder(name)
        f = Folder(
            name=name,
            root=root,
            mode="backup",
            state="active",
            error="",
            added_at=old.added_at if old is not None else int(time.time()),
            last_scan=old.last_scan if old is not None else None,
            marker=marker,
        )
        await self.store.put_folder(f)
        self._start_watch(f)
        self._want_scan(name)
        self._notify(name, "added")
        return await self.info(name)

    async def list(self) -> builtins.list[dict[str, object]]:
        """This device's folders, then those only the index knows (state ``elsewhere``)."""
        here = await self.store.folders()
        listed = [await self._info(f) for f in here]
        mine = {f.name for f in here}
        for name in await self.index.names():
            if name not in mine:
                listed.append(await self._info(await self._elsewhere(name)))
        return listed

    async def info(self, name: str) -> dict[str, object]:
        """Raises: NotFoundError, for a folder neither here nor in the index."""
        f = await self.store.folder(name)
        if f is None and await self.index.root_of(name) is not None:
            f = await self._elsewhere(name)
        return await self._info(f if f is not None else await self._need(name))

    async def _elsewhere(self, name: str) -> Folder:
        """A folder another device added (or this one before it was recovered)."""
        root = await self.index.root_of(name) or b""
        return Folder(name, root, "backup", "elsewhere", "", 0, None, "")

    async def _info(self, f: Folder) -> dict[str, object]:
        versions = await self.index.versions(f.name)
        summary = folder_summary(f, versions, await self.objects.list() if versions else [])
        scanning = self._scans.get(f.name)
        return summary | {"scan": scanning.fields() if scanning is not None else None}

    async def pause(self, name: str) -> dict[str, object]:
        f = await self._need(name)
        if f.state == "active":
            await self.store.set_state(name, "paused", "paused by the user")
            self._stop_watch(name)
            self._notify(name, "paused")
        return await self.info(name)

    async def resume(self, name: str) -> dict[str, object]:
        """Watch and scan the folder again (after a pause or an error).

        Raises:
            FolderPathError: its root or marker is still missing (it stays paused).
        """
        f = await self._need(name)
        if f.state == "removed":
            raise UsageError(
                f"The folder '{name}' was removed.", "Add it again: citizen folder add."
            )
        problem = await trio.to_thread.run_sync(marker_problem, f.root)
        if problem is not None:
            raise FolderPathError(
                problem,
                "Mount the disk again (or put the folder back), then resume; if the folder is"
                " meant to be here and empty, add it again with `citizen folder add`.",
            )
        await self.store.set_state(name, "active")
        self._start_watch(f)
        self._want_scan(name)
        self._notify(name, "resumed")
        return await self.info(name)

    async def remove(self, name: str, *, forget: bool = False) -> dict[str, object]:
        """Stop watching; with `forget`, also drop its history and the objects only it used."""
        f = await self._need(name)
        self._stop_watch(name)
        removed: list[str] = []
        if forget:
            async with self._lock(name):
                mine = {v.object_id for v in await self.index.versions(name)}
                others: set[str | None] = set()
                for other in await self.index.names():
                    if other != name:
                        others.update(v.object_id for v in await self.index.versions(other))
                gone = sorted(o for o in mine - others if o is not None)
                await self.index.forget(name)
                await self.store.forget(name, gone)
                for object_id in gone:
                    try:
                        await self.objects.remove(object_id)
                        removed.append(object_id)
                    except NotFoundError:
                        pass
        else:
            await self.store.set_state(name, "removed", "")
        try:
            await trio.to_thread.run_sync(os.unlink, os.path.join(f.root, MARKER))
        except OSError:
            pass
        self._notify(name, "removed")
        return {"name": name, "forgotten": forget, "objects_removed": len(removed)}

    # -- scanning -----------------------------------------------------------------------

    def _lock(self, name: str) -> trio.Lock:
        return self._locks.setdefault(name, trio.Lock())

    async def scan(self, name: str) -> dict[str, object]:
        """Scan the folder now and record what changed; waits for a scan already running.

        Raises:
            NotFoundError: no such folder.
            UsageError: it is paused or removed.
        """
        async with self._lock(name):
            f = await self._need(name)
            if f.state != "active":
                raise UsageError(
                    f"The folder '{name}' is {f.state}{': ' + f.error if f.error else ''}.",
                    f"Resume it first: citizen folder resume {name}.",
                )
            return await self._scan(f)

    async def _scan(self, f: Folder) -> dict[str, object]:
        report: dict[str, object] = {"name": f.name, "paused": False, "error": ""}
        problem = await trio.to_thread.run_sync(marker_problem, f.root)
        if problem is not None:
            await self.store.set_state(f.name, "paused", problem)
            self._stop_watch(f.name)
            log.warning("folder %s paused: %s", f.name, problem)
            self._notify(f.name, "paused", problem)
            return report | {"paused": True, "error": problem, **scan_counts()}
        secret = await self.index.secret()
        cache = await self.store.cache(f.name)
        progress = self._scans[f.name] = ScanProgress()
        try:
            return report | await self._scan_tree(f, cache, secret, progress)
        finally:
            del self._scans[f.name]

    async def _scan_tree(
        self, f: Folder, cache: dict[bytes, CacheRow], secret: bytes, progress: ScanProgress
    ) -> dict[str, int]:
        found = progress.found
        await trio.to_thread.run_sync(walk, f.root, cache, secret, self.opener, found)
        latest = latest_of(await self.index.versions(f.name))
        changed, deleted = changes(latest, found.seen)
        keep = set(found.busy) | set(found.unreadable)
        deleted = [p for p in deleted if p not in keep and not is_under(p, keep)]
        now = time.time_ns()
        versions: list[Version] = []
        busy = list(found.busy)
        files = [s for s in changed.values() if s.kind == "file"]
        progress.files, progress.bytes = len(files), sum(s.size for s in files)
        progress.storing = True
        if files:  # an object removed since (`citizen rm`) no longer holds its content
            progress.existing = {str(o.get("object_id")) for o in await self.objects.list()}
        for path, seen in sorted(changed.items()):
            object_id: str | None = None
            if seen.kind == "file" and seen.size > 0:
                stored = await self._store_file(f.root, path, seen, secret, progress)
                if stored is None:
                    busy.append(path)
                    found.cache.pop(path, None)
                    continue
                object_id, seen = stored
            versions.append(version_of(path, seen, object_id, self.device, now))
        versions += [deletion_of(latest[p], self.device, now) for p in deleted]
        # versions first: a crash before the cache is saved only costs a re-read next time
        await self.index.record(f, self.device, versions)
        await self.store.save_scan(f.name, found.cache, int(time.time()))
        counts = scan_counts(
            files=sum(s.kind == "file" for s in found.seen.values()),
            read=found.read,
            changed=sum(not v.deleted for v in versions),
            deleted=len(deleted),
            busy=len(busy),
            unreadable=len(found.unreadable),
        )
        if versions:
            self._notify(f.name, "changed")
        return counts

    async def _store_file(
        self, root: bytes, path: bytes, seen: Seen, secret: bytes, progress: ScanProgress
    ) -> tuple[str, Seen] | None:
        """The object holding this content (stored now if new) and the file as stored.

        None: the file kept changing while it was uploaded (each torn upload is removed).
        """
        assert seen.content_hash is not None
        known = await self.store.object_for(seen.content_hash)
        if known is not None and known in progress.existing:
            progress.stored_bytes += seen.size
            return known, seen
        full = os.path.join(root, path)
        for _ in range(UPLOAD_RETRIES):
            try:
                stored = await self._upload(full, path, seen.mode, secret, progress)
            except OSError:
                return None
            if stored is not None:
                return stored
        return None

    async def _upload(
        self, full: bytes, path: bytes, mode: int, secret: bytes, progress: ScanProgress
    ) -> tuple[str, Seen] | None:
        """One try at storing the file; None (and the object removed) if it changed meanwhile."""
        before = await trio.to_thread.run_sync(os.lstat, full)
        f = await trio.to_thread.run_sync(self.opener, full)
        h = keyed_hash(secret)
        size = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal size
            while data := await trio.to_thread.run_sync(f.read, CHUNK):
                h.update(data)
                size += len(data)
                progress.stored_bytes += len(data)
                yield data

        try:
            ref = await self.objects.put(chunks(), object_name(path), before.st_size)
        finally:
            f.close()
        object_id = str(ref["object_id"])
        after = await trio.to_thread.run_sync(os.lstat, full)
        if stable(before, after) and size == after.st_size:
            digest = h.digest()
            await self.store.add_content(digest, object_id, size)
            progress.existing.add(object_id)
            return object_id, Seen("file", size, after.st_mtime_ns, mode, digest)
        log.info("%s changed while it was stored; trying again", display_path(path))
        await self.objects.remove(object_id)
        return None

    # -- history and restore ------------------------------------------------------------

    async def history(self, name: str, path: bytes) -> builtins.list[dict[str, object]]:
        """Every version of one path, oldest first.

        Raises:
            NotFoundError: no such folder, or the path was never in it.
        """
        await self._readable(name)
        versions = await self.index.versions(name, path)
        if not versions:
            raise NotFoundError(
                f"The folder '{name}' never had '{display_path(path)}'.",
                "Paths are relative to the folder root; see `citizen folder status`.",
            )
        return [version_fields(v) for v in versions]

    async def restore(
        self,
        name: str,
        *,
        to: str | None = None,
        at: str | None = None,
        paths: builtins.list[bytes] | None = None,
        force: bool = False,
    ) -> dict[str, object]:
        """Write the folder (or `paths` in it) as it was at `at` (default now) into `to`.

        `to` defaults to the folder's own root. Nothing is written outside `to`.

        Raises:
            NotFoundError: no such folder, or nothing matches `paths` at that time.
            FolderPathError, FolderExistsError: see `restore.check_tree`.
            UsageError: `at` is not a time.
        """
        root = await self._readable(name)
        at_ns = parse_time(at) if at else None
        tree = select_at(await self.index.versions(name), at_ns, paths or ())
        if not tree:
            raise NotFoundError(
                f"The folder '{name}' had nothing{' there' if paths else ''} at that time.",
                "See `citizen folder history NAME PATH` for the times it has.",
            )
        target = os.fsencode(to) if to else root
        if not os.path.isabs(target):
            raise FolderPathError(f"{to} is not an absolute path.", "Give --to an absolute path.")

        async def read(object_id: str) -> AsyncIterator[bytes]:
            _entry, chunks = await self.objects.open_read(object_id)
            return chunks

        report = await restore_tree(target, tree, read, await self.index.secret(), force=force)
        self._notify(name, "restored")
        return {
            "name": name,
            "to": os.fsdecode(target),
            "at": at_ns // 1_000_000_000 if at_ns is not None else None,
            "files": report.files,
            "dirs": report.dirs,
            "links": report.links,
            "bytes": report.bytes,
        }
