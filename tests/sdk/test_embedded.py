"""An embedded node (`open_embedded_node`) pairs with a daemon process and syncs a doc both ways.

The embedded node runs on its own trio loop in a thread, so the same body
runs under a trio app and under an asyncio app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import citizen_sdk
import pytest
import sniffio

from citizen.config import SOCKET_NAME
from tests.daemons import Daemon, wait_until

BACKENDS = ["trio", "asyncio"]
LIVE = 90
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def _value(d: Daemon, doc: str) -> Any:
    result = d.cli("doc", "show", doc, check=False)
    return json.loads(result.stdout)["value"] if result.returncode == 0 else None


async def _in_thread(fn: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(fn)


async def _embedded_with_daemon(home: Path, d: Daemon, backend: str) -> None:
    assert sniffio.current_async_library() == backend
    async with citizen_sdk.open_embedded_node(
        home, name="laptop household", device_name="laptop", listen=LOOPBACK, mdns=False
    ) as c:
        status = await c.status()
        assert (status.household_name, status.device_name) == ("laptop household", "laptop")
        assert c.where == str(home / SOCKET_NAME)

        # the daemon accepts the embedded node's invite
        invite = await c.invites.create()
        await _in_thread(lambda: d.json("accept", invite.code))
        [friend] = await c.friends.list()
        assert friend.name == d.name

        # a doc made in the embedded node reaches the daemon ...
        async with c.docs.create("Shopping") as handle:
            await handle.change(lambda doc: doc.__setitem__("items", [{"name": "milk"}]))
            await handle.share(d.name, "writer")
            doc = handle.doc_id
            await _in_thread(
                lambda: wait_until(lambda: _value(d, doc) == handle.value, "the daemon has it")
            )
            # ... and the daemon's edit comes back, live
            stream = handle.changes()
            await _in_thread(lambda: d.json("doc", "set", doc, "items.0.done", "true"))
            with anyio.fail_after(LIVE):
                async for value in stream:
                    if value == {"items": [{"name": "milk", "done": True}]}:
                        break
    # stopped: the socket is gone, and the identity stays for next time
    assert not (home / SOCKET_NAME).exists()
    async with citizen_sdk.open_embedded_node(home, offline=True) as c:
        assert (await c.status()).household == status.household
        assert [info.doc_id for info in await c.docs.list() if info.title == "Shopping"] == [doc]


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedded_node_pairs_and_syncs_a_doc(
    backend: str, tmp_path: Path, make_daemon: Callable[[str], Daemon]
) -> None:
    d = make_daemon("daemon")
    d.init()
    d.start()
    home = tmp_path / "embedded"
    anyio.run(_embedded_with_daemon, home, d, backend, backend=backend)


async def test_embedded_node_errors(tmp_path: Path, make_daemon: Callable[[str], Daemon]) -> None:
    with pytest.raises(citizen_sdk.UsageError, match="no household identity"):
        async with citizen_sdk.open_embedded_node(tmp_path / "new"):
            pass
    assert not (tmp_path / "new").exists()
    # a data dir a running daemon already uses: its lock says so, nothing starts
    d = make_daemon("busy")
    d.init()
    d.start("--offline")
    with pytest.raises(citizen_sdk.CitizenError) as info:
        async with citizen_sdk.open_embedded_node(d.data_dir):
            pass
    assert not isinstance(info.value, citizen_sdk.UsageError)
    assert d.status()["household_name"] == "busy"  # the daemon carries on
