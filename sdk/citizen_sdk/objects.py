"""Objects for apps: files stored encrypted and erasure-coded across friends, streamed both ways.

    async with citizen_sdk.connect() as c:
        ref = await c.objects.put("holiday.mp4", progress=lambda sent, total: ...)
        ref = await c.objects.wait_protected(ref, timeout=600)  # or put(..., wait=True)
        async with c.objects.get(ref) as reader:
            async for chunk in reader:
                ...

Uploads and downloads stream: neither side holds the whole file in memory.
A put returns once the object is durable on the daemon's device; friends get
its shares in the background. ``ref.protection`` says how far that got
(``local only``, ``spreading``, ``protected``) and ``ref.survives`` how many
friend households it survives the loss of.
A progress callback gets ``(bytes so far, total)``, where total is None when
the size is not known in advance (an async iterable without a size).
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

import anyio

from citizen.api.models import ObjectSelector, ProtectionWait
from citizen.api.models.objects import MAX_WAIT
from citizen.errors import CitizenError, UsageError
from citizen_sdk._http import Channel, path_part
from citizen_sdk.object_types import (
    EvictedObject,
    ObjectCheck,
    ObjectRef,
    RemovedObject,
    RepairReport,
    Storage,
)

#: ``progress(done, total)``: bytes sent or received so far, and the total if known
Progress = Callable[[int, int | None], object]
#: what `Objects.put` stores: a file path, bytes, or an async iterable of byte chunks
Source = str | os.PathLike[str] | bytes | AsyncIterable[bytes]

CHUNK = 256 * 1024


def _object_id(ref: ObjectRef | str) -> str:
    return ref.object_id if isinstance(ref, ObjectRef) else ref


class ObjectReader:
    """One object's bytes, streamed from the daemon.

    ``async for chunk in reader`` (opens on first use and closes at the end),
    or ``async with c.objects.get(ref) as reader:`` to have `size` and `name`
    before the first chunk and close early safely. Get one from `Objects.get`.

    Attributes:
        size: the object's size in bytes (known once open).
        name: the name it was stored under (known once open).
    """

    def __init__(self, channel: Channel, object_id: str, progress: Progress | None) -> None:
        self._channel = channel
        self._object_id = object_id
        self._progress = progress
        self._stack: AsyncExitStack | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._received = 0
        self._done = False
        self.size: int | None = None
        self.name: str | None = None

    async def _open(self) -> AsyncIterator[bytes]:
        if self._chunks is not None:
            return self._chunks
        if self._done:
            raise UsageError("This object reader was already read or closed.", "Call get() again.")
        stack = AsyncExitStack()
        try:
            response = await stack.enter_async_context(
                self._channel.download(f"/v1/objects/{path_part(self._object_id)}")
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        length = response.headers.get("content-length")
        self.size = int(length) if length is not None and length.isdigit() else None
        try:
            self.name = bytes.fromhex(response.headers.get("x-citizen-object-name", "")).decode(
                "utf-8", "replace"
            )
        except ValueError:
            self.name = ""
        self._chunks = response.aiter_bytes(CHUNK)
        return self._chunks

    def __aiter__(self) -> ObjectReader:
        return self

    async def __anext__(self) -> bytes:
        chunks = await self._open()
        while True:
            try:
                with self._channel.translated():
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                await self.aclose()
                if self.size is not None and self._received != self.size:
                    raise CitizenError(
                        f"Object {self._object_id} arrived cut short: {self._received} of"
                        f" {self.size} bytes.",
                        "Try again; `citizen verify` checks the friends holding it.",
                    ) from None
                raise
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.aclose()
                raise
            if not chunk:
                continue
            self._received += len(chunk)
            if self._progress is not None:
                self._progress(self._received, self.size)
            return chunk

    async def read(self) -> bytes:
        """The whole object in memory (for small objects)."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        """Stop reading and drop the connection."""
        self._done = True
        self._chunks = None
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> ObjectReader:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Objects:
    """Files stored encrypted and erasure-coded across friend households."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    async def put(
        self,
        source: Source,
        *,
        name: str | None = None,
        progress: Progress | None = None,
        wait: bool = False,
        timeout: float = 600.0,
    ) -> ObjectRef:
        """Store a file (path), bytes, or an async iterable of chunks; streamed to the daemon.

        Args:
            name: what to call it; default the file's name (empty for other sources).
            progress: called with (bytes sent so far, total) after each chunk;
                total is None for an async iterable.
            wait: also wait until friends protect it, up to `timeout` seconds
                (see `wait_protected`).

        Returns:
            The stored object once it is durable on the daemon's device (with
            `wait`, once protected or when the timeout passed: check
            ``ref.protection``).

        Raises:
            UsageError: the name is too long or not a display name.
            OSError: the file cannot be read.
        """
        size: int | None
        chunks: AsyncIterator[bytes]
        if isinstance(source, bytes):
            size, chunks = len(source), _one(source)
            name = name or ""
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            size = (await anyio.Path(path).stat()).st_size
            chunks = _read_file(path, size)
            name = path.name if name is None else name
        else:
            size, chunks = None, aiter(source)
            name = name or ""
        ref = await self._channel.upload(
            ObjectRef,
            "/v1/objects",
            _counted(chunks, size, progress),
            params={"name": name},
            size=size,
        )
        if wait and ref.protection != "protected":
            ref = await self.wait_protected(ref, timeout=timeout)
        return ref

    async def wait_protected(self, ref: ObjectRef | str, *, timeout: float = 600.0) -> ObjectRef:
        """Wait until friends hold the object at the household's target protection.

        Returns:
            The object as it is then: ``protection == "protected"``, or (after
            `timeout` seconds) how far it got, ``survives`` of ``target_survives``.

        Raises:
            NotFoundError: no such object.
        """
        path = f"/v1/objects/{path_part(_object_id(ref))}/wait"
        left = max(0.0, timeout)
        while True:
            step = min(left, MAX_WAIT)
            got = await self._channel.call(ObjectRef, "POST", path, ProtectionWait(timeout=step))
            left -= step
            if got.protection == "protected" or left <= 0:
                return got

    def get(self, ref: ObjectRef | str, *, progress: Progress | None = None) -> ObjectReader:
        """The object's bytes as an async iterator of chunks (see `ObjectReader`).

        Raises (when iterated or entered):
            NotFoundError: no such object.
            UnreachableError: no local copy and too few holders online.
        """
        return ObjectReader(self._channel, _object_id(ref), progress)

    async def list(self) -> builtins.list[ObjectRef]:
        """Every object this household stores, oldest first."""
        return await self._channel.call(builtins.list[ObjectRef], "GET", "/v1/objects")

    async def remove(self, ref: ObjectRef | str) -> RemovedObject:
        """Delete the object here and (signed) its shares at the friends holding them.

        Raises:
            NotFoundError: no such object.
        """
        path = f"/v1/objects/{path_part(_object_id(ref))}"
        return await self._channel.call(RemovedObject, "DELETE", path)

    async def evict(self, ref: ObjectRef | str) -> EvictedObject:
        """Drop this device's plaintext copy; friends' shares still hold the object.

        Raises:
            NotFoundError: no such object.
            NotProtectedError: friends do not protect it yet, so its local copy was kept.
        """
        path = f"/v1/objects/{path_part(_object_id(ref))}/evict"
        return await self._channel.call(EvictedObject, "POST", path)

    async def verify(self, ref: ObjectRef | str | None = None) -> builtins.list[ObjectCheck]:
        """Challenge the holders of one object (or all) to prove they still hold their shares.

        Raises:
            NotFoundError: no such object.
            UnreachableError: the daemon runs offline.
        """
        body = ObjectSelector(object_id=_object_id(ref) if ref is not None else None)
        path = "/v1/objects/verify"
        return await self._channel.call(builtins.list[ObjectCheck], "POST", path, body)

    async def repair(self, ref: ObjectRef | str | None = None) -> RepairReport:
        """Check holders, re-make lost shares and re-place those of gone friends.

        Raises:
            NotFoundError: no such object.
            UnreachableError: the daemon runs offline.
        """
        body = ObjectSelector(object_id=_object_id(ref) if ref is not None else None)
        return await self._channel.call(RepairReport, "POST", "/v1/objects/repair", body)

    async def storage(self) -> Storage:
        """Storage both ways: what we hold for friends, what they hold for us."""
        return await self._channel.call(Storage, "GET", "/v1/storage")


async def _one(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


async def _read_file(path: Path, size: int) -> AsyncIterator[bytes]:
    """The file's first `size` bytes (what Content-Length promised), in chunks."""
    left = size
    async with await anyio.open_file(path, "rb") as f:
        while left > 0:
            chunk = await f.read(min(CHUNK, left))
            if not chunk:
                raise CitizenError(
                    f"{path} shrank while it was being stored.", "Store it again once it is stable."
                )
            left -= len(chunk)
            yield chunk


async def _counted(
    chunks: AsyncIterator[bytes], total: int | None, progress: Progress | None
) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in chunks:
        if not chunk:
            continue
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise UsageError("An object source must yield bytes.", "Encode text before putting it.")
        yield bytes(chunk)
        sent += len(chunk)
        if progress is not None:
            progress(sent, total)
