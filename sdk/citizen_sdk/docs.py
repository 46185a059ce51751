"""Docs for apps: a live local replica of each open doc, synced with the daemon over a WebSocket.

    async with citizen_sdk.connect() as c:
        handle = await c.docs.create("shopping")
        await handle.change(lambda d: d.update(items=[]))
        await handle.change(lambda d: d["items"].append({"name": "milk", "done": False}))
        async for value in handle.changes():
            print(value["items"])

The replica is an Automerge document in this process. `DocHandle.change`
edits it in one Automerge transaction and returns once the daemon has
committed that change to disk (its sync reply carries our heads). Changes
made elsewhere (friends, the CLI, other apps) arrive by the same socket; a
task in the client's task group applies them as they come.
"""

from __future__ import annotations

import builtins
import inspect
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from types import TracebackType

import anyio
from anyio.abc import TaskGroup
from automerge.core import ROOT, Document, Message, SyncState

from citizen.api.models import CreateDoc, ShareDoc, UnshareDoc
from citizen.docs.session import sync_message_heads
from citizen.docs.values import is_automerge_panic, to_json
from citizen.errors import CitizenError, NotAuthorizedError, RemoteProtocolError, UsageError
from citizen.ids import DocId, parse_doc_id
from citizen_sdk._http import Channel, path_part
from citizen_sdk._websocket import Closed, WebSocket
from citizen_sdk.errors import DocClosedError, error_for
from citizen_sdk.proxy import MapProxy
from citizen_sdk.types import CreatedDoc, DeletedDoc, DocInfo, SharedDoc, UnsharedDoc

ChangeFn = Callable[[MapProxy], object]


