"""Local API: a WebSocket per doc carrying Automerge sync messages, for an app's live replica.

``/v1/docs/{doc}/sync``: every binary frame, both ways, is one standard
Automerge sync message for that doc (opaque bytes). The daemon keeps a fresh
`SyncState` per connection, driven by the same `DocSyncSession` that
replicates with friends' devices, so the rules are the same:

- changes the app sends are applied to the live doc and committed to disk
  BEFORE the daemon replies; its reply then carries heads that include them,
  which is how the SDK knows a change is durable. They are pushed to friends
  at once.
- when this household only reads the doc, a message that would add changes
  touches nothing: the daemon sends a text frame with the usual JSON error
  body (``{"error": "not_authorized", "message", "hint"}``) and starts its
  sync state afresh (the app should drop its change and sync again).
- changes from elsewhere (friends, REST edits, other apps) are pushed to the
  socket as they are committed.

Refusals before the handshake (bad or unknown doc ID, docs service not
running) are HTTP error answers with the JSON error body. A text frame from
the app closes the socket with 1003, an undecodable or inapplicable sync
message with 1008, a doc deleted meanwhile with 1008; the daemon carries on.

WebSocket routes are not part of the OpenAPI document (it describes HTTP
operations only); this docstring is their reference.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
import trio
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from citizen.api.app import error_response, status_for
from citizen.api.context import ApiContext
from citizen.api.models import ErrorBody
from citizen.docs.codec import PROTOCOL_VERSION, DocMessage, Hello, Refused, Sync
from citizen.docs.service import DocsService
from citizen.docs.session import (
    READER_REFUSAL,
    DocAccess,
    Docs,
    DocSyncSession,
    PeerRole,
)
from citizen.errors import CitizenError, NotAuthorizedError, NotFoundError, RemoteProtocolError
from citizen.ids import DocId, parse_doc_id

log = logging.getLogger(__name__)

#: close codes (RFC 6455)
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011

REFUSAL_HINT = "Ask the doc's owner to share it with you as writer."


class Closing(Exception):
    """End an app's WebSocket conversation with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _DocSocket:
    """One app's WebSocket on one doc: the sync session and the sends, serialised."""

    def __init__(self, ws: WebSocket, service: DocsService, doc_id: DocId) -> None:
        self._ws = ws
        self._service = service
        self._doc_id = doc_id
        # The app is one of our own household's programs: same household on both sides.
        key = service.household_key
        self._session = DocSyncSession(key, key)
        # Generating a message and sending it must not interleave with another
        # generate+send, nor a reply overtake the commit it acknowledges.
        self._lock = trio.Lock()

    async def _docs(self) -> Docs:
        """The session's view: this doc, with what this household may do with it."""
        try:
            doc = await self._service.cache.get(self._doc_id)
            role_here = await self._service._role_here(self._doc_id)
        except NotFoundError as exc:
            raise Closing(CLOSE_POLICY_VIOLATION, exc.message) from exc
        role: PeerRole = "reader" if role_here == "reader" else "household"
        return {self._doc_id: DocAccess(doc, role)}

    async def _send(self, msgs: list[DocMessage] | tuple[DocMessage, ...]) -> None:
        for msg in msgs:
            match msg:
                case Sync(_, data):
                    await self._ws.send_bytes(data)
                case Refused(_, reason):
                    hint = REFUSAL_HINT if reason == READER_REFUSAL else ""
                    body = ErrorBody(error=NotAuthorizedError.code, message=reason, hint=hint)
                    await self._ws.send_text(msgspec.json.encode(body).decode())
                case _:
                    pass  # Hello, Unavailable, Granted: nothing an app needs

    async def start(self) -> None:
        async with self._lock:
            docs = await self._docs()
            # The app has no Hello of its own; stand in for it.
            self._session.on_message(Hello(PROTOCOL_VERSION, (self._doc_id,)), docs)
            await self._send(self._session.start(docs))

    async def on_frame(self, data: bytes) -> None:
        async with self._lock:
            docs = await self._docs()
            try:
                fx = self._session.on_message(Sync(self._doc_id, data), docs)
            except RemoteProtocolError as exc:
                raise Closing(CLOSE_POLICY_VIOLATION, exc.message[:120]) from exc
            changes = list(fx.persist.get(self._doc_id, ()))
            if changes:
                await self._service.cache.persist(self._doc_id, changes)
            await self._send(fx.send)
        for refusal in fx.refused:
            log.info("refused an app's changes to doc %s: %s", refusal.doc_id, refusal.reason)
        if changes:
            self._service._notify()
            await self._service.replicator.changed(self._doc_id)

    async def push_changes(self) -> None:
        """Forever: after each committed change anywhere, send what the app lacks (if anything)."""
        while True:
            seen = self._service.change_counter
            async with self._lock:
                docs = await self._docs()
                await self._send(self._session.on_local_change(self._doc_id, docs))
            # No checkpoint between this check and waiting: no change is missed.
            if self._service.change_counter == seen:
                await self._service.wait_changed()


async def _serve(ws: WebSocket, ctx: ApiContext) -> None:
    try:
        doc_id = parse_doc_id(ws.path_params["doc"])
        service = ctx.docs()
        await service.store.info(doc_id)
    except CitizenError as exc:
        refusal = error_response(status_for(exc), exc.code, exc.message, exc.hint)
        await ws.send_denial_response(refusal)
        return
    await ws.accept()
    socket = _DocSocket(ws, service, doc_id)
    closing: Closing | None = None

    async def push(cancel_scope: trio.CancelScope) -> None:
        nonlocal closing
        try:
            await socket.push_changes()
        except Closing as exc:
            closing = exc
        except CitizenError as exc:
            closing = Closing(CLOSE_INTERNAL_ERROR, exc.message[:120])
        except (WebSocketDisconnect, OSError):
            pass
        cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        try:
            await socket.start()
            nursery.start_soon(push, nursery.cancel_scope)
            await receive_frames(ws, socket.on_frame, "Send binary Automerge sync messages.")
        except Closing as exc:
            closing = exc
        except CitizenError as exc:
            log.warning("an app's sync socket on doc %s failed: %s", doc_id, exc)
            closing = Closing(CLOSE_INTERNAL_ERROR, exc.message[:120])
        except WebSocketDisconnect:
            pass
        nursery.cancel_scope.cancel()
    if closing is not None:
        log.info("closing an app's sync socket on doc %s: %s", doc_id, closing.reason)
        await close_quietly(ws, closing.code, closing.reason)


async def receive_frames(
    ws: WebSocket, on_frame: Callable[[bytes], Awaitable[None]], text_refusal: str
) -> None:
    """Until the app disconnects: hand each binary frame on; a text frame ends the conversation."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            raise Closing(CLOSE_UNSUPPORTED_DATA, text_refusal)
        await on_frame(data)


async def close_quietly(ws: WebSocket, code: int, reason: str) -> None:
    try:
        await ws.close(code, reason)
    except (RuntimeError, OSError, WebSocketDisconnect):
        pass  # the app already went away


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def sync(ws: WebSocket) -> None:
        await _serve(ws, ctx)

    return [WebSocketRoute("/v1/docs/{doc}/sync", sync)]
