"""CRDT docs between friends on an in-process grid: live replication, grants, partitions, big docs.

Moved from tests/e2e/test_docs.py; sharing and editing a doc through the CLI
stays there (`test_share_and_edit_through_the_cli`), as does the kill -9
durability test, which needs a process to kill.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from citizen.errors import CitizenError, NotAuthorizedError, NotFoundError
from citizen.testing.grid import GridNode, open_grid


async def _has(node: GridNode, doc: str, value: object) -> bool:
    return await node.doc_value(doc) == value


async def _heads(node: GridNode, doc: str) -> object:
    return (await node.docs.show(doc))["heads"]


async def test_live_replication_and_grants(tmp_path: Path) -> None:
    async with open_grid(2, tmp_path) as grid:
        a, b = grid.nodes
        shared = str((await a.docs.create("Shopping"))["doc_id"])
        private = str((await a.docs.create("Diary"))["doc_id"])
        await a.docs.set(private, "secret", "only for alpha")
        await a.docs.set(shared, "items", [])
        await a.docs.share(shared, "beta", "writer")
        await a.docs.append(shared, "items", {"name": "milk", "done": False})
        # nothing asked of beta: the change arrives live
        await grid.wait_until(
            lambda: _has(b, shared, {"items": [{"name": "milk", "done": False}]}), "milk at beta"
        )
        await b.docs.set(shared, "items.0.done", True)
        await grid.wait_until(
            lambda: _has(a, shared, {"items": [{"name": "milk", "done": True}]}), "done at alpha"
        )
        heads = await _heads(a, shared)

        async def same_heads() -> bool:
            return await _heads(b, shared) == heads

        await grid.wait_until(same_heads, "the same heads")

        async def in_sync() -> bool:
            peers = (await a.docs.show(shared))["peers"]
            return [p["state"] for p in peers] == ["in sync"]  # type: ignore[attr-defined]

        await grid.wait_until(in_sync, "alpha to see beta in sync")

        # beta never learns the private doc exists, not even in its database
        listed = [d["doc_id"] for d in await b.docs.list_docs()]
        assert shared in listed and private not in listed

        # the owner's title names beta's replica (sync itself carries no title)
        async def titled() -> bool:
            titles = {d["doc_id"]: d["title"] for d in await b.docs.list_docs()}
            return titles.get(shared) == "Shopping"

        await grid.wait_until(titled, "alpha's title on beta")
        db = sqlite3.connect(b.data_dir / "citizen.db")
        stored = {row[0] for row in db.execute("SELECT doc_id FROM docs")}
        grants = {row[0] for row in db.execute("SELECT doc_id FROM grants")}
        db.close()
        assert private not in stored and private not in grants
        with pytest.raises(NotFoundError):
            await b.docs.show(private)

        # bad input: a clear error, nothing changes
        before = await _heads(a, shared)
        for bad in (
            a.docs.set(shared, "items.7.done", True),
            a.docs.set(shared, "items..x", 1),
            a.docs.show("not-a-doc"),
            a.docs.share(shared, "nobody", "writer"),
            a.docs.share(shared, "beta", "owner"),
        ):
            with pytest.raises(CitizenError) as raised:
                await bad
            assert raised.value.message, raised.value
        assert await _heads(a, shared) == before


async def test_reader_cannot_change_the_owners_doc(tmp_path: Path) -> None:
    async with open_grid(2, tmp_path) as grid:
        a, b = grid.nodes
        doc = str((await a.docs.create("Rules"))["doc_id"])
        await a.docs.set(doc, "rule", "be kind")
        await a.docs.share(doc, "beta", "reader")
        await grid.wait_until(lambda: _has(b, doc, {"rule": "be kind"}), "beta reads the doc")
        with pytest.raises(NotAuthorizedError, match="only read"):
            await b.docs.set(doc, "rule", "be rude")
        await a.docs.set(doc, "more", 1)
        await grid.wait_until(
            lambda: _has(b, doc, {"rule": "be kind", "more": 1}), "reader keeps up"
        )
        assert await a.doc_value(doc) == {"rule": "be kind", "more": 1}


async def test_partition_then_converge(tmp_path: Path) -> None:
    async with open_grid(3, tmp_path, pairing="star") as grid:
        a, b, c = grid.nodes
        doc = str((await a.docs.create("Plans"))["doc_id"])
        await a.docs.set(doc, "list", ["start"])
        await a.docs.share(doc, "beta", "writer")
        await a.docs.share(doc, "gamma", "writer")
        await grid.wait_until(lambda: _has(b, doc, {"list": ["start"]}), "beta has the doc")
        await grid.wait_until(lambda: _has(c, doc, {"list": ["start"]}), "gamma has the doc")

        await grid.restart(b, offline=True)
        assert not b.has_network  # --offline: the local API only
        # concurrent edits, including the same key and the same list
        await a.docs.set(doc, "where", "alpha says park")
        await c.docs.set(doc, "where", "gamma says beach")
        await b.docs.set(doc, "where", "beta says home")
        await a.docs.append(doc, "list", "a1")
        await b.docs.append(doc, "list", "b1")
        await c.docs.append(doc, "list", "c1")
        await b.docs.set(doc, "only_beta", True)
        await grid.restart(b)

        async def converged() -> bool:
            views = [await x.docs.show(doc) for x in (a, b, c)]
            return all(v["heads"] == views[0]["heads"] for v in views) and all(
                v["value"] == views[0]["value"] for v in views
            )

        await grid.wait_until(converged, "all three to converge")
        value = await a.doc_value(doc)
        assert isinstance(value, dict)
        assert sorted(value["list"]) == ["a1", "b1", "c1", "start"]
        assert value["where"] in ("alpha says park", "gamma says beach", "beta says home")
        assert value["only_beta"] is True


@pytest.mark.timeout(600)  # 10,000 commits on a loaded 2-core machine
async def test_big_doc_syncs_to_a_new_friend_and_compacts(tmp_path: Path) -> None:
    async with open_grid(2, tmp_path, pairing="none") as grid:
        a, b = grid.nodes
        doc = str((await a.docs.create("Log"))["doc_id"])
        for i in range(10_000):
            await a.docs.set(doc, "n", i)
        await grid.pair(a, b)
        await a.docs.share(doc, "beta", "writer")
        await grid.wait_until(
            lambda: _has(b, doc, {"n": 9999}), "the 10,000-change doc on beta", 180
        )
        assert len(await b.docs.history(doc)) == 10_001  # with the first change of `create`
        assert await _heads(b, doc) == await _heads(a, doc)
        db = sqlite3.connect(b.data_dir / "citizen.db")
        (log_len,) = db.execute(
            "SELECT COUNT(*) FROM doc_changes WHERE doc_id = ?", (doc,)
        ).fetchone()
        db.close()
        assert log_len < 1000, f"beta's change log was not compacted ({log_len} rows)"