class DocHandle:
    """One open doc: its live value, edits, a stream of changes, sharing.

    Get one from `Docs.open` or `Docs.create`; close it with `close()` or use
    it as an async context manager. All methods must run in the event loop
    that opened it.
    """

    def __init__(self, doc_id: DocId, socket: WebSocket, channel: Channel) -> None:
        self.doc_id = doc_id
        self._socket = socket
        self._channel = channel
        self._doc = Document()
        self._state = SyncState()
        self._send_lock = anyio.Lock()
        self._server_heads: frozenset[bytes] | None = None
        self._version = 0  # bumped whenever the replica's content changes
        self._woken = anyio.Event()  # set (and replaced) at every step of the conversation
        self._last_refusal: CitizenError | None = None
        self._failure: CitizenError | None = None
        self._closed = False
        self._scope = anyio.CancelScope()

    # -- reading -----------------------------------------------------------------

    @property
    def value(self) -> dict[str, object]:
        """The doc as plain Python data (dicts, lists, str, numbers, bool, None).

        Values these bindings cannot read (counters made by other apps) show as
        ``{"$unreadable": "counter"}``; bytes and timestamps as ``{"$bytes": ...}``
        and ``{"$timestamp": ...}``.
        """
        value = to_json(self._doc)
        assert isinstance(value, dict)
        return value

    @property
    def heads(self) -> builtins.list[str]:
        """The replica's current heads (change hashes, hex), sorted."""
        return sorted(h.hex() for h in self._doc.get_heads())

    def changes(self) -> AsyncIterator[dict[str, object]]:
        """Yield the new value after each change, local or remote, until the handle closes.

        Counts from the moment of this call, so ``stream = handle.changes()``
        before an edit never misses it. Changes that land while the consumer
        is busy are folded into the next value it gets, so a slow consumer
        always sees the latest state.

        Raises:
            DocClosedError: the connection to the daemon ended (not on `close()`).
        """
        return self._changes_after(self._version)

    async def _changes_after(self, seen: int) -> AsyncIterator[dict[str, object]]:
        while True:
            try:
                await self._wait_version_after(seen)
            except DocClosedError:
                if self._closed:
                    return
                raise
            seen = self._version
            yield self.value

    # -- writing -----------------------------------------------------------------

    async def change(self, fn: ChangeFn) -> None:
        """Edit the doc: `fn` gets the root map as a `MapProxy` and mutates it.

        All of `fn`'s edits form one Automerge change (none if `fn` raises or
        edits nothing). Returns once the daemon has committed it to disk.

        Raises:
            NotAuthorizedError: this household may only read the doc; the edit
                is undone here and nothing changed on the daemon.
            UsageError: `fn` stored something that is not plain data.
            DocClosedError: the handle is closed or the connection ended.
        """
        self._check_open()
        before = self._doc.get_heads()
        with self._doc.transaction() as tx:
            result = fn(MapProxy(tx, ROOT))
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise UsageError(
                    "change() takes a plain function, not an async one.",
                    "Write `def edit(doc): ...` and pass `edit`.",
                )
        mine = frozenset(self._doc.get_heads()) - frozenset(before)
        if not mine:
            return
        self._version += 1
        replica = self._doc  # a refusal replaces it, rolled back to the daemon's heads
        self._wake()
        await self._flush()
        await self._wait(lambda: self._doc is not replica or self._acknowledged(mine))
        if self._doc is not replica:
            assert self._last_refusal is not None
            raise self._last_refusal

    async def share(self, friend: str, role: str = "writer") -> SharedDoc:
        """Share the doc with a friend household (ID or name) as "reader" or "writer".

        Raises:
            NotAuthorizedError: only the owning household can share.
            NotFoundError: no such friend.
            UsageError: a role other than reader or writer.
        """
        match role:
            case "reader" | "writer":
                body = ShareDoc(friend=friend, role=role)
            case _:
                raise UsageError(f"Role must be reader or writer, not {role!r}.")
        path = f"/v1/docs/{path_part(self.doc_id)}/share"
        return await self._channel.call(SharedDoc, "POST", path, body)

    async def unshare(self, friend: str) -> None:
        """Stop sharing the doc with a friend household.

        Raises:
            NotFoundError: it is not shared with them.
        """
        path = f"/v1/docs/{path_part(self.doc_id)}/unshare"
        await self._channel.call(UnsharedDoc, "POST", path, UnshareDoc(friend=friend))

    # -- lifetime ----------------------------------------------------------------

    async def close(self) -> None:
        """Stop syncing and drop the connection (committed changes are safe on the daemon)."""
        if self._closed:
            return
        self._closed = True
        self._scope.cancel()
        await self._socket.aclose()
        self._wake()

    async def __aenter__(self) -> DocHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the conversation with the daemon ----------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DocClosedError(f"Doc {self.doc_id} is closed here.", "Open it again.")
        if self._failure is not None:
            raise self._failure

    def _wake(self) -> None:
        self._woken.set()
        self._woken = anyio.Event()

    async def _wait(self, done: Callable[[], bool]) -> None:
        while not done():
            self._check_open()
            await self._woken.wait()

    async def _wait_version_after(self, seen: int) -> None:
        await self._wait(lambda: self._version != seen)

    def _in_sync(self) -> bool:
        return self._server_heads is not None and (
            frozenset(self._doc.get_heads()) == self._server_heads
        )

    def _acknowledged(self, mine: frozenset[bytes]) -> bool:
        """Whether the daemon's last heads include (or descend from) the changes `mine`."""
        server = self._server_heads
        if server is None:
            return False
        if mine <= server:
            return True
        # Changes not reachable from the server's heads (hashes we lack are ignored,
        # so until its changes arrive ours count as missing: we wait a message more).
        missing = {c.hash for c in self._doc.get_changes(list(server))}
        return not mine & missing

    async def _flush(self) -> None:
        """Send the daemon what it lacks, if anything (one sync message)."""
        async with self._send_lock:
            message = self._doc.generate_sync_message(self._state)
            if message is not None:
                await self._socket.send_bytes(message.encode())

    async def _sync_until_current(self) -> None:
        await self._flush()
        await self._wait(self._in_sync)

    async def run(self) -> None:
        """Apply what the daemon sends until closed. Never raises: failures end the handle."""
        with self._scope:
            try:
                while True:
                    frame = await self._socket.receive()
                    match frame:
                        case bytes():
                            self._on_sync(frame)
                            await self._flush()
                        case str():
                            self._on_refusal(frame)
                            await self._flush()
                        case Closed(code=code, reason=reason):
                            self._failure = DocClosedError(
                                f"The daemon closed doc {self.doc_id}'s connection"
                                f" ({code}: {reason or 'no reason given'}).",
                                "Open the doc again; see the daemon's log if it persists.",
                            )
                            return
                    self._wake()
            except CitizenError as exc:
                self._failure = exc
            except Exception as exc:
                self._failure = CitizenError(f"Syncing doc {self.doc_id} failed: {exc!r}.")
            finally:
                self._wake()
        if self._failure is not None:
            with anyio.CancelScope(shield=True):
                await self._socket.aclose()

    def _on_sync(self, data: bytes) -> None:
        before = self._doc.get_heads()
        try:
            self._doc.receive_sync_message(self._state, Message.decode(data))
        except BaseException as exc:
            if isinstance(exc, Exception) or is_automerge_panic(exc):
                raise RemoteProtocolError(
                    f"The daemon sent a sync message for doc {self.doc_id} that cannot be"
                    f" applied: {exc}.",
                    "Update citizen_sdk or the daemon.",
                ) from exc
            raise
        heads = sync_message_heads(data)
        if heads is not None:
            self._server_heads = frozenset(heads)
        if self._doc.get_heads() != before:
            self._version += 1

    def _on_refusal(self, text: str) -> None:
        """The daemon refused our changes: undo them here and sync afresh (as it does)."""
        try:
            body: object = json.loads(text)
        except ValueError:
            body = None
        error = error_for(403, body)
        if not isinstance(error, NotAuthorizedError):
            error = NotAuthorizedError(error.message, error.hint)
        self._last_refusal = error
        try:
            keep = list(self._server_heads or ())
            self._doc = self._doc.fork(keep) if keep else Document()
        except BaseException as exc:
            if not (isinstance(exc, Exception) or is_automerge_panic(exc)):
                raise
            self._doc = Document()  # their heads are not all here yet: start from nothing
        self._state = SyncState()
        self._version += 1


