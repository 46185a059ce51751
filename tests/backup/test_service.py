"""BackupService offline, pushing to a friend, and recovering from it, over in-memory streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
from nacl.signing import SigningKey

from citizen.backup.service import BackupService
from citizen.docs import values
from citizen.identity.fingerprints import household_id
from citizen.ids import DeviceId
from citizen.net.network import Net, OfflineNetwork
from citizen.net.peers import Peers, StoredPeers
from citizen.store.backups import BackupStore, set_recovery_peers
from citizen.store.db import Database, open_connection
from citizen.store.docs import DocCache, DocStore
from citizen.store.friend_records import FriendDevice
from citizen.store.friends import FriendStore
from tests.docs.memory_net import MemoryPeers, Switch, cancel_at_exit, friend_record

WAIT = 10.0
ALPHA_KEY = SigningKey(b"alpha".ljust(32, b"\x00"))
ALPHA = household_id(bytes(ALPHA_KEY.verify_key))
BETA_KEY = SigningKey(b"beta".ljust(32, b"\x00"))
BETA = household_id(bytes(BETA_KEY.verify_key))


@dataclass
class Device:
    device: DeviceId
    backup: BackupService
    friends: FriendStore
    docs: DocStore


class FakeRecovery:
    """The friends service's part in recovery: dialing a recovery peer makes it trust us."""

    def __init__(self, switch: Switch, me: DeviceId, trusting: FriendStore) -> None:
        self.recovery_peers: set[str] = set()
        self.dialed: list[tuple[str, list[str]]] = []
        self._switch, self._me, self._trusting = switch, me, trusting

    async def connect_recovery_peer(self, device: str, addrs: list[str]) -> None:
        self.dialed.append((device, addrs))
        self._switch.link(self._me, device)
        # what the peer's friends service does with our certificate in hello
        await self._trusting.add_device(FriendDevice(self._me, ALPHA, "new", b"", (), None))

    def on_welcomed_back(self, callback: object) -> None:
        """No invites here (tests/backup/test_welcome_back.py covers a welcome back)."""


async def _device(
    stack: AsyncExitStack,
    path: Path,
    key: SigningKey,
    name: str,
    net: Net,
    peers: Peers | None = None,
    recovery: FakeRecovery | None = None,
) -> Device:
    db = await Database.open(path)
    stack.callback(db.close)
    friends = FriendStore(db)
    await friends.load()
    public = bytes(key.verify_key)
    docs = DocStore(db)
    backup = BackupService(
        BackupStore(db),
        friends,
        docs,
        DocCache(docs),
        public,
        name,
        lambda: key,
        has_household_key=True,
        net=net,
        peers=peers or StoredPeers(household_id(public), friends),
        recovery=recovery,
    )
    return Device(net.device, backup, friends, docs)


async def test_offline_backup_status_and_waiting_recovery(tmp_path: Path) -> None:
    path = tmp_path / "citizen.sqlite"
    conn = open_connection(path)
    set_recovery_peers(conn, {"beta-pi": ["/ip4/127.0.0.1/tcp/1"]})
    conn.close()
    async with AsyncExitStack() as stack:
        me = await _device(stack, path, ALPHA_KEY, "alpha", OfflineNetwork(DeviceId("alpha-pi")))
        status = await me.backup.status()
        assert status["enabled"] is True and status["version"] is None
        assert status["friends"] == [] and status["recovering"] is False
        with trio.fail_after(WAIT):
            await me.backup.run()  # offline, a pending recovery waits: run returns
        assert (await me.backup.status())["recovering"] is True
        sealed = await me.backup.backup_now()  # sealed locally, pushed to nobody
        assert isinstance(sealed["version"], int) and sealed["friends"] == []


@asynccontextmanager
async def _alpha_and_beta(tmp_path: Path) -> AsyncIterator[tuple[Device, Device, Switch]]:
    # the databases close after the nursery (the outer stack), never under a running task
    async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
        with cancel_at_exit(nursery):
            switch = Switch(nursery)
            a_peers, b_peers = MemoryPeers(ALPHA), MemoryPeers(BETA)
            a = await _device(
                stack, tmp_path / "a.sqlite", ALPHA_KEY, "alpha", switch.net("alpha-pi"), a_peers
            )
            b = await _device(
                stack, tmp_path / "b.sqlite", BETA_KEY, "beta", switch.net("beta-pi"), b_peers
            )
            await a.friends.add_friend(friend_record(bytes(BETA_KEY.verify_key), "beta", b.device))
            await b.friends.add_friend(
                friend_record(bytes(ALPHA_KEY.verify_key), "alpha", a.device)
            )
            a_peers.add_friend(friend_record(bytes(BETA_KEY.verify_key), "beta", b.device))
            switch.link(a.device, b.device)
            await a_peers.ready(b.device)
            yield a, b, switch


async def test_push_to_a_friend_then_recover_from_it(tmp_path: Path) -> None:
    async with _alpha_and_beta(tmp_path) as (a, b, switch):
        doc = await a.docs.create(ALPHA, "Plans")
        await a.docs.append_changes(doc, values.set_path(await a.docs.load(doc), "k", "v"))
        status = await a.backup.backup_now()
        version = status["version"]
        assert status["friends"] == [
            {"household": BETA, "name": "beta", "version": version, "current": True}
        ]
        held = await b.backup.backups.held(ALPHA)
        assert held is not None and held.version == version

        # a new device of alpha with the household key and a recovery sheet naming beta
        path = tmp_path / "new.sqlite"
        conn = open_connection(path)
        set_recovery_peers(conn, {b.device: ["/memory/beta"]})
        conn.close()
        async with AsyncExitStack() as stack:
            peers = MemoryPeers(ALPHA)
            recovery = FakeRecovery(switch, DeviceId("alpha-new"), b.friends)
            new = await _device(
                stack, path, ALPHA_KEY, "alpha", switch.net("alpha-new"), peers, recovery
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(new.backup.run)
                assert recovery.recovery_peers == {b.device}
                with trio.fail_after(WAIT):
                    await peers.woken.wait()  # recovery wakes the friends service when done
                nursery.cancel_scope.cancel()
            assert recovery.dialed == [(b.device, ["/memory/beta"])]
            assert recovery.recovery_peers == set()
            status = await new.backup.status()
            assert status["recovered_version"] == version and status["recovering"] is False
            assert [f.name for f in await new.friends.list()] == ["beta"]
            [info] = await new.docs.list_docs()
            assert (info.doc_id, info.title) == (doc, "Plans")
            assert values.to_json(await new.docs.load(doc)) == {"k": "v"}
