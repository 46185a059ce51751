"""Resuming object requests after a broken stream: the policy, the waiting, and no double stores."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing
from nacl.signing import SigningKey

from citizen.errors import NotFoundError, UnreachableError
from citizen.ids import DeviceId, HouseholdId, ShareId, new_object_id
from citizen.objects.codec import FetchShare, ShareData, StoreCode, StoreResult, StoreShare
from citizen.objects.link import HolderLink
from citizen.objects.resume import Presence, ResumePolicy
from citizen.objects.server import Friends, ObjectsServer
from citizen.objects.transfer import enough_spares
from citizen.store.db import Database
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareStore, share_id_of

OWNER = HouseholdId("owner")
HOLDER = HouseholdId("holder")
# a real peer ID shape, as devices are named
DEVICE = DeviceId("12D3KooWRrBPpiKJ3KbMdAqqNzoJGTaJua11eCxVDr9GT6qdr8hh")
FAST = ResumePolicy(attempts=4, reconnect_timeout=5.0, backoff_min=0.0, backoff_max=0.0)


# -- pure parts -------------------------------------------------------------------------


def test_policy_bounds_retries_and_backs_off() -> None:
    p = ResumePolicy(attempts=4, backoff_min=0.5, backoff_max=3.0)
    assert [p.may_retry(r) for r in (0, 1, 2, 3, 4)] == [False, True, True, True, False]
    assert [p.delay(r) for r in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert not ResumePolicy(attempts=1).may_retry(1)  # one attempt: never resend


def test_spares_at_other_holders_mean_no_waiting() -> None:
    placement = {0: "a", 1: "b", 2: "c", 3: "d", 4: "a"}
    assert enough_spares([0, 1], [2, 3], placement)
    assert not enough_spares([0, 1], [2], placement)
    # share 4 lives at holder "a", already being asked: it is no spare for a broken "a"
    assert not enough_spares([0, 1], [4, 2], placement)
    assert not enough_spares([0, 1], [], {0: "a", 1: "b"})  # k = n: every holder is needed


# -- Presence -------------------------------------------------------------------------


async def test_presence_gives_up_on_a_removed_friends_device(
    autojump_clock: trio.testing.MockClock,
) -> None:
    removed: set[DeviceId] = set()
    presence = Presence(lambda _d: False, lambda: None, lambda d: d not in removed)
    async with trio.open_nursery() as nursery:

        async def remove_later() -> None:
            await trio.sleep(5)
            removed.add(DEVICE)
            presence.changed()

        nursery.start_soon(remove_later)
        start = trio.current_time()
        assert not await presence.wait_connected(DEVICE, 600.0)
        assert trio.current_time() - start < 10  # not the whole timeout (fake clock)


async def test_presence_waits_for_the_device_and_wakes_the_dialer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connected: set[DeviceId] = set()
    wakes = [0]

    def wake() -> None:
        wakes[0] += 1

    presence = Presence(lambda d: d in connected, wake)
    assert not await presence.wait_connected(DEVICE, 10.0)
    assert wakes[0] >= 1
    async with trio.open_nursery() as nursery:

        async def back_later() -> None:
            await trio.sleep(30)
            connected.add(DEVICE)
            await presence.peer_ready(DEVICE, HOLDER)

        nursery.start_soon(back_later)
        start = trio.current_time()
        assert await presence.wait_connected(DEVICE, 120.0)
        assert trio.current_time() - start < 120  # back before the timeout (fake clock)


# -- HolderLink against a real ObjectsServer over in-memory streams ---------------------


class _Stream:
    """A `Stream`, plus the connection facts `citizen.net.conns` reads off a libp2p stream."""

    def __init__(
        self, inner: trio.abc.HalfCloseableStream, peer: str, addrs: tuple[str, ...] = ()
    ) -> None:
        self._inner = inner
        self.muxed_conn = _Conn(peer, addrs)

    async def write(self, data: bytes) -> None:
        await self._inner.send_all(data)

    async def read(self, n: int | None = None) -> bytes:
        return await self._inner.receive_some(n)

    async def close(self) -> None:
        await self._inner.aclose()

    async def reset(self) -> None:
        await self._inner.aclose()


@dataclass
class _Conn:
    peer: str
    addrs: tuple[str, ...] = ()
    is_closed: bool = False

    @property
    def peer_id(self) -> Any:
        peer = self.peer

        class _Id:
            def to_base58(self) -> str:
                return peer

        return _Id()

    def get_transport_addresses(self) -> list[str]:
        return list(self.addrs)


class _BreakingStream(_Stream):
    """The holder's end: after `answers` replies it drops the connection instead of replying."""

    def __init__(self, inner: trio.abc.HalfCloseableStream, peer: str, answers: int) -> None:
        super().__init__(inner, peer)
        self.answers = answers

    async def write(self, data: bytes) -> None:
        if self.answers == 0:
            await self._inner.aclose()  # the request was handled; its answer is lost
            raise trio.ClosedResourceError("connection reset")
        self.answers -= 1
        await super().write(data)


@dataclass
class _Net:
    """open_stream opens an in-memory stream to `server`; `break_after` shapes the first ones."""

    server: ObjectsServer
    nursery: trio.Nursery
    break_after: list[int] = field(default_factory=list)
    reachable: bool = True
    opened: int = 0
    relayed: bool = False  # streams run over a relayed connection while no direct one exists
    has_direct: bool = False

    def direct(self, device: str) -> bool:
        return self.has_direct

    async def open_stream(self, device: str, protocol: str) -> _Stream:
        self.opened += 1
        if not self.reachable:
            raise ConnectionError("no connection to the peer")
        ours, theirs = trio.testing.memory_stream_pair()
        answers = self.break_after.pop(0) if self.break_after else 1 << 30
        remote = _BreakingStream(theirs, "owner-device", answers)
        self.nursery.start_soon(self.server.handle_stream, remote)
        via = ("/ip4/198.51.100.1/tcp/4747/p2p/relay/p2p-circuit",) if not self.has_direct else ()
        return _Stream(ours, device, via if self.relayed else ())