class OpeningDoc:
    """A doc being opened: await it for the handle, or use it with ``async with``."""

    def __init__(self, opener: Callable[[], Coroutine[object, object, DocHandle]]) -> None:
        self._opener = opener
        self._handle: DocHandle | None = None

    def __await__(self) -> Generator[object, None, DocHandle]:
        return self._opener().__await__()

    async def __aenter__(self) -> DocHandle:
        self._handle = await self._opener()
        return self._handle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            await self._handle.close()


class Docs:
    """Shared CRDT documents: create, open (live replica), list, delete."""

    def __init__(self, channel: Channel, tasks: TaskGroup) -> None:
        self._channel = channel
        self._tasks = tasks
        self._handles: set[DocHandle] = set()

    def create(self, title: str) -> OpeningDoc:
        """Create a doc owned by this household and open it.

        ``handle = await docs.create(title)``, or ``async with docs.create(title) as handle:``.

        Raises:
            UsageError: the title is too long.
        """
        return OpeningDoc(lambda: self._create(title))

    async def _create(self, title: str) -> DocHandle:
        created = await self._channel.call(CreatedDoc, "POST", "/v1/docs", CreateDoc(title=title))
        return await self._open(created.doc_id)

    def open(self, doc_id: str) -> OpeningDoc:
        """Open a live replica of `doc_id`, ready once it has everything the daemon has.

        ``handle = await docs.open(doc_id)`` (close it yourself), or
        ``async with docs.open(doc_id) as handle:``.

        Raises:
            UsageError: not a doc ID.
            NotFoundError: no such doc here (or it was deleted).
        """
        return OpeningDoc(lambda: self._open(doc_id))

    async def _open(self, doc_id: str) -> DocHandle:
        checked = parse_doc_id(doc_id)
        socket = await self._channel.websocket(f"/v1/docs/{path_part(checked)}/sync")
        handle = DocHandle(checked, socket, self._channel)
        self._handles.add(handle)
        self._tasks.start_soon(self._run, handle)
        try:
            await handle._sync_until_current()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await handle.close()
            raise
        return handle

    async def _run(self, handle: DocHandle) -> None:
        try:
            await handle.run()
        finally:
            self._handles.discard(handle)

    async def list(self) -> builtins.list[DocInfo]:
        """Every doc here: ours, and those friends shared with us."""
        return await self._channel.call(builtins.list[DocInfo], "GET", "/v1/docs")

    async def delete(self, doc_id: str) -> None:
        """Delete a doc this household owns (friends keep their replicas).

        Raises:
            NotAuthorizedError: another household owns it.
            NotFoundError: no such doc.
        """
        await self._channel.call(DeletedDoc, "DELETE", f"/v1/docs/{path_part(doc_id)}")

    async def aclose(self) -> None:
        """Close every open handle (done by the client on exit)."""
        for handle in builtins.list(self._handles):
            await handle.close()
