"""A blocking client for scripts: `with connect_sync() as c: c.status()`.

It runs the async client on an event loop in a helper thread (an anyio
blocking portal) and waits for each answer, so a script needs no async code
and the two clients can never disagree.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from citizen.errors import UsageError
from citizen_sdk._http import DEFAULT_TIMEOUT
from citizen_sdk.client import Client, Friends, Invites, connect
from citizen_sdk.docs import ChangeFn, DocHandle, Docs
from citizen_sdk.object_types import (
    EvictedObject,
    ObjectCheck,
    ObjectRef,
    RemovedObject,
    RepairReport,
    Storage,
)
from citizen_sdk.objects import ObjectReader, Objects, Progress
from citizen_sdk.types import (
    DocInfo,
    Friend,
    Health,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    SharedDoc,
    Status,
)

_T = TypeVar("_T")


class SyncFriends:
    """Blocking `Client.friends`."""

    def __init__(self, portal: BlockingPortal, friends: Friends) -> None:
        self._portal = portal
        self._friends = friends

    def list(self) -> builtins.list[Friend]:
        """See `Friends.list`."""
        return self._portal.call(self._friends.list)

    def remove(self, friend: str) -> RemovedFriend:
        """See `Friends.remove`."""
        return self._portal.call(self._friends.remove, friend)

    def offer(self, friend: str, mib: int | None) -> int | None:
        """See `Friends.offer`."""
        return self._portal.call(self._friends.offer, friend, mib)


class SyncInvites:
    """Blocking `Client.invites`."""

    def __init__(self, portal: BlockingPortal, invites: Invites) -> None:
        self._portal = portal
        self._invites = invites

    def create(self, expires_s: int = 600) -> Invite:
        """See `Invites.create`."""
        return self._portal.call(self._invites.create, expires_s)

    def status(self, invite_id: str) -> InviteState:
        """See `Invites.status`."""
        return self._portal.call(self._invites.status, invite_id)

    def accept(self, code: str, name: str | None = None) -> Pairing:
        """See `Invites.accept`."""
        return self._portal.call(partial(self._invites.accept, code, name))


class SyncDocHandle:
    """Blocking `DocHandle`: one open doc's live replica. Close it, or use it in ``with``."""

    def __init__(self, portal: BlockingPortal, handle: DocHandle) -> None:
        self._portal = portal
        self._handle = handle
        self.doc_id = handle.doc_id

    @property
    def value(self) -> dict[str, object]:
        """See `DocHandle.value` (read in the client's event loop thread)."""
        return self._portal.call(lambda: self._handle.value)

    @property
    def heads(self) -> builtins.list[str]:
        """See `DocHandle.heads`."""
        return self._portal.call(lambda: self._handle.heads)

    def change(self, fn: ChangeFn) -> None:
        """See `DocHandle.change` (`fn` runs in the client's event loop thread)."""
        self._portal.call(self._handle.change, fn)

    def changes(self) -> Iterator[dict[str, object]]:
        """See `DocHandle.changes`: blocks for each next value."""
        stream = self._portal.call(self._handle.changes)
        return _blocking_iter(self._portal, stream)

    def share(self, friend: str, role: str = "writer") -> SharedDoc:
        """See `DocHandle.share`."""
        return self._portal.call(self._handle.share, friend, role)

    def unshare(self, friend: str) -> None:
        """See `DocHandle.unshare`."""
        self._portal.call(self._handle.unshare, friend)

    def close(self) -> None:
        """See `DocHandle.close`."""
        self._portal.call(self._handle.close)

    def __enter__(self) -> SyncDocHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncDocs:
    """Blocking `Client.docs`."""

    def __init__(self, portal: BlockingPortal, docs: Docs) -> None:
        self._portal = portal
        self._docs = docs

    def create(self, title: str) -> SyncDocHandle:
        """See `Docs.create`."""

        async def create() -> DocHandle:
            return await self._docs.create(title)

        return SyncDocHandle(self._portal, self._portal.call(create))

    def open(self, doc_id: str) -> SyncDocHandle:
        """See `Docs.open`."""

        async def open_doc() -> DocHandle:
            return await self._docs.open(doc_id)

        return SyncDocHandle(self._portal, self._portal.call(open_doc))

    def list(self) -> builtins.list[DocInfo]:
        """See `Docs.list`."""
        return self._portal.call(self._docs.list)

    def delete(self, doc_id: str) -> None:
        """See `Docs.delete`."""
        self._portal.call(self._docs.delete, doc_id)


