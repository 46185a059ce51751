"""The friend's side of `/citizen/objects/1`: who may store, fetch, prove, delete and list."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from nacl.signing import SigningKey

from citizen.errors import NotFoundError, RemoteProtocolError
from citizen.ids import HouseholdId, ObjectId, ShareId, new_object_id
from citizen.objects.codec import (
    Challenge,
    Deleted,
    DeleteShares,
    FetchShare,
    Held,
    ListHeld,
    Missing,
    Proof,
    ShareData,
    StoreCode,
    StoreResult,
    StoreShare,
    delete_payload,
)
from citizen.objects.server import Friends, ObjectsServer
from citizen.store.db import Database
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareStore, proof_for, share_id_of

ALICE = HouseholdId("alice")
BOB = HouseholdId("bob")
KEYS = {ALICE: SigningKey.generate(), BOB: SigningKey.generate()}
OID: ObjectId = new_object_id()


@dataclass(frozen=True)
class _Friend:
    household_key: bytes
    offer_bytes: int | None


class _Friends:
    """What the server asks of `Peers`."""

    household = HouseholdId("us")

    def __init__(self) -> None:
        self.offers: dict[HouseholdId, int | None] = {ALICE: None, BOB: 5000}

    def household_of(self, device: str) -> HouseholdId | None:
        return {"alice-pi": ALICE, "our-laptop": self.household}.get(device)

    async def friend(self, household: HouseholdId) -> _Friend:
        if household not in self.offers:
            raise NotFoundError("no such friend")
        return _Friend(bytes(KEYS[household].verify_key), self.offers[household])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ObjectsServer]:
    db = await Database.open(tmp_path / "citizen.db")
    shares = ShareStore(tmp_path, db)
    await shares.cleanup()
    friends = cast(Friends, _Friends())
    yield ObjectsServer(shares, LocalObjects(tmp_path, db), friends, 10**6)
    db.close()


def _share(n: int = 1000) -> tuple[ShareId, bytes]:
    data = os.urandom(n)
    return share_id_of(data), data


def _store(owner: HouseholdId, sid: ShareId, data: bytes) -> StoreShare:
    return StoreShare(owner, sid, OID, 0, 0, data)


def _delete(owner: HouseholdId, ids: tuple[ShareId, ...], key: SigningKey) -> DeleteShares:
    sig = key.sign(delete_payload(owner, ids, 7)).signature
    return DeleteShares(owner, ids, 7, sig)


async def test_store_only_as_own_household_within_quota(server: ObjectsServer) -> None:
    sid, data = _share()
    ok = await server.answer(ALICE, _store(ALICE, sid, data))
    assert ok == StoreResult(sid, StoreCode.OK)
    as_other = await server.answer(BOB, _store(ALICE, sid, data))
    assert isinstance(as_other, StoreResult) and as_other.code is StoreCode.NOT_AUTHORIZED
    bad = await server.answer(ALICE, _store(ALICE, _share()[0], data))
    assert isinstance(bad, StoreResult) and bad.code is StoreCode.BAD_HASH
    # bob is offered 5000 bytes: a 3000-byte share fits, a second one does not
    first_id, first = _share(3000)
    assert (await server.answer(BOB, _store(BOB, first_id, first))) == StoreResult(
        first_id, StoreCode.OK
    )
    over_id, over = _share(3000)
    refused = await server.answer(BOB, _store(BOB, over_id, over))
    assert isinstance(refused, StoreResult) and refused.code is StoreCode.QUOTA
    assert "5000" in refused.message
    assert await server.answer(BOB, FetchShare(over_id)) == Missing(over_id)


async def test_fetch_and_prove_only_own_shares(server: ObjectsServer) -> None:
    sid, data = _share()
    await server.answer(ALICE, _store(ALICE, sid, data))
    assert await server.answer(ALICE, FetchShare(sid)) == ShareData(sid, data)
    assert await server.answer(BOB, FetchShare(sid)) == Missing(sid)
    nonce = os.urandom(32)
    other = _share()[0]
    assert await server.answer(ALICE, Challenge((sid, other), nonce)) == Proof(
        nonce, (proof_for(nonce, data), b"")
    )
    assert await server.answer(BOB, Challenge((sid,), nonce)) == Proof(nonce, (b"",))


async def test_delete_needs_the_owners_signature(server: ObjectsServer) -> None:
    sid, data = _share()
    await server.answer(ALICE, _store(ALICE, sid, data))
    with pytest.raises(RemoteProtocolError):
        await server.answer(ALICE, _delete(ALICE, (sid,), KEYS[BOB]))
    with pytest.raises(RemoteProtocolError):
        await server.answer(BOB, _delete(ALICE, (sid,), KEYS[ALICE]))
    assert await server.answer(ALICE, FetchShare(sid)) == ShareData(sid, data)
    assert await server.answer(ALICE, _delete(ALICE, (sid,), KEYS[ALICE])) == Deleted(1)
    assert await server.answer(ALICE, FetchShare(sid)) == Missing(sid)


async def test_list_held_pages_and_is_per_household(server: ObjectsServer) -> None:
    ids = []
    for _ in range(5):
        sid, data = _share(100)
        await server.answer(ALICE, _store(ALICE, sid, data))
        ids.append(sid)
    ids.sort()
    first = await server.answer(ALICE, ListHeld(ALICE, None, 3))
    assert first == Held(tuple(ids[:3]), True)
    rest = await server.answer(ALICE, ListHeld(ALICE, ids[2], 3))
    assert rest == Held(tuple(ids[3:]), False)
    assert await server.answer(BOB, ListHeld(BOB, None, 10)) == Held((), False)
    with pytest.raises(RemoteProtocolError):
        await server.answer(BOB, ListHeld(ALICE, None, 10))


async def test_answers_are_not_requests(server: ObjectsServer) -> None:
    sid = _share()[0]
    with pytest.raises(RemoteProtocolError):
        await server.answer(ALICE, StoreResult(sid, StoreCode.OK))


class _Peer:
    def __init__(self, device: str) -> None:
        self.device = device

    def to_base58(self) -> str:
        return self.device


@dataclass
class _Conn:
    peer_id: _Peer


class _Stream:
    """A stream from `device` that sends nothing: enough to see who is turned away."""

    def __init__(self, device: str) -> None:
        self.muxed_conn = _Conn(_Peer(device))
        self.was_reset = False

    async def read(self, n: int | None = None) -> bytes:
        return b""

    async def write(self, data: bytes) -> None:
        raise AssertionError("nothing is answered")

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        self.was_reset = True


async def test_strangers_and_our_own_devices_are_turned_away(server: ObjectsServer) -> None:
    for device in ("stranger-pi", "our-laptop"):
        stream = _Stream(device)
        await server.handle_stream(stream)
        assert stream.was_reset, device
    friend = _Stream("alice-pi")
    await server.handle_stream(friend)  # served until the friend closed the stream
    assert not friend.was_reset
