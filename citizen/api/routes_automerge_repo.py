"""Local API: the automerge-repo WebSocket sync protocol, so automerge-repo apps sync here.

``/v1/automerge-repo`` speaks version "1" of the protocol of
``@automerge/automerge-repo-network-websocket`` (read from its 2.5.6 source):
every binary frame, both ways, is one CBOR map with a ``type``.

- The app sends ``join`` {senderId, peerMetadata, supportedProtocolVersions};
  the daemon answers ``peer`` {senderId, targetId, peerMetadata,
  selectedProtocolVersion: "1"}. Nothing else is accepted before ``join``.
- ``request`` and ``sync`` {documentId, data} carry standard Automerge sync
  bytes for one doc. For a doc this household has, the daemon keeps one
  `SyncState` per (socket, doc), driven by the same `DocSyncSession` as
  ``/v1/docs/{doc}/sync`` (see `citizen.api.routes_docsync`), so the rules
  are the same: changes are committed to disk BEFORE the reply, pushed to
  friends at once, and refused when this household only reads the doc (they
  are tried on a fork; the app gets an ``error`` message, the socket stays open,
  the doc's conversation goes quiet until the app drops its changes).
  After the first ``request``/``sync`` for a doc, changes committed elsewhere
  are pushed as ``sync`` messages.
- A doc the daemon does not have (or that was deleted) is answered
  ``doc-unavailable``; apps cannot create docs here (create them through the
  API, then ``repo.find("automerge:<id>")``). So is a ``request`` for a doc
  that is here but still empty (a friend's doc whose first sync has not
  arrived): automerge-repo would wait forever for heads. Once it has some, the
  daemon sends it to the app like any change.
- ``ephemeral``, ``doc-unavailable``, ``remote-subscription-change`` and
  ``remote-heads-changed`` from the app are ignored; the daemon never sends
  ``remote-heads-changed`` (its ``peer`` metadata has no storageId).

DocumentId is the base58check of a doc's 16 bytes (our DocId is their plain
base58): `document_id` / `doc_id_of` convert. A frame that is not a CBOR map
of a known shape, a text frame, or an inapplicable sync message closes the
socket (1003 for text, 1008 otherwise); the daemon carries on.

Authentication is that of the local API (Unix socket, or the bearer token in
``Authorization`` on TCP). A browser cannot set that header on a WebSocket, so
on TCP the handshake may instead offer the subprotocols ``citizen`` and
``citizen.token.<token>`` (``new WebSocket(url, ["citizen", "citizen.token." +
token])``); the daemon answers ``citizen``. This docstring is the route's reference: WebSocket
routes are not in the OpenAPI document.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import base58
import trio
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from citizen import cbor
from citizen.api.app import websocket_subprotocol
from citizen.api.context import ApiContext
from citizen.api.routes_docsync import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    Closing,
    close_quietly,
    receive_frames,
)
from citizen.docs.codec import PROTOCOL_VERSION, DocMessage, Hello, Refused, Sync, Unavailable
from citizen.docs.service import DocsService
from citizen.docs.session import DocAccess, Docs, DocSyncSession, PeerRole
from citizen.errors import CitizenError, NotFoundError, RemoteProtocolError
from citizen.ids import RANDOM_ID_BYTES, DocId

log = logging.getLogger(__name__)

PROTOCOL_V1 = "1"
SERVER_PEER_ID = "citizen-daemon"
#: hypercorn's default limit on a WebSocket message
MAX_FRAME = 16 * 1024 * 1024
MAX_ID = 256

# -- messages from the app (sans-IO) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """The app's hello: its peer ID and the protocol versions it speaks."""

    sender_id: str
    versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RepoSync:
    """``request`` (the app lacks the doc) or ``sync``: Automerge sync bytes for one doc."""

    kind: Literal["request", "sync"]
    doc_id: DocId
    data: bytes


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message we have nothing to do with (ephemeral, remote heads, doc-unavailable)."""

    type: str


ClientMessage = Join | RepoSync | Ignored

_IGNORED = ("ephemeral", "doc-unavailable", "remote-subscription-change", "remote-heads-changed")


def document_id(doc_id: DocId) -> str:
    """The automerge-repo DocumentId (base58check of the 16 bytes) of one of our DocIds."""
    raw = base58.b58decode(doc_id)
    return base58.b58encode_check(raw).decode()


def automerge_url(doc_id: DocId) -> str:
    """The doc's automerge-repo URL, what an app passes to `repo.find()`."""
    return f"automerge:{document_id(doc_id)}"