class _Friends:
    """What the server asks of `Peers`: every device is the owner's."""

    household = HOLDER

    def household_of(self, device: str) -> HouseholdId:
        return OWNER

    async def friend(self, household: HouseholdId) -> Any:
        if household != OWNER:
            raise NotFoundError("no such friend")

        @dataclass(frozen=True)
        class _F:
            household_key: bytes = bytes(SigningKey.generate().verify_key)
            offer_bytes: int | None = None

        return _F()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[ObjectsServer, ShareStore]]:
    db = await Database.open(tmp_path / "citizen.db")
    shares = ShareStore(tmp_path, db)
    await shares.cleanup()
    srv = ObjectsServer(
        shares,
        LocalObjects(tmp_path, db),
        cast(Friends, _Friends()),
        10**7,
    )
    yield srv, shares
    db.close()


def _stores(count: int) -> list[StoreShare]:
    oid = new_object_id()
    out = []
    for i in range(count):
        data = os.urandom(2000)
        out.append(StoreShare(OWNER, share_id_of(data), oid, i, 0, data))
    return out


async def test_a_lost_answer_is_resent_after_reconnect_and_stored_once(
    server: tuple[ObjectsServer, ShareStore],
) -> None:
    srv, shares = server
    msgs = _stores(5)
    async with trio.open_nursery() as nursery:
        # the first stream answers two stores, takes the third and breaks before answering;
        # the second stream answers one, takes the next and breaks too
        net = _Net(srv, nursery, break_after=[2, 1])
        presence = Presence(lambda _d: True, lambda: None)
        link = HolderLink(net, HOLDER, DEVICE, presence, FAST)
        for msg in msgs:
            result = await link.request(msg, StoreResult)
            assert result.code == StoreCode.OK and result.share_id == msg.share_id
        await link.aclose()
        nursery.cancel_scope.cancel()
    assert link.resumed == 2 and net.opened == 3
    held = await shares.held_for(OWNER)
    assert sorted(held) == sorted(m.share_id for m in msgs)
    assert await shares.used_by(OWNER) == sum(len(m.data) for m in msgs)  # nothing twice


async def test_a_fetch_resumes_too(server: tuple[ObjectsServer, ShareStore]) -> None:
    srv, _ = server
    (msg,) = _stores(1)
    async with trio.open_nursery() as nursery:
        # the fetch's answer is lost twice in a row (the second stream breaks at once)
        net = _Net(srv, nursery, break_after=[1, 0])
        link = HolderLink(net, HOLDER, DEVICE, Presence(lambda _d: True, lambda: None), FAST)
        assert (await link.request(msg, StoreResult)).code == StoreCode.OK
        got = await link.request(FetchShare(ShareId(msg.share_id)), ShareData)
        assert got.data == msg.data
        nursery.cancel_scope.cancel()
    assert link.resumed == 2 and net.opened == 3


async def test_a_device_that_stays_away_fails_the_link_after_bounded_waiting(
    server: tuple[ObjectsServer, ShareStore], autojump_clock: trio.testing.MockClock
) -> None:
    srv, _ = server
    (msg,) = _stores(1)
    async with trio.open_nursery() as nursery:
        net = _Net(srv, nursery, reachable=False)
        policy = ResumePolicy(attempts=3, reconnect_timeout=60.0, backoff_min=1.0)
        link = HolderLink(net, HOLDER, DEVICE, Presence(lambda _d: False, lambda: None), policy)
        with pytest.raises(UnreachableError):
            await link.request(msg, StoreResult)
        # it waited for the device, gave up, and later requests fail at once
        with pytest.raises(UnreachableError):
            await link.request(msg, StoreResult)
        assert net.opened == 1  # the device never came back, so no stream was tried again
        nursery.cancel_scope.cancel()


async def test_without_resume_a_break_fails_at_once(
    server: tuple[ObjectsServer, ShareStore],
) -> None:
    srv, _ = server
    msgs = _stores(2)
    async with trio.open_nursery() as nursery:
        net = _Net(srv, nursery, break_after=[1])
        link = HolderLink(net, HOLDER, DEVICE, Presence(lambda _d: True, lambda: None), FAST)
        assert (await link.request(msgs[0], StoreResult)).code == StoreCode.OK
        with pytest.raises(UnreachableError):
            await link.request(msgs[1], StoreResult, resume=False)
        nursery.cancel_scope.cancel()
    assert net.opened == 1 and link.resumed == 0


async def test_the_link_moves_to_a_direct_connection_between_requests(
    server: tuple[ObjectsServer, ShareStore],
) -> None:
    srv, shares = server
    msgs = _stores(3)
    async with trio.open_nursery() as nursery:
        net = _Net(srv, nursery, relayed=True)
        link = HolderLink(net, HOLDER, DEVICE, None, FAST)
        assert (await link.request(msgs[0], StoreResult)).code == StoreCode.OK
        assert (await link.request(msgs[1], StoreResult)).code == StoreCode.OK
        assert net.opened == 1  # still relayed: the same stream
        net.has_direct = True  # hole punched
        assert (await link.request(msgs[2], StoreResult)).code == StoreCode.OK
        assert net.opened == 2 and link.resumed == 0  # moved over, nothing resent
        await link.aclose()
        nursery.cancel_scope.cancel()
    assert len(await shares.held_for(OWNER)) == 3
