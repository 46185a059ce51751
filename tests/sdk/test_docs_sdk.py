"""citizen_sdk docs against real daemon processes: the same async bodies under trio and asyncio."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import citizen_sdk
import pytest
import sniffio
from citizen_sdk._websocket import Closed, Endpoint, connect_websocket

from citizen.config import SOCKET_NAME
from citizen.ids import new_doc_id
from tests.daemons import Daemon, friend_named, pair, wait_until

BACKENDS = ["trio", "asyncio"]
LIVE = 90  # bounds a hung test; the events themselves come in well under a second
EXAMPLE = Path(__file__).resolve().parents[2] / "sdk" / "examples" / "shopping_list.py"


def _started(make: Callable[[str], Daemon], *names: str) -> list[Daemon]:
    out = []
    for name in names:
        d = make(name)
        d.init()
        d.start()
        out.append(d)
    return out


def _value(d: Daemon, doc: str) -> Any:
    result = d.cli("doc", "show", doc, check=False)
    return json.loads(result.stdout)["value"] if result.returncode == 0 else None


def _paired(make: Callable[[str], Daemon]) -> tuple[Daemon, Daemon]:
    a, b = _started(make, "alpha", "beta")
    pair(a, b)
    wait_until(lambda: (friend_named(a, "beta") or {}).get("online"), "beta online")
    return a, b


async def _in_thread(fn: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(fn)


# -- one daemon ----------------------------------------------------------------------


async def _create_change_read(d: Daemon, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with citizen_sdk.connect(d.data_dir) as c:
        handle = await c.docs.create("Shopping")
        assert handle.value == {}
        await handle.change(lambda doc: doc.update(items=[], title="week 12"))

        def add(doc: citizen_sdk.MapProxy) -> None:
            items = doc["items"]
            assert isinstance(items, citizen_sdk.ListProxy) and len(items) == 0
            items.append({"name": "milk", "done": False, "qty": 2, "tags": ["dairy"]})
            items.append({"name": "eggs", "done": False, "qty": 1.5, "note": None})

        await handle.change(add)

        def tick(doc: citizen_sdk.MapProxy) -> None:
            items = doc["items"]
            assert isinstance(items, citizen_sdk.ListProxy)
            first = items[0]
            assert isinstance(first, citizen_sdk.MapProxy)
            first["done"] = True
            del doc["title"]
            assert sorted(doc) == ["items"] and "items" in doc

        await handle.change(tick)
        want = {
            "items": [
                {"name": "milk", "done": True, "qty": 2, "tags": ["dairy"]},
                {"name": "eggs", "done": False, "qty": 1.5, "note": None},
            ]
        }
        assert handle.value == want
        # change() returned, so the daemon has committed it: the CLI sees it at once
        assert await _in_thread(lambda: _value(d, handle.doc_id)) == want

        # a function that raises, or stores something that is not data, changes nothing
        heads = handle.heads

        def bad(doc: citizen_sdk.MapProxy) -> None:
            doc["x"] = 1
            doc["y"] = object()

        with pytest.raises(citizen_sdk.UsageError):
            await handle.change(bad)
        assert handle.heads == heads and handle.value == want

        # a second replica in the same app sees the first one's change live
        async with c.docs.open(handle.doc_id) as other:
            assert other.value == want
            stream = other.changes()
            await handle.change(lambda doc: doc.__setitem__("done", True))
            with anyio.fail_after(LIVE):
                async for value in stream:
                    if value.get("done"):
                        break
        [info] = [i for i in await c.docs.list() if i.doc_id == handle.doc_id]
        assert (info.title, info.role) == ("Shopping", "owner")

        with pytest.raises(citizen_sdk.NotFoundError):
            await c.docs.open(new_doc_id())
        with pytest.raises(citizen_sdk.UsageError):
            await c.docs.open("not a doc id")
    # leaving `connect` closed the handle; its change stream ends quietly
    assert [v async for v in handle.changes()] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_create_change_read(backend: str, make_daemon: Callable[[str], Daemon]) -> None:
    [d] = _started(make_daemon, "alpha")
    anyio.run(_create_change_read, d, backend, backend=backend)


async def _bad_frames(d: Daemon, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    where = Endpoint(socket_path=d.data_dir / SOCKET_NAME)
    async with citizen_sdk.connect(d.data_dir) as c:
        handle = await c.docs.create("Target")
        await handle.change(lambda doc: doc.__setitem__("kept", True))
        path = f"/v1/docs/{handle.doc_id}/sync"
        frames: list[tuple[bytes | str, int]] = [
            (b"\x00garbage", 1008),
            (b"\x42\xff\xff\xff\xff\x0f", 1008),
            ("a text frame", 1003),
        ]
        for frame, code in frames:
            ws = await connect_websocket(where, path, "test")
            first = await ws.receive()  # the daemon speaks first: its sync message
            assert isinstance(first, bytes)
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_text(frame)
            with anyio.fail_after(LIVE):
                while not isinstance(reply := await ws.receive(), Closed):
                    pass
            assert reply.code == code, reply
            await ws.aclose()
        # the daemon carries on, and the doc is intact
        assert (await c.status()).household_name == "alpha"
        async with c.docs.open(handle.doc_id) as again:
            assert again.value == {"kept": True}
        await handle.change(lambda doc: doc.__setitem__("still", "works"))
        assert await _in_thread(lambda: _value(d, handle.doc_id)) == {
            "kept": True,
            "still": "works",
        }


@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_frames_close_the_socket_not_the_daemon(
    backend: str, make_daemon: Callable[[str], Daemon]
) -> None:
    [d] = _started(make_daemon, "alpha")
    anyio.run(_bad_frames, d, backend, backend=backend)


# -- two households ------------------------------------------------------------------


async def _friend_edits_and_reader(a: Daemon, b: Daemon, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with citizen_sdk.connect(a.data_dir) as ca, citizen_sdk.connect(b.data_dir) as cb:
        # a friend's edit (through its CLI) arrives in changes()
        shared = await ca.docs.create("Shopping")
        await shared.change(lambda doc: doc.__setitem__("items", [{"name": "milk"}]))
        grant = await shared.share("beta", "writer")
        assert (grant.name, grant.role) == ("beta", "writer")
        doc = shared.doc_id
        await _in_thread(
            lambda: wait_until(lambda: _value(b, doc) == shared.value, "beta has the doc")
        )
        stream = shared.changes()
        await _in_thread(lambda: b.json("doc", "set", doc, "items.0.done", "true"))
        with anyio.fail_after(LIVE):
            async for value in stream:
                if value == {"items": [{"name": "milk", "done": True}]}:
                    break

        # a reader's change is refused through the socket: typed error, nothing changes
        rules = await ca.docs.create("Rules")
        await rules.change(lambda d: d.__setitem__("rule", "be kind"))
        await rules.share("beta", "reader")
        await _in_thread(
            lambda: wait_until(lambda: _value(b, rules.doc_id) == {"rule": "be kind"}, "rules")
        )
        async with cb.docs.open(rules.doc_id) as mine:
            assert mine.value == {"rule": "be kind"}
            before = await _in_thread(lambda: b.json("doc", "show", rules.doc_id)["heads"])
            with pytest.raises(citizen_sdk.NotAuthorizedError):
                await mine.change(lambda d: d.__setitem__("rule", "be rude"))
            assert mine.value == {"rule": "be kind"}  # undone here too
            assert await _in_thread(lambda: b.json("doc", "show", rules.doc_id)["heads"]) == before
            assert await _in_thread(lambda: _value(a, rules.doc_id)) == {"rule": "be kind"}
            # and the reader keeps following the owner
            stream = mine.changes()
            await rules.change(lambda d: d.__setitem__("more", 1))
            with anyio.fail_after(LIVE):
                async for value in stream:
                    if value == {"rule": "be kind", "more": 1}:
                        break


@pytest.mark.parametrize("backend", BACKENDS)
def test_friend_edit_arrives_and_reader_is_refused(
    backend: str, make_daemon: Callable[[str], Daemon]
) -> None:
    a, b = _paired(make_daemon)
    anyio.run(_friend_edits_and_reader, a, b, backend, backend=backend)


# -- the example app -----------------------------------------------------------------


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shopping_list", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shopping_list_example_between_two_households(
    make_daemon: Callable[[str], Daemon],
) -> None:
    app = _example()
    a, b = _paired(make_daemon)

    def run(d: Daemon, fn: str, *args: str) -> Any:
        async def go() -> Any:
            async with citizen_sdk.connect(d.data_dir) as c:
                return await getattr(app, fn)(c, *args)

        return anyio.run(go)

    shop = run(a, "new")
    run(a, "share", shop, "beta")
    run(a, "add", shop, "milk")
    wait_until(lambda: _value(b, shop) is not None, "beta has the list")
    run(b, "add", shop, "eggs")
    run(b, "check", shop, "milk")
    wait_until(lambda: len(_value(a, shop)["items"]) == 2, "beta's edits reach alpha")
    assert run(a, "show", shop) == "[x] milk\n[ ] eggs"

    # offline edits on both sides merge once beta is back
    b.stop()
    b.start("--offline")
    run(b, "add", shop, "bread")
    run(a, "check", shop, "eggs")
    b.stop()
    b.start()
    want = "[x] milk\n[x] eggs\n[ ] bread"
    wait_until(lambda: run(a, "show", shop) == want, "alpha merges beta's offline edit")
    wait_until(lambda: run(b, "show", shop) == want, "beta merges alpha's edit")
    # the command line works too
    args = app.parse(["--data-dir", str(a.data_dir), "add", shop, "tea"])
    anyio.run(app.main, args)
    assert _value(a, shop)["items"][-1] == {"name": "tea", "done": False}


async def _over_tcp(url: str, token: str, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with (
        citizen_sdk.connect(url=url, token=token) as c,
        c.docs.create("Over TCP") as handle,
    ):
        await handle.change(lambda doc: doc.__setitem__("via", "tcp"))
        assert handle.value == {"via": "tcp"}
    async with citizen_sdk.connect(url=url, token=token + "x") as c:
        with pytest.raises(citizen_sdk.NotAuthorizedError):
            await c.docs.open(new_doc_id())


@pytest.mark.parametrize("backend", BACKENDS)
def test_doc_socket_over_tcp_needs_the_token(
    backend: str, make_daemon: Callable[[str], Daemon]
) -> None:
    from tests.api.tcp_daemon import start_with_tcp

    api = start_with_tcp(make_daemon("alpha"))
    anyio.run(_over_tcp, api.url, api.token, backend, backend=backend)
