from __future__ import annotations

from automerge.core import ROOT, Document, ScalarType, SyncState
from hypothesis import given
from hypothesis import strategies as st

from citizen.docs.session import sync_message_heads


def test_heads_are_read_from_both_message_versions() -> None:
    a, b = Document(), Document()
    with a.transaction() as tx:
        tx.put(ROOT, "k", ScalarType.Str, "v")
    sa, sb = SyncState(), SyncState()
    first = a.generate_sync_message(sa)
    assert sync_message_heads(first.encode()) == tuple(a.get_heads())
    b.receive_sync_message(sb, first)
    reply = b.generate_sync_message(sb)
    assert reply.encode()[0] == 0x43  # the newer message type
    assert sync_message_heads(reply.encode()) == ()


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    heads = sync_message_heads(data)
    assert heads is None or all(len(h) == 32 for h in heads)
