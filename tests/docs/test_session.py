"""Doc sync sessions: two endpoints piped together in memory through the real codec."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field

import pytest
from automerge.core import Document
from nacl.signing import SigningKey

from citizen.docs.codec import (
    PROTOCOL_VERSION,
    DocMessage,
    FrameReader,
    Granted,
    Hello,
    Refused,
    Sync,
    Unavailable,
    encode_frame,
)
from citizen.docs.session import READER_REFUSAL, DocAccess, DocSyncSession, Effects, PeerRole
from citizen.docs.values import append_path, set_path, to_json
from citizen.errors import RemoteProtocolError
from citizen.identity.grants import sign_grant
from citizen.ids import DocId, new_doc_id

OWNER = SigningKey(b"\x0a" * 32)
FRIEND = SigningKey(b"\x0b" * 32)
STRANGER = SigningKey(b"\x0c" * 32)
OWNER_PUB = bytes(OWNER.verify_key)
FRIEND_PUB = bytes(FRIEND.verify_key)


@dataclass
class Peer:
    session: DocSyncSession
    docs: dict[DocId, DocAccess] = field(default_factory=dict)
    persisted: dict[DocId, list[bytes]] = field(default_factory=dict)
    effects: list[Effects] = field(default_factory=list)
    sent: list[DocMessage] = field(default_factory=list)
    reader: FrameReader = field(default_factory=FrameReader)

    def share(self, doc_id: DocId, doc: Document, role: PeerRole) -> None:
        self.docs[doc_id] = DocAccess(doc, role)


def _pair() -> tuple[Peer, Peer]:
    return Peer(DocSyncSession(OWNER_PUB, FRIEND_PUB)), Peer(DocSyncSession(FRIEND_PUB, OWNER_PUB))


def pump(a: Peer, b: Peer, a_out: list[DocMessage], b_out: list[DocMessage]) -> None:
    """Deliver messages both ways, as bytes, until both sides are quiet."""
    queue: deque[tuple[Peer, Peer, DocMessage]] = deque()
    queue.extend((a, b, m) for m in a_out)
    queue.extend((b, a, m) for m in b_out)
    for _ in range(1000):
        if not queue:
            return
        src, dest, msg = queue.popleft()
        src.sent.append(msg)
        frame = encode_frame(msg)
        received: list[DocMessage] = []
        for i in range(0, len(frame), 7):  # odd chunking, as a socket would
            received += dest.reader.feed(frame[i : i + 7])
        assert received == [msg]
        fx = dest.session.on_message(received[0], dest.docs)
        dest.effects.append(fx)
        for doc_id, changes in fx.persist.items():
            dest.persisted.setdefault(doc_id, []).extend(changes)
        queue.extend((dest, src, m) for m in fx.send)
    pytest.fail("the conversation did not go quiet")


def start(a: Peer, b: Peer, grants: list[bytes] | None = None) -> None:
    pump(a, b, a.session.start(a.docs, grants or []), b.session.start(b.docs))


def _doc(value: dict[str, object]) -> Document:
    doc = Document()
    set_path(doc, "", value)
    return doc


def test_fresh_replica_converges_and_persisted_changes_rebuild_it() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    owner_doc = _doc({"title": "Groceries", "items": [{"name": "milk", "done": False}]})
    replica = Document()
    a.share(doc_id, owner_doc, "writer")
    b.share(doc_id, replica, "writer")
    start(a, b)
    assert replica.get_heads() == owner_doc.get_heads()
    assert to_json(replica) == to_json(owner_doc)
    # what the session asked to persist is exactly what the replica gained
    rebuilt = Document.load(Document().save() + b"".join(b.persisted[doc_id]))
    assert rebuilt.get_heads() == owner_doc.get_heads()
    assert doc_id not in a.persisted


def test_live_local_changes_flow_both_ways() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    a_doc, b_doc = _doc({"n": 0, "l": []}), Document()
    a.share(doc_id, a_doc, "writer")
    b.share(doc_id, b_doc, "writer")
    start(a, b)
    set_path(b_doc, "n", 1)
    pump(a, b, [], b.session.on_local_change(doc_id, b.docs))
    assert to_json(a_doc) == {"n": 1, "l": []}
    append_path(a_doc, "l", "x")
    pump(a, b, a.session.on_local_change(doc_id, a.docs), [])
    assert to_json(b_doc) == {"n": 1, "l": ["x"]}


def test_concurrent_edits_to_the_same_key_and_list_converge() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    a_doc = _doc({"k": "base", "l": ["first"]})
    b_doc = a_doc.fork()
    set_path(a_doc, "k", "from a")
    append_path(a_doc, "l", "a item")
    set_path(b_doc, "k", "from b")
    append_path(b_doc, "l", "b item")
    set_path(b_doc, "l.0", "first, edited by b")
    a.share(doc_id, a_doc, "writer")
    b.share(doc_id, b_doc, "writer")
    start(a, b)
    assert sorted(a_doc.get_heads()) == sorted(b_doc.get_heads())
    merged = to_json(a_doc)
    assert merged == to_json(b_doc)
    assert isinstance(merged, dict)
    assert merged["k"] in ("from a", "from b")
    assert merged["l"][0] == "first, edited by b"
    assert sorted(merged["l"][1:]) == ["a item", "b item"]


def test_reconnect_sends_only_what_is_missing() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    a_doc, b_doc = _doc({"l": list(range(50))}), Document()
    a.share(doc_id, a_doc, "writer")
    b.share(doc_id, b_doc, "writer")
    start(a, b)
    append_path(a_doc, "l", 50)  # made while disconnected
    a2, b2 = _pair()
    a2.docs, b2.docs = a.docs, b.docs
    start(a2, b2)
    assert a_doc.get_heads() == b_doc.get_heads()
    assert len(b2.persisted[doc_id]) == 1


def test_reader_changes_are_refused_and_the_owner_doc_is_untouched() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    owner_doc = _doc({"secret": "owner's"})
    reader_doc = owner_doc.fork()
    set_path(reader_doc, "secret", "overwritten by a reader")
    before = owner_doc.save()
    heads = owner_doc.get_heads()
    a.share(doc_id, owner_doc, "reader")  # b may only read
    b.share(doc_id, reader_doc, "writer")  # b thinks a may write (a owns it)
    start(a, b)
    assert owner_doc.get_heads() == heads
    assert owner_doc.save() == before
    assert doc_id not in a.persisted
    assert any(r.reason == READER_REFUSAL for fx in a.effects for r in fx.refused)
    assert Refused(doc_id, READER_REFUSAL) in a.sent
    assert any(r.doc_id == doc_id for fx in b.effects for r in fx.peer_refused)
    # later owner changes do not make it loop either
    set_path(owner_doc, "more", 1)
    pump(a, b, a.session.on_local_change(doc_id, a.docs), [])
    assert to_json(owner_doc) == {"secret": "owner's", "more": 1}


def test_reader_without_changes_receives_updates() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    owner_doc, reader_doc = _doc({"v": 1}), Document()
    a.share(doc_id, owner_doc, "reader")
    b.share(doc_id, reader_doc, "writer")
    start(a, b)
    set_path(owner_doc, "v", 2)
    pump(a, b, a.session.on_local_change(doc_id, a.docs), [])
    assert to_json(reader_doc) == {"v": 2}
    assert not any(fx.refused for fx in a.effects)


def test_ungranted_doc_is_never_sent_nor_changed() -> None:
    a, b = _pair()
    shared, private = new_doc_id(), new_doc_id()
    # a holds `private` too, but it is not granted to b, so a's view for b lacks it
    a.share(shared, _doc({"x": 1}), "writer")
    b.share(shared, Document(), "writer")
    b_private = Document()
    set_path(b_private, "diary", "forged")
    b.share(private, b_private, "writer")  # b tries to sync it anyway
    start(a, b)
    assert a.session.on_local_change(private, a.docs) == []
    assert a.sent, "a said nothing at all"
    for msg in a.sent:
        match msg:
            case Sync(doc_id, _):
                assert doc_id == shared
            case Hello(_, doc_ids):
                assert doc_ids == (shared,)
    assert Unavailable(private) in a.sent
    assert all(private not in fx.persist for fx in a.effects)
    assert any(private in fx.unknown_offers for fx in a.effects)


def test_unavailable_pauses_until_the_peer_opens_a_replica() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    a_doc = _doc({"x": 1})
    a.share(doc_id, a_doc, "writer")
    start(a, b)  # b holds no replica yet
    assert any(r.doc_id == doc_id for fx in a.effects for r in fx.peer_refused)
    set_path(a_doc, "x", 2)
    assert a.session.on_local_change(doc_id, a.docs) == []
    replica = Document()
    b.share(doc_id, replica, "writer")
    pump(a, b, [], b.session.on_local_change(doc_id, b.docs))
    assert to_json(replica) == {"x": 2}


def test_grants_are_verified_and_handed_to_the_shell() -> None:
    a, b = _pair()
    doc_id = new_doc_id()
    good = sign_grant(OWNER, doc_id, FRIEND_PUB, "writer", issued=1)
    not_for_b = sign_grant(OWNER, doc_id, bytes(STRANGER.verify_key), "writer", issued=1)
    not_by_a = sign_grant(STRANGER, doc_id, FRIEND_PUB, "writer", issued=1)
    start(a, b, [good, not_for_b, not_by_a])
    granted = [g for fx in b.effects for g in fx.grants]
    assert [g.raw for g in granted] == [good]
    refused = [r for fx in b.effects for r in fx.refused]
    assert len(refused) == 2
    assert all(r.doc_id == doc_id for r in refused)


def test_forged_grant_is_a_protocol_error() -> None:
    _, b = _pair()
    forged = bytearray(sign_grant(OWNER, new_doc_id(), FRIEND_PUB, "writer"))
    forged[-1] ^= 1
    with pytest.raises(RemoteProtocolError):
        b.session.on_message(Granted(bytes(forged)), {})


def test_protocol_order_and_garbage_are_remote_errors() -> None:
    a, _ = _pair()
    doc_id = new_doc_id()
    a.share(doc_id, Document(), "writer")
    a.session.start(a.docs)
    with pytest.raises(RemoteProtocolError, match="before Hello"):
        a.session.on_message(Sync(doc_id, b"\x42"), a.docs)
    a.session.on_message(Hello(PROTOCOL_VERSION, ()), a.docs)
    with pytest.raises(RemoteProtocolError, match="second Hello"):
        a.session.on_message(Hello(PROTOCOL_VERSION, ()), a.docs)
    with pytest.raises(RemoteProtocolError, match="sync message"):
        a.session.on_message(Sync(doc_id, b"\x42\x00garbage"), a.docs)


def test_pure_modules_import_no_io() -> None:
    code = (
        "import sys, citizen.docs.session, citizen.docs.codec, citizen.docs.values;"
        "print(sorted(m for m in ('trio', 'sqlite3', 'libp2p') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
