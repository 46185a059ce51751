"""CRDT docs between real daemons: live replication, partitions, durability, grants."""

from __future__ import annotations

import random
import signal
import sqlite3
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


def test_live_replication_and_grants(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = started(make_daemon, "alpha", "beta")
    pair(a, b)
    wait_until(lambda: _online(a, "beta"), "beta online")
    shared = a.json("doc", "new", "Shopping")["doc_id"]
    private = a.json("doc", "new", "Diary")["doc_id"]
    a.json("doc", "set", private, "secret", '"only for alpha"')
    a.json("doc", "set", shared, "items", "[]")
    a.json("doc", "share", shared, "beta", "--role", "writer")
    a.json("doc", "append", shared, "items", '{"name": "milk", "done": false}')
    # no command on beta: the change arrives live
    wait_until(lambda: _value(b, shared) == {"items": [{"name": "milk", "done": False}]}, "milk")
    b.json("doc", "set", shared, "items.0.done", "true")
    wait_until(lambda: _value(a, shared) == {"items": [{"name": "milk", "done": True}]}, "done")
    heads = _show(a, shared)["heads"]
    wait_until(lambda: _show(b, shared)["heads"] == heads, "same heads")
    peers = a.json("doc", "show", shared, "--peers")["peers"]
    assert [p["state"] for p in peers] == ["in sync"]

    # beta never learns the private doc exists, not even in its database
    listed = [d["doc_id"] for d in b.json("doc", "list")]
    assert shared in listed and private not in listed
    # the owner's title names beta's replica (sync itself carries no title)
    wait_until(lambda: _titles(b).get(shared) == "Shopping", "alpha's title on beta")
    db = sqlite3.connect(b.data_dir / "citizen.db")
    stored = {row[0] for row in db.execute("SELECT doc_id FROM docs")}
    grants = {row[0] for row in db.execute("SELECT doc_id FROM grants")}
    db.close()
    assert private not in stored and private not in grants
    missing = b.cli("doc", "show", private, check=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr

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


def test_reader_cannot_change_the_owners_doc(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = started(make_daemon, "alpha", "beta")
    pair(a, b)
    doc = a.json("doc", "new", "Rules")["doc_id"]
    a.json("doc", "set", doc, "rule", '"be kind"')
    a.json("doc", "share", doc, "beta", "--role", "reader")
    wait_until(lambda: _value(b, doc) == {"rule": "be kind"}, "beta reads the doc")
    refused = b.cli("doc", "set", doc, "rule", '"be rude"', check=False)
    assert refused.returncode == 1 and "only read" in refused.stderr
    a.json("doc", "set", doc, "more", "1")
    wait_until(lambda: _value(b, doc) == {"rule": "be kind", "more": 1}, "reader keeps up")
    assert _value(a, doc) == {"rule": "be kind", "more": 1}


def test_partition_then_converge(make_daemon: Callable[[str], Daemon]) -> None:
    a, b, c = started(make_daemon, "alpha", "beta", "gamma")
    pair(a, b)
    pair(a, c)
    doc = a.json("doc", "new", "Plans")["doc_id"]
    a.json("doc", "set", doc, "list", '["start"]')
    a.json("doc", "share", doc, "beta", "--role", "writer")
    a.json("doc", "share", doc, "gamma", "--role", "writer")
    wait_until(lambda: _value(b, doc) == {"list": ["start"]}, "beta has the doc")
    wait_until(lambda: _value(c, doc) == {"list": ["start"]}, "gamma has the doc")

    b.stop()
    b.start("--offline")
    assert b.status()["offline"] is True
    # concurrent edits, including the same key and the same list
    a.json("doc", "set", doc, "where", '"alpha says park"')
    c.json("doc", "set", doc, "where", '"gamma says beach"')
    b.json("doc", "set", doc, "where", '"beta says home"')
    a.json("doc", "append", doc, "list", '"a1"')
    b.json("doc", "append", doc, "list", '"b1"')
    c.json("doc", "append", doc, "list", '"c1"')
    b.json("doc", "set", doc, "only_beta", "true")
    b.stop()
    b.start()

    def converged() -> bool:
        views = [_show(x, doc) for x in (a, b, c)]
        return all(v["heads"] == views[0]["heads"] for v in views) and all(
            v["value"] == views[0]["value"] for v in views
        )

    wait_until(converged, "all three to converge")
    value = _show(a, doc)["value"]
    assert sorted(value["list"]) == ["a1", "b1", "c1", "start"]
    assert value["where"] in ("alpha says park", "gamma says beach", "beta says home")
    assert value["only_beta"] is True


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


def _titles(d: Daemon) -> dict[str, str]:
    return {doc["doc_id"]: doc["title"] for doc in d.json("doc", "list")}


def test_big_doc_syncs_to_a_new_friend_and_compacts(make_daemon: Callable[[str], Daemon]) -> None:
    a, b = started(make_daemon, "alpha", "beta")
    doc = a.json("doc", "new", "Log")["doc_id"]
    client = LocalClient(a.data_dir)
    for i in range(10_000):
        client.request("POST", f"/v1/docs/{doc}/change", {"op": "set", "path": "n", "value": i})
    pair(a, b)
    a.json("doc", "share", doc, "beta", "--role", "writer")
    wait_until(lambda: _value(b, doc) == {"n": 9999}, "the 10,000-change doc on beta", 180)
    assert len(b.json("doc", "history", doc)) == 10_000
    heads = _show(a, doc)["heads"]
    assert _show(b, doc)["heads"] == heads
    db = sqlite3.connect(b.data_dir / "citizen.db")
    log_len = db.execute("SELECT COUNT(*) FROM doc_changes WHERE doc_id = ?", (doc,)).fetchone()[0]
    db.close()
    assert log_len < 1000, f"beta's change log was not compacted ({log_len} rows)"