def doc_id_of(text: str) -> DocId:
    """Our DocId of an automerge-repo DocumentId.

    Raises:
        RemoteProtocolError: not base58check of 16 bytes.
    """
    try:
        raw = base58.b58decode_check(text)
    except ValueError as exc:
        raise RemoteProtocolError(f"documentId {text[:64]!r} is not base58check.") from exc
    if len(raw) != RANDOM_ID_BYTES:
        raise RemoteProtocolError(f"documentId {text[:64]!r} is not {RANDOM_ID_BYTES} bytes.")
    return DocId(base58.b58encode(raw).decode())


def decode_client_message(frame: bytes) -> ClientMessage:
    """Decode one binary frame from an automerge-repo app.

    Raises:
        RemoteProtocolError: anything but a CBOR map of a known shape.
    """
    what = "automerge-repo message"
    m = cbor.as_map(cbor.loads(frame, max_size=MAX_FRAME, what=what), what)
    kind = cbor.field_str(m, "type", what, max_len=64)
    match kind:
        case "join":
            sender = cbor.field_str(m, "senderId", what, max_len=MAX_ID)
            versions = cbor.field_list(m, "supportedProtocolVersions", what, max_len=16)
            if not all(isinstance(v, str) for v in versions):
                raise RemoteProtocolError(f"{what}: supportedProtocolVersions must be text.")
            return Join(sender, tuple(str(v) for v in versions))
        case "request" | "sync":
            doc_id = doc_id_of(cbor.field_str(m, "documentId", what, max_len=MAX_ID))
            data = cbor.field_bytes(m, "data", what)
            if not data:
                raise RemoteProtocolError(f"{what}: an empty sync message.")
            return RepoSync(kind, doc_id, data)
        case _ if kind in _IGNORED:
            return Ignored(kind)
        case _:
            raise RemoteProtocolError(f"{what}: unknown type {kind!r}.")


def peer_message(target_id: str) -> bytes:
    return cbor.dumps(
        {
            "type": "peer",
            "senderId": SERVER_PEER_ID,
            "targetId": target_id,
            "peerMetadata": {"isEphemeral": False},
            "selectedProtocolVersion": PROTOCOL_V1,
        }
    )


def sync_message(target_id: str, doc_id: DocId, data: bytes) -> bytes:
    return cbor.dumps(
        {
            "type": "sync",
            "senderId": SERVER_PEER_ID,
            "targetId": target_id,
            "documentId": document_id(doc_id),
            "data": data,
        }
    )


def unavailable_message(target_id: str, doc_id: DocId) -> bytes:
    return cbor.dumps(
        {
            "type": "doc-unavailable",
            "senderId": SERVER_PEER_ID,
            "targetId": target_id,
            "documentId": document_id(doc_id),
        }
    )


def error_message(target_id: str, message: str) -> bytes:
    return cbor.dumps(
        {"type": "error", "senderId": SERVER_PEER_ID, "targetId": target_id, "message": message}
    )


# -- the shell -------------------------------------------------------------------------


