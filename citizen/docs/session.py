"""The doc replication state machine for one connected peer device (sans-IO).

`DocSyncSession` holds one fresh Automerge `SyncState` per doc for the life
of one `/citizen/docs/1` stream (sync states cannot be saved; a fresh one
costs at most an extra round trip). It takes messages in and returns messages
and effects out; the shell (trio) moves the bytes and does the I/O:

1. On stream open: ``send(session.start(docs, grants))``.
2. For each incoming message: ``fx = session.on_message(msg, docs)``; persist
   ``fx.persist`` (and store ``fx.grants``) and only then send ``fx.send``;
   tell the other sessions about the docs in ``fx.persist`` via their
   `on_local_change`.
3. After a local commit of a doc: ``send(session.on_local_change(doc_id, docs))``.

``docs`` is always the caller's current view of the docs this peer may sync,
with the peer's role for each: a doc missing from it is never sent and the
peer's syncs for it are answered `Unavailable`. The `Document` objects are the
live, cached ones: incoming changes from writers are applied to them in place
(so if persisting fails, the shell must evict them from its cache).

A reader's sync messages are applied to a fork of the doc; if the fork gains
changes, nothing reaches the real doc, the peer gets `Refused` and our sync
state for that doc starts afresh. The conversation for that doc then goes
quiet (no reply), which stops a reader that insists on its own changes from
looping; such a reader only catches up again once it drops them.

A panic of the bindings never leaves a session: one while handling the
peer's message is that peer's `RemoteProtocolError` (the shell closes the
stream and reloads the doc), one while generating our own message is an
`AutomergePanicError` for that doc.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from automerge.core import Document, Message, SyncState

from citizen.docs.codec import (
    PROTOCOL_VERSION,
    DocInfo,
    DocMessage,
    Granted,
    Hello,
    Refused,
    Sync,
    Unavailable,
)
from citizen.docs.values import is_automerge_panic, new_changes, panics_contained
from citizen.errors import NotAuthorizedError, RemoteProtocolError
from citizen.identity.grants import Grant, verify_grant
from citizen.ids import DocId

PeerRole = Literal["reader", "writer", "household"]
"""What the peer may do with a doc: read only, write, or everything (our own household)."""

READER_REFUSAL = "You may only read this doc; your changes were not accepted."


@dataclass(frozen=True, slots=True)
class DocAccess:
    """A doc this peer may sync, and the peer's role for it."""

    doc: Document
    role: PeerRole


