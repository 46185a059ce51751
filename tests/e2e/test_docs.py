"""CRDT docs between real daemons through the CLI: share, live edits both ways, and durability.

Replication itself (grants, what a friend never learns, readers, partitions,
a 10,000-change doc) is tested on the in-process grid in
tests/docs/test_docs_grid.py; the kill -9 test needs a process to kill.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from typing import Any

from citizen.api.client import LocalClient
from tests.daemons import Daemon, friend_named, pair, started, wait_until


def _show(d: Daemon, doc: str) -> Any:
    return d.json("doc", "show", doc)


def _value(d: Daemon, doc: str) -> Any:
    result = d.cli("--json", "doc", "show", doc, check=False, json_out=False)
    if result.returncode != 0:
        return None
    import json

    return json.loads(result.stdout)["value"]


def _online(d: Daemon, friend: str) -> bool:
    return bool((friend_named(d, friend) or {}).get("online"))


def test_share_and_edit_through_the_cli(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = started(make_daemon, "alpha", "beta")
    pair(a, b)
    wait_until(lambda: _online(a, "beta"), "beta online")
    shared = a.json("doc", "new", "Shopping")["doc_id"]
    a.json("doc", "set", shared, "items", "[]")
    a.json("doc", "share", shared, "beta", "--role", "writer")
    a.json("doc", "append", shared, "items", '{"name": "milk", "done": false}')
    # no command on beta: the change arrives live
    wait_until(lambda: _value(b, shared) == {"items": [{"name": "milk", "done": False}]}, "milk")
    b.json("doc", "set", shared, "items.0.done", "true")
    wait_until(lambda: _value(a, shared) == {"items": [{"name": "milk", "done": True}]}, "done")
    heads = _show(a, shared)["heads"]
    wait_until(lambda: _show(b, shared)["heads"] == heads, "same heads")
    wait_until(
        lambda: (
            [p["state"] for p in a.json("doc", "show", shared, "--peers")["peers"]] == ["in sync"]
        ),
        "alpha to show beta in sync",
    )
    assert [h["hash"] for h in a.json("doc", "history", shared)]
    assert shared in [d["doc_id"] for d in b.json("doc", "list")]

    # bad input: a clear error, nothing changes
    before = _show(a, shared)["heads"]
    for args in (
        ("doc", "set", shared, "items.7.done", "true"),
        ("doc", "set", shared, "items", "{not json"),
        ("doc", "set", shared, "items..x", "1"),
        ("doc", "show", "not-a-doc"),
        ("doc", "share", shared, "nobody", "--role", "writer"),
    ):
        bad = a.cli(*args, check=False)
        assert bad.returncode != 0, args
        assert "Traceback" not in bad.stderr and bad.stderr.strip(), args
    assert _show(a, shared)["heads"] == before


def test_acknowledged_changes_survive_kill_9(make_daemon: Callable[[str], Daemon]) -> None:
    (a,) = started(make_daemon, "alpha")
    doc = a.json("doc", "new", "Ledger")["doc_id"]
    a.json("doc", "set", doc, "first", "1")
    a.stop(signal.SIGKILL)
    a.start()
    assert _value(a, doc) == {"first": 1}

    rng = random.Random(4)
    acknowledged: list[str] = []
    for _round in range(3):
        client = LocalClient(a.data_dir, timeout=10)
        stop = threading.Event()

        def burst(client: LocalClient = client, stop: threading.Event = stop) -> None:
            for i in range(200):
                key = f"k{len(acknowledged)}_{i}"
                try:
                    client.request(
                        "POST", f"/v1/docs/{doc}/change", {"op": "set", "path": key, "value": i}
                    )
                except Exception:
                    return
                acknowledged.append(key)
                if stop.is_set():
                    return

        worker = threading.Thread(target=burst)
        worker.start()
        target = len(acknowledged) + rng.randint(5, 150)
        wait_until(lambda t=target, w=worker: len(acknowledged) >= t or not w.is_alive(), "writes")
        assert a.proc is not None
        a.proc.kill()  # kill -9 at a random point of the burst
        a.proc.wait()
        a.proc = None
        stop.set()
        worker.join()
        a.start()
        value = _value(a, doc)
        assert value is not None, "the doc must load after a kill -9"
        lost = [k for k in acknowledged if k not in value]
        assert not lost, f"{len(lost)} acknowledged changes lost: {lost[:5]}"
