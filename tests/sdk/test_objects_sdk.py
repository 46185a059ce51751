"""citizen_sdk objects against real daemons: an owner (k=1, n=2, happiness=2) and two friends.

The same async body runs under trio and under asyncio; `connect_sync` gets
docs and objects too. The three daemons are started once for the module.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import citizen_sdk
import pytest
import sniffio

from tests.daemons import Daemon, pair, wait_until

BACKENDS = ["trio", "asyncio"]
SEGMENT = 64 * 1024


def _online(owner: Daemon, name: str) -> bool:
    return any(f["name"] == name and f["online"] for f in owner.json("friends"))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Daemon]]:
    """The owner and its two friends, running and paired."""
    root = tmp_path_factory.mktemp("objects")
    owner = Daemon(root / "owner", "owner")
    friends = [Daemon(root / name, name) for name in ("f0", "f1")]
    made = [owner, *friends]
    try:
        owner.init()
        owner.configure(k=1, n=2, happiness=2, segment_size=SEGMENT)
        owner.start()
        for f in friends:
            f.init()
            f.start()
            pair(owner, f)
            wait_until(lambda f=f: _online(owner, f.name), f"{f.name} online")
        yield made
    finally:
        for d in made:
            d.kill()


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        await anyio.sleep(0)  # a real producer yields to the loop between chunks
        yield part


async def _objects(owner: Path, tmp: Path, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    data = os.urandom(3 * SEGMENT + 1234)  # several segments and a short last one
    path = tmp / f"photo-{backend}.bin"
    path.write_bytes(data)
    async with citizen_sdk.connect(owner) as c:
        sent: list[tuple[int, int | None]] = []
        ref = await c.objects.put(
            path, progress=lambda done, total: sent.append((done, total)), wait=True
        )
        assert isinstance(ref, citizen_sdk.ObjectRef)
        assert (ref.name, ref.size, ref.state) == (path.name, len(data), "complete")
        assert (ref.protection, ref.survives, ref.target_survives) == ("protected", 1, 1)
        assert (ref.k, ref.n) == (1, 2)
        assert ref.local and ref.segments == 4 and sorted(ref.placement) == [0, 1]
        assert len(set(ref.placement.values())) == 2  # two distinct friend households
        # progress: strictly increasing, every call knows the total, the last one is the total
        done = [d for d, _ in sent]
        assert done == sorted(set(done)) and done[-1] == len(data)
        assert {t for _, t in sent} == {len(data)}

        # an async iterable: total unknown, the bytes sent still end at the size
        parts = [os.urandom(50_000) for _ in range(5)]
        streamed: list[tuple[int, int | None]] = []
        ref2 = await c.objects.put(
            _chunks(parts), name="stream.bin", progress=lambda d, t: streamed.append((d, t))
        )
        assert (ref2.name, ref2.size) == ("stream.bin", 250_000)
        assert (await c.objects.wait_protected(ref2, timeout=60)).protection == "protected"
        assert [d for d, _ in streamed] == [50_000 * i for i in range(1, 6)]
        assert {t for _, t in streamed} == {None}

        listed = {o.object_id: o for o in await c.objects.list()}
        assert listed[ref.object_id] == ref and ref2.object_id in listed

        # get: streamed, with progress against the Content-Length
        got: list[tuple[int, int | None]] = []
        async with c.objects.get(ref, progress=lambda d, t: got.append((d, t))) as reader:
            assert (reader.size, reader.name) == (len(data), path.name)
            body = b"".join([chunk async for chunk in reader])
        assert body == data
        assert got[-1] == (len(data), len(data))
        assert [d for d, _ in got] == sorted({d for d, _ in got})  # strictly increasing
        assert await c.objects.get(ref2.object_id).read() == b"".join(parts)

        # verify, storage, evict, then read back from the friends' shares
        [check] = await c.objects.verify(ref)
        assert check.healthy and check.object_id == ref.object_id
        assert {h.household for h in check.holders} == set(ref.placement.values())
        storage = await c.objects.storage()
        assert storage.objects >= 2 and ref.object_id not in storage.under_replicated
        assert {h.household for h in storage.held_by_friends} == set(ref.placement.values())
        evicted = await c.objects.evict(ref)
        assert evicted.evicted and evicted.ref.object_id == ref.object_id
        assert not next(o for o in await c.objects.list() if o.object_id == ref.object_id).local
        assert await c.objects.get(ref).read() == data
        report = await c.objects.repair(ref)
        assert [o.object_id for o in report.objects] == [ref.object_id]

        # remove: gone here, shares deleted at both holders
        removed = await c.objects.remove(ref)
        assert removed.object_id == ref.object_id and not removed.unreachable
        assert set(removed.deleted) == set(ref.placement.values())
        assert ref.object_id not in {o.object_id for o in await c.objects.list()}

        # typed errors, nothing changed
        with pytest.raises(citizen_sdk.NotFoundError):
            await c.objects.get(ref).read()
        with pytest.raises(citizen_sdk.NotFoundError):
            await c.objects.remove(ref)
        with pytest.raises(citizen_sdk.UsageError):
            await c.objects.put(b"x", name="n" * 300)
        with pytest.raises(citizen_sdk.CitizenError):
            async for _chunk in c.objects.get("not an object id"):
                pass
        with pytest.raises(FileNotFoundError):
            await c.objects.put(tmp / "missing.bin")
        await c.objects.remove(ref2)
        assert await c.objects.list() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_objects_put_get_with_progress(network: list[Daemon], tmp_path: Path, backend: str) -> None:
    anyio.run(_objects, network[0].data_dir, tmp_path, backend, backend=backend)


def test_connect_sync_docs_and_objects(network: list[Daemon]) -> None:
    owner = network[0]
    with citizen_sdk.connect_sync(owner.data_dir) as c:
        with c.docs.create("Todo") as handle:
            assert handle.value == {}
            changes = handle.changes()
            handle.change(lambda d: d.__setitem__("items", ["call mum"]))
            assert next(changes) == {"items": ["call mum"]}
            assert handle.value == {"items": ["call mum"]} and handle.heads
            doc_id = handle.doc_id
        assert doc_id in {d.doc_id for d in c.docs.list()}
        with c.docs.open(doc_id) as again:
            assert again.value == {"items": ["call mum"]}
        c.docs.delete(doc_id)
        with pytest.raises(citizen_sdk.NotFoundError):
            c.docs.open(doc_id)

        progress: list[int] = []
        data = os.urandom(2 * SEGMENT)
        ref = c.objects.put(
            iter([data[:SEGMENT], data[SEGMENT:]]),
            name="sync.bin",
            progress=lambda d, _t: progress.append(d),
        )
        assert progress == [SEGMENT, 2 * SEGMENT] and ref.size == len(data)
        assert b"".join(c.objects.get(ref)) == data
        assert [o.object_id for o in c.objects.list()] == [ref.object_id]
        assert c.objects.verify()[0].healthy
        assert c.objects.storage().objects == 1
        assert c.objects.remove(ref.object_id).object_id == ref.object_id
        with pytest.raises(citizen_sdk.NotFoundError):
            c.objects.evict(ref)