Docs = Mapping[DocId, DocAccess]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A doc-level rejection, for the log: which doc and why."""

    doc_id: DocId
    reason: str


@dataclass(frozen=True, slots=True)
class Effects:
    """What the shell must do after `DocSyncSession.on_message`.

    Attributes:
        persist: new change bytes per doc, already applied to the doc;
            commit them to disk BEFORE sending `send`.
        send: messages for the peer, in order.
        grants: verified grants the peer (the owner) gave our household, to
            store (a revoked one withdraws access) before handling more messages.
        refused: changes from the peer we rejected.
        peer_refused: the peer rejected ours or does not have a doc.
        unknown_offers: docs the peer offered in its Hello that are not in
            ``docs`` (the shell may check its grants and open a replica).
    """

    persist: Mapping[DocId, tuple[bytes, ...]] = field(default_factory=dict)
    send: tuple[DocMessage, ...] = ()
    grants: tuple[Grant, ...] = ()
    refused: tuple[Refusal, ...] = ()
    peer_refused: tuple[Refusal, ...] = ()
    unknown_offers: tuple[DocId, ...] = ()


def _decode(data: bytes) -> Message:
    try:
        return Message.decode(data)
    except BaseException as exc:
        if isinstance(exc, Exception) or is_automerge_panic(exc):
            raise RemoteProtocolError(f"Not an Automerge sync message: {exc}") from exc
        raise


def _receive(doc: Document, state: SyncState, message: Message) -> None:
    try:
        doc.receive_sync_message(state, message)
    except BaseException as exc:
        if isinstance(exc, Exception) or is_automerge_panic(exc):
            raise RemoteProtocolError(f"The peer's sync message cannot be applied: {exc}") from exc
        raise


class DocSyncSession:
    """Replication with one peer device over one stream; see the module docstring.

    Args:
        local_household: our household public key (grants must name it).
        peer_household: the peer device's household public key (grants the
            peer sends must be signed by it).
    """

    def __init__(self, local_household: bytes, peer_household: bytes) -> None:
        self._local_household = bytes(local_household)
        self._peer_household = bytes(peer_household)
        self._states: dict[DocId, SyncState] = {}
        self._unavailable: set[DocId] = set()
        self._started = False
        self._hello_received = False

    @property
    def syncing(self) -> frozenset[DocId]:
        """Docs with a live sync state on this stream."""
        return frozenset(self._states)

    def start(self, docs: Docs, grants: Iterable[bytes] = ()) -> list[DocMessage]:
        """Open the stream: the grants the peer needs, our Hello, a first sync per doc.

        Args:
            docs: the docs this peer may sync (see the module docstring).
            grants: signed grants our household gave the peer's household.
        """
        if self._started:
            return []
        self._started = True
        out: list[DocMessage] = [Granted(g) for g in grants]
        out.append(Hello(PROTOCOL_VERSION, tuple(sorted(docs))))
        for doc_id in sorted(docs):
            out.extend(self._generate(doc_id, docs[doc_id].doc))
        return out

    def on_local_change(self, doc_id: DocId, docs: Docs) -> list[DocMessage]:
        """`doc_id` changed here (or was just opened): what to send this peer.

        Nothing if the peer may not sync it, the peer said it lacks it, or the
        stream is not started yet (`start` covers it then).
        """
        if doc_id not in docs:
            self.forget(doc_id)
            return []
        if not self._started or doc_id in self._unavailable:
            return []
        return self._generate(doc_id, docs[doc_id].doc)

    def forget(self, doc_id: DocId) -> None:
        """Drop the sync state of `doc_id` (access revoked or doc deleted)."""
        self._states.pop(doc_id, None)
        self._unavailable.discard(doc_id)

    def on_message(self, msg: DocMessage, docs: Docs) -> Effects:
        """Handle one message from the peer.

        Raises:
            RemoteProtocolError: out-of-order Hello/Sync, an undecodable or
                inapplicable sync message, or a malformed or forged grant.
        """
        match msg:
            case Granted(data):
                return self._on_grant(data)
            case Hello(version, doc_ids):
                return self._on_hello(version, doc_ids, docs)
            case Sync(doc_id, data):
                self._require_hello("Sync")
                try:
                    return self._on_sync(doc_id, data, docs)
                except BaseException as exc:
                    if not is_automerge_panic(exc):
                        raise
                    raise RemoteProtocolError(
                        f"The peer's sync message for doc {doc_id} panicked the bindings: {exc}"
                    ) from exc
            case Unavailable(doc_id):
                self._require_hello("Unavailable")
                self._states.pop(doc_id, None)
                self._unavailable.add(doc_id)
                return Effects(peer_refused=(Refusal(doc_id, "unavailable"),))
            case DocInfo():
                return Effects()  # household metadata: the shell handles it
            case Refused(doc_id, reason):
                self._require_hello("Refused")
                if doc_id in self._states:
                    self._states[doc_id] = SyncState()
                return Effects(peer_refused=(Refusal(doc_id, reason),))

    # -- handlers -------------------------------------------------------------------

    def _require_hello(self, what: str) -> None:
        if not self._hello_received:
            raise RemoteProtocolError(f"The peer sent {what} before Hello.")

    def _generate(self, doc_id: DocId, doc: Document) -> list[DocMessage]:
        state = self._states.setdefault(doc_id, SyncState())
        with panics_contained(doc_id, "Generating a sync message for"):
            message = doc.generate_sync_message(state)
        if message is None:
            return []
        return [Sync(doc_id, message.encode())]

    def _on_grant(self, data: bytes) -> Effects:
        try:
            grant = verify_grant(data, self._peer_household)
        except NotAuthorizedError as exc:
            return Effects(refused=(Refusal(_doc_of(data), exc.message),))
        if grant.friend != self._local_household:
            return Effects(refused=(Refusal(grant.doc_id, "grant is for another household"),))
        return Effects(grants=(grant,))

    def _on_hello(self, version: int, doc_ids: tuple[DocId, ...], docs: Docs) -> Effects:
        if self._hello_received:
            raise RemoteProtocolError("The peer sent a second Hello.")
        if version != PROTOCOL_VERSION:
            raise RemoteProtocolError(f"The peer speaks docs protocol version {version}.")
        self._hello_received = True
        send: list[DocMessage] = []
        unknown: list[DocId] = []
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id not in docs:
                unknown.append(doc_id)
            elif self._started and doc_id not in self._states:
                send.extend(self._generate(doc_id, docs[doc_id].doc))
        return Effects(send=tuple(send), unknown_offers=tuple(unknown))

    def _on_sync(self, doc_id: DocId, data: bytes, docs: Docs) -> Effects:
        access = docs.get(doc_id)
        if access is None:
            self._states.pop(doc_id, None)
            return Effects(send=(Unavailable(doc_id),))
        message = _decode(data)
        self._unavailable.discard(doc_id)
        state = self._states.setdefault(doc_id, SyncState())
        doc = access.doc
        heads = doc.get_heads()
        if access.role == "reader":
            # Try it on a copy: only a message that brings no changes may touch
            # the sync state we keep using with the real doc.
            trial = doc.fork()
            _receive(trial, state, message)
            if sorted(trial.get_heads()) != sorted(heads):
                self._states[doc_id] = SyncState()
                refusal = Refusal(doc_id, READER_REFUSAL)
                return Effects(send=(Refused(doc_id, READER_REFUSAL),), refused=(refusal,))
            return Effects(send=tuple(self._generate(doc_id, doc)))
        _receive(doc, state, message)
        changes = tuple(new_changes(doc, heads))
        persist = {doc_id: changes} if changes else {}
        return Effects(persist=persist, send=tuple(self._generate(doc_id, doc)))


def _doc_of(data: bytes) -> DocId:
    """Best-effort doc ID of a grant signed by the wrong household, for the log."""
    try:
        return verify_grant(data).doc_id
    except (RemoteProtocolError, NotAuthorizedError):
        return DocId("?")


def sync_message_heads(data: bytes) -> tuple[bytes, ...] | None:
    """The sender's heads, read from an encoded Automerge sync message (None if unreadable).

    A sync message starts with its type byte (0x42, or 0x43 for the version
    that also carries capabilities), a LEB128 count and that
    many 32-byte change hashes: the sender's heads when it sent the message.
    Comparing them with our heads tells whether a peer is in sync or behind.
    """
    if len(data) < 2 or data[0] not in (0x42, 0x43):
        return None
    count = 0
    shift = 0
    pos = 1
    while pos < len(data):
        byte = data[pos]
        pos += 1
        count |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
        if shift > 28:
            return None
    end = pos + 32 * count
    if count > 10_000 or end > len(data):
        return None
    return tuple(data[i : i + 32] for i in range(pos, end, 32))
