"""DocsService offline, and two households replicating over in-memory streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing
from nacl.signing import SigningKey

from citizen.docs.service import DocsService
from citizen.errors import CitizenError, NotAuthorizedError
from citizen.identity.fingerprints import household_id
from citizen.ids import DeviceId, DocId, HouseholdId
from citizen.net.network import OfflineNetwork
from citizen.net.peers import StoredPeers
from citizen.store.db import Database
from citizen.store.docs import DocCache, DocStore
from citizen.store.friends import FriendStore
from tests.docs.memory_net import MemoryPeers, Switch, cancel_at_exit, friend_record

#: bounds a hang; no test waits this long when it passes
WAIT = 10.0
POLL = 0.02


@dataclass
class Home:
    name: str
    key: SigningKey
    device: DeviceId
    docs: DocsService
    peers: MemoryPeers

    @property
    def household(self) -> HouseholdId:
        return household_id(bytes(self.key.verify_key))


def _key(name: str) -> SigningKey:
    return SigningKey(name.encode().ljust(32, b"\x00"))


def _signer(key: SigningKey) -> Callable[[], SigningKey]:
    return lambda: key


async def _open_db(stack: AsyncExitStack, path: Path) -> Database:
    db = await Database.open(path)
    stack.callback(db.close)
    return db


@asynccontextmanager
async def _homes(tmp_path: Path, *names: str) -> AsyncIterator[list[Home]]:
    """Households of one device each, friends with each other, linked and online."""
    # the databases close after the nursery (the outer stack), never under a running task
    async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
        with cancel_at_exit(nursery):
            switch = Switch(nursery)
            homes = []
            for name in names:
                key = _key(name)
                public = bytes(key.verify_key)
                store = DocStore(await _open_db(stack, tmp_path / f"{name}.sqlite"))
                peers = MemoryPeers(household_id(public))
                net = switch.net(f"{name}-pi")
                docs = DocsService(
                    store, DocCache(store), public, _signer(key), net=net, peers=peers
                )
                homes.append(Home(name, key, net.device, docs, peers))
            for home in homes:
                for other in homes:
                    if other is not home:
                        public = bytes(other.key.verify_key)
                        home.peers.add_friend(friend_record(public, other.name, other.device))
                        switch.link(home.device, other.device)
                await nursery.start(home.docs.run)
            for home in homes:
                for other in homes:
                    if other is not home:
                        await home.peers.ready(other.device)
            yield homes


async def _until(docs: DocsService, check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for `check()` to hold, re-checking after each committed change of `docs`.

    Not every step of sync commits a change (a grant from our other device
    does not), so it also re-checks every `POLL` seconds.
    """
    with trio.move_on_after(WAIT):
        while True:
            seen = docs.change_counter
            if await check():
                return
            if docs.change_counter == seen:
                with trio.move_on_after(POLL):
                    await docs.wait_changed()
    raise AssertionError(f"timed out waiting for {what}")


def _value_is(docs: DocsService, doc: str, want: object) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            return (await docs.show(doc))["value"] == want
        except CitizenError:
            return False  # no replica yet

    return check


async def _titled(docs: DocsService, title: str) -> bool:
    return [d["title"] for d in await docs.list_docs()] == [title]


async def _shared_with_beta(docs: DocsService) -> bool:
    [listed] = await docs.list_docs()
    return listed["shared_with"] == [
        {"friend": household_id(bytes(_key("beta").verify_key)), "role": "reader"}
    ]


