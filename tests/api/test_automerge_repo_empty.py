"""/v1/automerge-repo and a doc that is here but still empty (a friend's doc not synced yet).

An app's `request` for it is answered `doc-unavailable` (automerge-repo would
otherwise wait forever for heads), and the doc is sent once it has changes.
"""

from __future__ import annotations

from pathlib import Path

import trio
from automerge.core import Document, Message, SyncState

from citizen import cbor
from citizen.api.routes_automerge_repo import _RepoSocket, document_id
from citizen.ids import DocId
from citizen.testing.grid import open_grid

HANG = 30  # bounds a hung test only


class FakeWebSocket:
    """What `_RepoSocket` sends, as decoded CBOR maps, one at a time."""

    def __init__(self) -> None:
        self._send, self.sent = trio.open_memory_channel[dict[str, object]](100)

    async def send_bytes(self, data: bytes) -> None:
        self._send.send_nowait(cbor.as_map(cbor.loads(data), "frame"))


async def test_a_request_for_an_empty_doc_is_unavailable_until_it_fills(tmp_path: Path) -> None:
    async with open_grid(1, tmp_path) as grid:
        [a] = grid.nodes
        # a replica as a friend's grant opens it: no change yet
        doc = await a.docs.store.create(a.docs.household, "shared by beta")
        ws = FakeWebSocket()
        socket = _RepoSocket(ws, a.docs)  # type: ignore[arg-type]
        app_doc, state = Document(), SyncState()
        request = app_doc.generate_sync_message(state)
        assert request is not None
        join = {"type": "join", "senderId": "app", "supportedProtocolVersions": ["1"]}
        with trio.fail_after(HANG):
            await socket.on_frame(cbor.dumps(join))
            assert (await ws.sent.receive())["type"] == "peer"
            frame = {
                "type": "request",
                "senderId": "app",
                "targetId": "citizen-daemon",
                "documentId": document_id(DocId(doc)),
                "data": request.encode(),
            }
            await socket.on_frame(cbor.dumps(frame))
            answer = await ws.sent.receive()
            assert (answer["type"], answer["documentId"]) == (
                "doc-unavailable",
                document_id(DocId(doc)),
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(socket.push_changes)
                await a.docs.set(doc, "filled", True)  # the first sync arrives
                pushed = await ws.sent.receive()
                assert (pushed["type"], pushed["documentId"]) == ("sync", document_id(DocId(doc)))
                data = pushed["data"]
                assert isinstance(data, bytes)
                app_doc.receive_sync_message(state, Message.decode(data))
                nursery.cancel_scope.cancel()