class _RepoSocket:
    """One automerge-repo app's socket: its join, one sync session for its docs, sends in order."""

    def __init__(self, ws: WebSocket, service: DocsService) -> None:
        self._ws = ws
        self._service = service
        # The app is one of our own household's programs: same household on both sides.
        key = service.household_key
        self._session = DocSyncSession(key, key)
        self._session.start({})
        self._session.on_message(Hello(PROTOCOL_VERSION, ()), {})
        self._client: str | None = None
        self._docs_followed: set[DocId] = set()
        #: docs the app asked for while they were here but empty: sent once they fill
        self._docs_waiting: set[DocId] = set()
        self._lock = trio.Lock()
        self._joined = trio.Event()

    async def _docs(self, doc_id: DocId) -> Docs:
        """This doc with what this household may do with it; empty if we do not have it."""
        try:
            doc = await self._service.cache.get(doc_id)
            role_here = await self._service._role_here(doc_id)
        except NotFoundError:
            return {}
        role: PeerRole = "reader" if role_here == "reader" else "household"
        return {doc_id: DocAccess(doc, role)}

    async def _empty_here(self, doc_id: DocId) -> bool:
        docs = await self._docs(doc_id)
        return bool(docs) and not docs[doc_id].doc.get_heads()

    async def _send(self, msgs: list[DocMessage] | tuple[DocMessage, ...]) -> None:
        assert self._client is not None
        for msg in msgs:
            match msg:
                case Sync(doc_id, data):
                    await self._ws.send_bytes(sync_message(self._client, doc_id, data))
                case Unavailable(doc_id):
                    self._docs_followed.discard(doc_id)
                    await self._ws.send_bytes(unavailable_message(self._client, doc_id))
                case Refused(doc_id, reason):
                    text = f"{document_id(doc_id)}: {reason}"
                    await self._ws.send_bytes(error_message(self._client, text))
                case _:
                    pass

    async def on_frame(self, frame: bytes) -> None:
        try:
            msg = decode_client_message(frame)
        except RemoteProtocolError as exc:
            raise Closing(CLOSE_POLICY_VIOLATION, exc.message[:120]) from exc
        match msg:
            case Join(sender, versions):
                await self._on_join(sender, versions)
            case RepoSync(kind, doc_id, data):
                if self._client is None:
                    raise Closing(CLOSE_POLICY_VIOLATION, "Send join first.")
                if kind == "request" and await self._empty_here(doc_id):
                    async with self._lock:
                        self._docs_waiting.add(doc_id)
                        await self._send([Unavailable(doc_id)])
                    return
                await self._on_sync(doc_id, data)
            case Ignored():
                pass

    async def _on_join(self, sender: str, versions: tuple[str, ...]) -> None:
        if self._client is not None:
            raise Closing(CLOSE_POLICY_VIOLATION, "A second join.")
        if PROTOCOL_V1 not in versions:
            reason = f"Unsupported protocol versions {list(versions)!r}; this daemon speaks '1'."
            await self._ws.send_bytes(error_message(sender, reason))
            raise Closing(CLOSE_POLICY_VIOLATION, reason[:120])
        self._client = sender
        async with self._lock:
            await self._ws.send_bytes(peer_message(sender))
        self._joined.set()

    async def _on_sync(self, doc_id: DocId, data: bytes) -> None:
        async with self._lock:
            docs = await self._docs(doc_id)
            try:
                fx = self._session.on_message(Sync(doc_id, data), docs)
            except RemoteProtocolError as exc:
                raise Closing(CLOSE_POLICY_VIOLATION, exc.message[:120]) from exc
            if docs:
                self._docs_followed.add(doc_id)
            changes = list(fx.persist.get(doc_id, ()))
            if changes:
                await self._service.cache.persist(doc_id, changes)
            await self._send(fx.send)
        for refusal in fx.refused:
            log.info("refused an automerge-repo app's changes to %s: %s", doc_id, refusal.reason)
        if changes:
            self._service._notify()
            await self._service.replicator.changed(doc_id)

    async def push_changes(self) -> None:
        """Forever: after each committed change anywhere, send what the app lacks of its docs."""
        await self._joined.wait()
        while True:
            seen = self._service.change_counter
            async with self._lock:
                for doc_id in sorted(self._docs_waiting):
                    docs = await self._docs(doc_id)
                    if not docs:
                        self._docs_waiting.discard(doc_id)  # deleted or withdrawn meanwhile
                    elif docs[doc_id].doc.get_heads():
                        self._docs_waiting.discard(doc_id)
                        self._docs_followed.add(doc_id)
                        self._session.forget(doc_id)
                for doc_id in sorted(self._docs_followed):
                    docs = await self._docs(doc_id)
                    if not docs:
                        self._docs_followed.discard(doc_id)
                        self._session.forget(doc_id)
                        await self._send([Unavailable(doc_id)])
                        continue
                    await self._send(self._session.on_local_change(doc_id, docs))
            # No checkpoint between this check and waiting: no change is missed.
            if self._service.change_counter == seen:
                await self._service.wait_changed()


async def _serve(ws: WebSocket, ctx: ApiContext) -> None:
    await ws.accept(subprotocol=websocket_subprotocol(ws.scope))
    try:
        service = ctx.docs()
    except CitizenError as exc:
        await close_quietly(ws, CLOSE_INTERNAL_ERROR, exc.message[:120])
        return
    socket = _RepoSocket(ws, service)
    closing: Closing | None = None

    async def push(cancel_scope: trio.CancelScope) -> None:
        nonlocal closing
        try:
            await socket.push_changes()
        except CitizenError as exc:
            closing = Closing(CLOSE_INTERNAL_ERROR, exc.message[:120])
        except (WebSocketDisconnect, OSError):
            pass
        cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        try:
            nursery.start_soon(push, nursery.cancel_scope)
            await receive_frames(ws, socket.on_frame, "Send binary CBOR automerge-repo messages.")
        except Closing as exc:
            closing = exc
        except CitizenError as exc:
            log.warning("an automerge-repo app's socket failed: %s", exc)
            closing = Closing(CLOSE_INTERNAL_ERROR, exc.message[:120])
        except WebSocketDisconnect:
            pass
        nursery.cancel_scope.cancel()
    if closing is not None:
        log.info("closing an automerge-repo app's socket: %s", closing.reason)
        await close_quietly(ws, closing.code, closing.reason)


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def repo(ws: WebSocket) -> None:
        await _serve(ws, ctx)

    return [WebSocketRoute("/v1/automerge-repo", repo)]