async def test_offline_docs_work_locally(tmp_path: Path) -> None:
    key = _key("alpha")
    public = bytes(key.verify_key)
    db = await Database.open(tmp_path / "citizen.sqlite")
    try:
        store = DocStore(db)
        docs = DocsService(
            store,
            DocCache(store),
            public,
            lambda: key,
            net=OfflineNetwork(DeviceId("alpha-pi")),
            peers=StoredPeers(household_id(public), FriendStore(db)),
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(docs.run)
            doc = str((await docs.create("Shopping"))["doc_id"])
            await docs.set(doc, "items", ["milk"])
            await docs.append(doc, "items", "eggs")
            shown = await docs.show(doc)
            assert shown["value"] == {"items": ["milk", "eggs"]}
            assert shown["role"] == "owner" and shown["peers"] == []
            [listed] = await docs.list_docs()
            assert listed["title"] == "Shopping" and listed["shared_with"] == []
            assert len(await docs.history(doc)) == 3  # create makes a first, empty change
            with pytest.raises(CitizenError, match="Sharing needs the network"):
                await docs.share(doc, "beta", "reader")
            with pytest.raises(CitizenError, match="Unsharing needs the network"):
                await docs.unshare(doc, "beta")
            assert (await docs.delete(doc))["deleted"] is True
            assert await docs.list_docs() == []
            nursery.cancel_scope.cancel()
    finally:
        db.close()


async def test_shared_doc_replicates_both_ways(tmp_path: Path) -> None:
    async with _homes(tmp_path, "alpha", "beta") as (a, b):
        doc = str((await a.docs.create("Plans"))["doc_id"])
        await a.docs.set(doc, "list", ["start"])
        shared = await a.docs.share(doc, "beta", "writer")
        assert shared["friend"] == b.household and shared["name"] == "beta"
        await _until(b.docs, _value_is(b.docs, doc, {"list": ["start"]}), "beta's replica")
        at_b = await b.docs.show(doc)
        assert at_b["owner"] == a.household and at_b["role"] == "writer"
        await _until(b.docs, lambda: _titled(b.docs, "Plans"), "the owner's title at beta")

        await b.docs.append(doc, "list", "b1")
        await _until(a.docs, _value_is(a.docs, doc, {"list": ["start", "b1"]}), "beta's edit")
        [peer] = await a.docs.peers(DocId(doc), a.household)
        assert peer["household"] == b.household and peer["state"] != "offline"
        assert peer["name"] == "beta"


async def test_a_reader_may_not_edit_and_removal_drops_grants(tmp_path: Path) -> None:
    async with _homes(tmp_path, "alpha", "beta") as (a, b):
        doc = str((await a.docs.create("Rules"))["doc_id"])
        await a.docs.set(doc, "rule", "be kind")
        await a.docs.share(doc, "beta", "reader")
        await _until(b.docs, _value_is(b.docs, doc, {"rule": "be kind"}), "beta's replica")
        assert (await b.docs.show(doc))["role"] == "reader"
        with pytest.raises(NotAuthorizedError):
            await b.docs.set(doc, "rule", "be loud")

        [listed] = await a.docs.list_docs()
        assert listed["shared_with"] == [{"friend": b.household, "role": "reader"}]
        await a.peers.remove_friend(b.household)
        [listed] = await a.docs.list_docs()
        assert listed["shared_with"] == []


async def test_a_gone_device_is_offline_for_the_doc(tmp_path: Path) -> None:
    async with _homes(tmp_path, "alpha", "beta") as (a, b):
        doc = str((await a.docs.create("Plans"))["doc_id"])
        await a.docs.share(doc, "beta", "writer")
        await _until(b.docs, _value_is(b.docs, doc, {}), "beta's replica")
        a.peers.gone(b.device)
        gone = {"household": b.household, "name": "beta", "state": "offline"}
        assert (await a.docs.show(doc))["peers"] == [gone]


async def test_own_devices_sync_every_doc_and_the_grants(tmp_path: Path) -> None:
    key = _key("alpha")
    public = bytes(key.verify_key)
    household = household_id(public)
    # the databases close after the nursery (the outer stack), never under a running task
    async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
        with cancel_at_exit(nursery):
            switch = Switch(nursery)
            devices: list[tuple[DocsService, MemoryPeers]] = []
            for device in ("alpha-laptop", "alpha-pi"):
                store = DocStore(await _open_db(stack, tmp_path / f"{device}.sqlite"))
                peers = MemoryPeers(household)
                peers.add_friend(friend_record(bytes(_key("beta").verify_key), "beta", "beta-pi"))
                net = switch.net(device)
                docs = DocsService(
                    store, DocCache(store), public, _signer(key), net=net, peers=peers
                )
                await nursery.start(docs.run)
                devices.append((docs, peers))
            (laptop, laptop_peers), (pi, pi_peers) = devices
            laptop_peers.add_own_device("alpha-pi")
            pi_peers.add_own_device("alpha-laptop")
            switch.link("alpha-laptop", "alpha-pi")
            await laptop_peers.ready("alpha-pi")
            await pi_peers.ready("alpha-laptop")

            doc = str((await laptop.create("Holidays"))["doc_id"])
            await laptop.set(doc, "where", "sea")
            await _until(pi, _value_is(pi, doc, {"where": "sea"}), "the laptop's doc on the pi")
            assert (await pi.show(doc))["role"] == "owner"
            await laptop.share(doc, "beta", "reader")
            await _until(pi, lambda: _shared_with_beta(pi), "the laptop's grant on the pi")
            await pi.set(doc, "when", "july")
            await _until(
                laptop, _value_is(laptop, doc, {"where": "sea", "when": "july"}), "pi's edit"
            )


async def test_a_device_of_a_friend_just_removed_does_not_stop_the_service(tmp_path: Path) -> None:
    # its hello raced the removal: the link is still up, the friend is gone from the store
    async with _homes(tmp_path, "alpha", "beta") as (a, b):
        # the store no longer has beta; the device is still mapped to it (hello came first)
        del a.peers._friends[b.household]
        await a.peers.ready(b.device)
        await trio.testing.wait_all_tasks_blocked()
        doc = str((await a.docs.create("Still here"))["doc_id"])
        await a.docs.set(doc, "ok", True)
        assert (await a.docs.show(doc))["value"] == {"ok": True}
