"""No input and no friend can stop the docs service: each crash found by trying it as a user would.

- A key or path with a lone surrogate (``citizen doc set D "$(printf 'k\\xff')" 1``
  arrives as ``'k\\udcff'``) panicked the Automerge bindings with a
  `BaseException` that went past every ``except Exception`` and stopped the
  daemon. It is refused before the bindings see it.
- Any other panic of the bindings in one doc is that call's typed error and the
  doc is reloaded from disk.
- One friend's stream failing (a dead connection while a local change is
  pushed, an unexpected error while its stream opens) closes that stream only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from automerge.core import ROOT, Document, ScalarType

from citizen.docs import values as docvalues
from citizen.docs.codec import DocInfo, DocMessage, FrameReader, encode_frame
from citizen.errors import AutomergePanicError, RemoteProtocolError, TextEncodingError
from citizen.ids import DeviceId, DocId, HouseholdId
from citizen.testing.grid import open_grid


def _panic() -> BaseException:
    doc = Document()
    try:
        with doc.transaction() as tx:
            tx.put(ROOT, "k\udcff", ScalarType.Int, 1)
    except BaseException as exc:
        assert docvalues.is_automerge_panic(exc)
        return exc
    raise AssertionError("the bindings no longer panic on a lone surrogate")


@pytest.mark.parametrize(
    ("path", "value"),
    [("k\udcff", 1), ("m", {"\ud800": 1}), ("m", "\udcff"), ("m", [{"ok": {"\udcff": 1}}])],
)
async def test_text_that_is_not_utf8_is_refused_and_the_doc_still_works(
    tmp_path: Path, path: str, value: object
) -> None:
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]
        doc = str((await a.docs.create("Shopping"))["doc_id"])
        await a.docs.set(doc, "before", 1)
        with pytest.raises(TextEncodingError) as refused:
            await a.docs.set(doc, path, value)
        assert "UTF-8" in refused.value.message and refused.value.hint
        await a.docs.set(doc, "after", 2)
        assert await a.doc_value(doc) == {"before": 1, "after": 2}
        assert a.running


async def test_a_title_or_friend_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]
        with pytest.raises(TextEncodingError):
            await a.docs.create("t\udcff")
        doc = str((await a.docs.create("ok"))["doc_id"])
        with pytest.raises(TextEncodingError):
            await a.docs.share(doc, "b\udcff", "reader")


async def test_a_panic_in_one_doc_is_a_typed_error_and_the_doc_is_reloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]
        doc = str((await a.docs.create("Shopping"))["doc_id"])
        await a.docs.set(doc, "kept", True)
        live = await a.docs.cache.get(doc)  # type: ignore[arg-type]

        def panics(*_args: object) -> list[bytes]:
            raise _panic()

        with monkeypatch.context() as m:
            m.setattr(docvalues, "set_path", panics)
            with pytest.raises(AutomergePanicError) as failed:
                await a.docs.set(doc, "x", 1)
        assert failed.value.hint
        assert await a.docs.cache.get(doc) is not live  # type: ignore[arg-type]
        assert await a.doc_value(doc) == {"kept": True}
        await a.docs.set(doc, "x", 1)
        assert await a.doc_value(doc) == {"kept": True, "x": 1}


async def test_a_dead_link_does_not_fail_a_local_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citizen.docs.replication")
    async with open_grid(2, tmp_path) as grid:
        a = grid.nodes[0]
        doc = str((await a.docs.create("Shopping"))["doc_id"])
        await a.docs.share(doc, "beta", "writer")
        link = await grid.wait_until(
            lambda: next((k for k in a.docs.replicator.links.values() if doc in k.docs), None),
            "alpha's link to beta syncing the doc",
        )
        writes = 0

        async def broken(_data: bytes) -> None:
            nonlocal writes
            writes += 1
            raise ConnectionResetError("the connection is gone")

        def always_something(doc_id: DocId, _docs: object) -> list[DocMessage]:
            return [DocInfo(doc_id, a.household_id, "Shopping")]  # so the push writes now

        link.stream.write = broken  # type: ignore[method-assign]
        link.session.on_local_change = always_something  # type: ignore[method-assign]
        # acknowledged: it is committed here; beta catches up once the stream is back
        await a.docs.set(doc, "milk", 1)
        assert writes >= 1
        assert a.docs.replicator.links.get(link.device) is not link
        assert await a.doc_value(doc) == {"milk": 1}
        assert "closed while pushing" in caplog.text and "beta" in caplog.text


class _Stream:
    def __init__(self) -> None:
        self.was_reset = False

    async def reset(self) -> None:
        self.was_reset = True

    async def read(self, _n: int) -> bytes:
        return b""

    async def write(self, _data: bytes) -> None:
        pass


async def test_a_failure_while_a_friends_stream_opens_closes_that_stream_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citizen.docs.replication")
    async with open_grid(1, tmp_path, pairing="none") as grid:
        a = grid.nodes[0]
        replicator = a.docs.replicator

        async def fails(_household: HouseholdId) -> bytes:
            raise RuntimeError("the friend went away under us")

        replicator._household_key_of = fails  # type: ignore[method-assign]
        stream = _Stream()
        device = DeviceId("12D3KooWGone")
        await replicator._serve(stream, device, HouseholdId("GONE"))  # type: ignore[arg-type]
        assert stream.was_reset and device not in replicator.links

        async def keeps_failing(_device: DeviceId, _household: HouseholdId) -> None:
            raise RuntimeError("unexpected")

        replicator._keep_open = keeps_failing  # type: ignore[method-assign]
        await replicator._outbound(device, HouseholdId("GONE"))  # returns: contained, logged
        assert "docs sync with GONE" in caplog.text
        assert a.running
        doc = str((await a.docs.create("still here"))["doc_id"])
        await a.docs.set(doc, "ok", True)


def test_a_friends_title_that_is_not_utf8_is_the_friends_protocol_error() -> None:
    frame = encode_frame(DocInfo(DocId("WXgBUcMQ6DfDiXYBLxvAoN"), "OWNER", "abc"))
    broken = frame.replace(b"cabc", b"c\xff\xfe\xfd")  # CBOR text of length 3: 0x63 'abc'
    assert broken != frame
    with pytest.raises(RemoteProtocolError):
        list(FrameReader().feed(broken))