class SyncObjects:
    """Blocking `Client.objects`."""

    def __init__(self, portal: BlockingPortal, objects: Objects) -> None:
        self._portal = portal
        self._objects = objects

    def put(
        self,
        source: str | os.PathLike[str] | bytes | Iterable[bytes],
        *,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> ObjectRef:
        """See `Objects.put`; an iterable of chunks is read in a worker thread.

        `progress` is called in the client's event loop thread.
        """
        if isinstance(source, str | os.PathLike | bytes):
            return self._portal.call(
                partial(self._objects.put, source, name=name, progress=progress)
            )
        chunks = _from_thread_iter(iter(source))
        return self._portal.call(partial(self._objects.put, chunks, name=name, progress=progress))

    def get(self, ref: ObjectRef | str, *, progress: Progress | None = None) -> Iterator[bytes]:
        """See `Objects.get`: the object's bytes, chunk by chunk, blocking for each."""
        reader: ObjectReader = self._objects.get(ref, progress=progress)
        return _blocking_iter(self._portal, reader, reader.aclose)

    def list(self) -> builtins.list[ObjectRef]:
        """See `Objects.list`."""
        return self._portal.call(self._objects.list)

    def remove(self, ref: ObjectRef | str) -> RemovedObject:
        """See `Objects.remove`."""
        return self._portal.call(self._objects.remove, ref)

    def evict(self, ref: ObjectRef | str) -> EvictedObject:
        """See `Objects.evict`."""
        return self._portal.call(self._objects.evict, ref)

    def verify(self, ref: ObjectRef | str | None = None) -> builtins.list[ObjectCheck]:
        """See `Objects.verify`."""
        return self._portal.call(self._objects.verify, ref)

    def repair(self, ref: ObjectRef | str | None = None) -> RepairReport:
        """See `Objects.repair`."""
        return self._portal.call(self._objects.repair, ref)

    def storage(self) -> Storage:
        """See `Objects.storage`."""
        return self._portal.call(self._objects.storage)


def _blocking_iter(
    portal: BlockingPortal,
    stream: AsyncIterator[_T],
    close: Callable[[], Awaitable[None]] | None = None,
) -> Iterator[_T]:
    """Iterate `stream` (which lives in the portal's loop) from this thread."""

    async def step() -> builtins.list[_T]:
        """The next item, or nothing at the end."""
        try:
            return [await stream.__anext__()]
        except StopAsyncIteration:
            return []

    try:
        while item := portal.call(step):
            yield item[0]
    finally:
        if close is not None:
            portal.call(close)


async def _from_thread_iter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking iterator's items, each fetched in a worker thread."""
    end = object()
    while True:
        chunk = await anyio.to_thread.run_sync(next, chunks, end)
        if chunk is end:
            return
        if not isinstance(chunk, bytes):
            raise UsageError("An object source must yield bytes.", "Encode text before putting it.")
        yield chunk


class SyncClient:
    """Blocking twin of `Client`: the same areas and methods, without `await`."""

    def __init__(self, portal: BlockingPortal, client: Client) -> None:
        self._portal = portal
        self._client = client
        self.friends = SyncFriends(portal, client.friends)
        self.invites = SyncInvites(portal, client.invites)
        self.docs = SyncDocs(portal, client.docs)
        self.objects = SyncObjects(portal, client.objects)

    @property
    def where(self) -> str:
        """The socket path or URL this client talks to."""
        return self._client.where

    def status(self) -> Status:
        """See `Client.status`."""
        return self._portal.call(self._client.status)

    def health(self) -> Health:
        """See `Client.health`."""
        return self._portal.call(self._client.health)


@contextmanager
def connect_sync(
    data_dir: Path | str | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[SyncClient]:
    """Blocking `connect()`, for scripts; the same arguments.

    Raises:
        DaemonNotRunningError: no daemon socket in the data dir.
    """
    with start_blocking_portal() as portal:
        manager = connect(data_dir, url=url, token=token, timeout=timeout)
        with portal.wrap_async_context_manager(manager) as client:
            yield SyncClient(portal, client)
