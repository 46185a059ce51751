"""`c.events()` against real daemons: friends coming and going, docs and objects changing.

Both trio and asyncio. The owner stores objects as k=1, n=1, happiness=1, so its one
friend is enough to put.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import citizen_sdk
import pytest
import sniffio

from citizen.ids import DeviceId, DocId, HouseholdId, ObjectId
from tests.daemons import Daemon

BACKENDS = ["trio", "asyncio"]
LIVE = 90  # bounds a hung test; the events themselves come in well under a second


async def _next_matching(
    events: citizen_sdk.EventStream, want: Callable[[citizen_sdk.Event], bool]
) -> citizen_sdk.Event:
    with anyio.fail_after(LIVE):
        async for event in events:
            if want(event):
                return event
    raise AssertionError("the event stream ended")


async def _events(alpha: Path, beta: Path, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with citizen_sdk.connect(alpha) as a, citizen_sdk.connect(beta) as b:
        beta_id = (await b.status()).household
        async with a.events() as events:
            # a friend comes online: pairing connects its device
            invite = await a.invites.create()
            await b.invites.accept(invite.code)
            online = await _next_matching(events, lambda e: isinstance(e, citizen_sdk.FriendOnline))
            assert isinstance(online, citizen_sdk.FriendOnline)
            assert online.household == beta_id and online.device == (await b.status()).device

            # a doc appears, then changes: through the SDK and through another client
            handle = await a.docs.create("Shopping")
            changed = citizen_sdk.DocChanged(handle.doc_id)
            await _next_matching(events, lambda e: e == changed)
            await handle.change(lambda d: d.__setitem__("items", []))
            await _next_matching(events, lambda e: e == changed)

            # a second stream sees events from its opening on, independently
            async with a.events() as second:
                await handle.change(lambda d: d.__setitem__("n", 1))
                await _next_matching(second, lambda e: e == changed)
                await _next_matching(events, lambda e: e == changed)

            # an object: put (the friend takes its one share), evicted, removed
            ref = await a.objects.put(b"eggs, milk", name="list.txt")
            added = await _next_matching(events, lambda e: isinstance(e, citizen_sdk.ObjectAdded))
            assert added == citizen_sdk.ObjectAdded(ref.object_id, "list.txt", 10)
            await a.objects.evict(ref)
            evicted = await _next_matching(
                events, lambda e: isinstance(e, citizen_sdk.ObjectChanged)
            )
            assert evicted == citizen_sdk.ObjectChanged(ref.object_id, "complete", False)
            restore = [sys.executable, "-m", "citizen", "--data-dir", str(alpha), "restore"]
            done = await anyio.to_thread.run_sync(
                lambda: subprocess.run(restore, capture_output=True, timeout=LIVE)
            )
            assert done.returncode == 0, done.stderr
            restored = await _next_matching(
                events, lambda e: isinstance(e, citizen_sdk.ObjectChanged)
            )
            assert restored == citizen_sdk.ObjectChanged(ref.object_id, "complete", True)
            await a.objects.remove(ref)
            removed = await _next_matching(
                events, lambda e: isinstance(e, citizen_sdk.ObjectRemoved)
            )
            assert removed == citizen_sdk.ObjectRemoved(ref.object_id)

            # the friend goes: its device's connection closes
            await b.friends.remove(str((await a.status()).household))
            offline = await _next_matching(
                events, lambda e: isinstance(e, citizen_sdk.FriendOffline)
            )
            assert offline == citizen_sdk.FriendOffline(online.household, online.device)

        # closed here: iteration just ends
        stream = a.events()
        await stream.open()
        await stream.aclose()
        assert [e async for e in stream] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_events(backend: str, make_daemon: Callable[[str], Daemon]) -> None:
    a, b = make_daemon("alpha"), make_daemon("beta")
    for d in (a, b):
        d.init()
        if d is a:
            d.configure(k=1, n=1, happiness=1)
        d.start()
    anyio.run(_events, a.data_dir, b.data_dir, backend, backend=backend)


def test_events_stream_ends_with_an_error_when_the_daemon_stops(
    make_daemon: Callable[[str], Daemon],
) -> None:
    d = make_daemon("alpha")
    d.init()
    d.start("--offline")

    async def body() -> None:
        async with citizen_sdk.connect(d.data_dir) as c, c.events() as events:
            await anyio.to_thread.run_sync(d.stop)
            with pytest.raises(citizen_sdk.CitizenError, match="closed the events connection"):
                await _next_matching(events, lambda _e: False)

    anyio.run(body, backend="trio")


def test_event_frames_parse() -> None:
    from citizen_sdk.events import event_from_json

    changed = event_from_json('{"type": "doc_changed", "doc_id": "abc"}')
    assert changed == citizen_sdk.DocChanged(DocId("abc"))
    online = event_from_json('{"type": "device_online", "household": "h", "device": "d"}')
    assert online == citizen_sdk.DeviceOnline(HouseholdId("h"), DeviceId("d"))
    other = event_from_json('{"type": "object_replicated", "object_id": "x"}')
    assert other == citizen_sdk.OtherEvent("object_replicated", {"object_id": "x"})
    for bad in (
        "not json",
        "[]",
        '{"no": "type"}',
        '{"type": 7}',
        '{"type": "friend_online"}',
        # one schema: a known event with a field its model lacks is refused, not ignored
        '{"type": "doc_changed", "doc_id": "abc", "new": 1}',
    ):
        with pytest.raises(citizen_sdk.RemoteProtocolError):
            event_from_json(bad)


def test_object_event_frames_parse() -> None:
    from citizen_sdk.events import event_from_json

    added = event_from_json(
        '{"type": "object_added", "object_id": "o", "name": "a.txt", "size": 3}'
    )
    assert added == citizen_sdk.ObjectAdded(ObjectId("o"), "a.txt", 3)
    removed = event_from_json('{"type": "object_removed", "object_id": "o"}')
    assert removed == citizen_sdk.ObjectRemoved(ObjectId("o"))
    changed = event_from_json(
        '{"type": "object_changed", "object_id": "o", "state": "complete", "local": false}'
    )
    assert changed == citizen_sdk.ObjectChanged(ObjectId("o"), "complete", False)
    for bad in (
        '{"type": "object_added", "object_id": "o", "name": "a.txt"}',
        '{"type": "object_added", "object_id": "o", "name": "a.txt", "size": "3"}',
        '{"type": "object_added", "object_id": "o", "name": "a.txt", "size": true}',
        '{"type": "object_added", "object_id": 1, "name": "a.txt", "size": 3}',
        '{"type": "object_removed"}',
        '{"type": "object_removed", "object_id": null}',
        '{"type": "object_changed", "object_id": "o", "state": "complete"}',
        '{"type": "object_changed", "object_id": "o", "state": "complete", "local": 0}',
        '{"type": "object_changed", "object_id": "o", "state": 1, "local": true}',
    ):
        with pytest.raises(citizen_sdk.RemoteProtocolError):
            event_from_json(bad)
