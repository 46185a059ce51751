"""Honest status: friends online, and "last seen" as the last time a friend was heard from."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import citizen.net.host
from citizen.testing.grid import open_grid


async def test_last_seen_is_the_last_stream_heard_and_status_counts_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_grid(3, tmp_path) as grid:
        a, b, c = grid.nodes
        assert a.node.status().friends == 2 and a.node.status().friends_online == 2
        listed = await a.friend("beta")
        assert listed is not None
        connected_at = int(listed["last_seen"])  # type: ignore[call-overload]

        # an hour later beta opens a stream (here: hello again); its stored hello is older
        later = time.time() + 3600
        monkeypatch.setattr(citizen.net.host, "time", SimpleNamespace(time=lambda: later))
        await b.friends.rehello_all()

        async def heard_later() -> bool:
            f = await a.friend("beta")
            return f is not None and f["last_seen"] == int(later)

        await grid.wait_until(heard_later, "alpha to show when beta was last heard")
        f = await a.friend("beta")
        assert f is not None and int(later) > connected_at
        [device] = f["devices"]  # type: ignore[misc]
        assert device["last_seen"] == int(later)

        await grid.stop(c)

        async def one_online() -> bool:
            return a.node.status().friends_online == 1

        await grid.wait_until(one_online, "alpha to count gamma offline")
        assert a.node.status().friends == 2
