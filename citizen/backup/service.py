"""Household backups on friends, and disaster recovery from them with only the key.

Owner side: shortly after the household's state changes (docs, friends,
grants), seal it under the household key, sign a pointer with a higher
version, and push both to every online friend. Friend side: keep the newest
valid backup per friend household, and hand it back to any device that
proves (by its certificate, in hello) that it belongs to that household.
Recovery: a fresh device asks the devices on its recovery sheet (or, without
a sheet, the friend whose fresh invite welcomed it back), takes the highest
valid version any of them holds, and restores it whole.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import trio
from nacl.signing import SigningKey

from citizen.backup import codec as bc
from citizen.docs.values import panics_contained
from citizen.errors import CitizenError, RemoteProtocolError
from citizen.identity.backup import (
    Pointer,
    check_blob,
    open_backup,
    seal_backup,
    sign_pointer,
    verify_pointer,
)
from citizen.ids import DeviceId, DocId, HouseholdId
from citizen.net.conns import remote_device, reset_quietly
from citizen.net.network import Net
from citizen.net.peers import Peers
from citizen.net.streams import Stream, read_frame, write_frame
from citizen.store.backup_state import (
    DocState,
    HouseholdState,
    decode_state,
    encode_state,
)
from citizen.store.backups import BackupStore, friend_states
from citizen.store.docs import DocCache, DocStore
from citizen.store.friend_records import Friend
from citizen.store.friends import FriendStore

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

DEBOUNCE = 2.0
RECHECK_EVERY = 30.0
TIMEOUT = 120.0


class RecoveryDialer(Protocol):
    """How recovery reaches the devices on the recovery sheet (the friends service does it)."""

    #: the devices on our recovery sheet, trusted for hello and backups until we recover
    recovery_peers: set[str]

    async def connect_recovery_peer(self, device: str, addrs: list[str]) -> None:
        """Dial `device` at `addrs` and present our certificate (raises UnreachableError)."""
        ...

    def on_welcomed_back(
        self, callback: Callable[[DeviceId, list[str], Friend], Awaitable[None]]
    ) -> None:
        """Call `callback(device, addrs, friend)` when a friend's invite welcomed us back."""
        ...


class BackupService:
    """The household's sealed backup: made and pushed here, kept for friends, recovered from.

    Serves the backup protocol on `net` and follows `peers` from construction on.

    Args:
        net: streams to and from devices (offline: serves and reaches nobody).
        peers: friends and our own devices, and who of them is online.
        recovery: reaches the recovery sheet's devices; None offline, where a
            pending recovery waits for a daemon with the network.
    """

    def __init__(
        self,
        backups: BackupStore,
        friend_store: FriendStore,
        doc_store: DocStore,
        doc_cache: DocCache,
        household_key: bytes,
        household_name: str,
        signer: Callable[[], SigningKey],
        has_household_key: bool,
        *,
        net: Net,
        peers: Peers,
        recovery: RecoveryDialer | None,
    ) -> None:
        self.backups = backup_store = backups
        self.friend_store = friend_store
        self.doc_store = doc_store
        self.doc_cache = doc_cache
        self.household_key = household_key
        self.household_name = household_name
        self._signer = signer
        self._enabled = has_household_key
        self._backups = backup_store
        self.current: tuple[Pointer, bytes] | None = None
        self._plain_hash = b""
        self._wake = trio.Event()
        self._net = net
        self._peers = peers
        self._recovery = recovery
        self.recovering: dict[str, list[str]] = {}
        self.recovered_version: int | None = None
        self.recovery_error: str = ""
        #: welcoming friends, stored as friends if they hold no backup of ours
        self._welcomed: dict[str, Friend] = {}
        if recovery is not None:
            recovery.on_welcomed_back(self.recover_from)
        net.serve_friends(bc.PROTOCOL, self._handle)
        peers.on_peer_ready(self._peer_ready)
        peers.on_friend_removed(self._friend_removed)

    def wake(self) -> None:
        self._wake.set()

    async def recover_from(self, device: DeviceId, addrs: list[str], friend: Friend) -> None:
        """A friend's fresh invite welcomed this device back: recover from its backup.

        Until the backup is restored we seal and push none (an empty one would
        replace the household's real backup at friends). If the friend holds no
        backup of ours, it becomes a friend as it is (`friend`, its one device).
        """
        await self._backups.add_recovery_peer(device, addrs)
        self.recovering[device] = addrs
        self._welcomed[device] = friend
        if self._recovery is not None:
            self._recovery.recovery_peers.add(device)
        self.wake()

    async def _peer_ready(self, _device: DeviceId, _household: HouseholdId) -> None:
        self.wake()

    async def _friend_removed(self, household: HouseholdId) -> None:
        await self._backups.drop_held(household)
        self.wake()

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.recovering = await self._backups.recovery_peers()
        if self.recovering and self._recovery is not None:
            self._recovery.recovery_peers = set(self.recovering)
        task_status.started()
        if self.recovering:
            if self._recovery is None:
                log.info("recovery from friends waits until the daemon runs with the network")
                return
            await self._recover(self._recovery)
        if not self._enabled:
            log.info("this device does not hold the household key: it makes no backups")
            return
        while True:
            with trio.move_on_after(RECHECK_EVERY):
                await self._wake.wait()
            self._wake = trio.Event()
            if self.recovering and self._recovery is not None:
                await self._recover(self._recovery)  # a friend welcomed us back
            await trio.sleep(DEBOUNCE)  # let a burst of changes settle into one backup
            try:
                await self.refresh()
                await self.push_all()
            except CitizenError as exc:
                log.warning("backup failed: %s", exc)
            except Exception as exc:  # a bug or the disk: the next round tries again
                log.warning("backup failed: %s", exc, exc_info=True)

    # -- owner side ------------------------------------------------------------------------

    async def snapshot_state(self) -> HouseholdState:
        friends = friend_states(await self.friend_store.list())
        docs = []
        for info in await self.doc_store.list_docs():
            with panics_contained(info.doc_id, "Saving"):
                doc = await self.doc_cache.get(info.doc_id)
                docs.append(DocState(info.doc_id, info.owner, info.title, doc.save()))
        grants = tuple(g.raw for g in await self.doc_store.list_grants(include_revoked=True))
        removed = tuple(await self.friend_store.removals())
        return HouseholdState(self.household_name, 0, friends, tuple(docs), grants, removed)

    async def refresh(self) -> Pointer | None:
        """Seal a new backup if the state changed since the last one; the current pointer."""
        state = await self.snapshot_state()
        plain = encode_state(state)
        digest = hashlib.blake2b(plain, digest_size=32).digest()
        if digest != self._plain_hash or self.current is None:
            key = self._signer()
            previous = self.current[0].version if self.current else 0
            version = max(int(time.time() * 1000), previous + 1)
            sealed_plain = encode_state(replace(state, created=int(time.time())))
            blob = await trio.to_thread.run_sync(seal_backup, key, sealed_plain)
            self.current = (sign_pointer(key, version, blob), blob)
            self._plain_hash = digest
            log.info("sealed backup version %d (%d bytes)", version, len(blob))
        return self.current[0]

    async def push_all(self) -> None:
        if self.current is None or self.recovering:
            return  # never replace the household's real backup while recovering it
        pointer, blob = self.current
        pushed = await self._backups.pushes()
        done: set[HouseholdId] = set()
        for device, household in list(self._peers.online.items()):
            if household in done or pushed.get(household, -1) >= pointer.version:
                continue
            try:
                reply = await self._request(device, bc.PutBackup(pointer.raw, blob))
            except CitizenError as exc:
                log.info("could not push the backup to %s: %s", household, exc)
                continue
            match reply:
                case bc.Stored(version=version):
                    await self._backups.record_push(household, version)
                    done.add(household)
                case bc.Refused(message=message):
                    log.warning("friend %s refused our backup: %s", household, message)
                case _:
                    log.warning("friend %s answered our backup oddly", household)

    async def status(self) -> dict[str, object]:
        pushed = await self._backups.pushes()
        version = self.current[0].version if self.current else None
        names = {f.household: f.name for f in await self.friend_store.list()}
        return {
            "enabled": self._enabled,
            "version": version,
            "size": self.current[0].size if self.current else None,
            "friends": [
                {"household": h, "name": names.get(h, h), "version": v, "current": v == version}
                for h, v in sorted(pushed.items())
            ],
            "recovering": bool(self.recovering),
            "recovered_version": self.recovered_version,
            "recovery_error": self.recovery_error,
        }

    async def last_push(self) -> int | None:
        """Unix time a backup last reached a friend (None: never), for `citizen doctor`."""
        return await self._backups.last_push()

    async def backup_now(self) -> dict[str, object]:
        if not self._enabled:
            from citizen.errors import HouseholdKeyMissingError

            raise HouseholdKeyMissingError(
                "Only a device holding the household key makes backups.",
                "Run this on that device (see `citizen device list`).",
            )
        await self.refresh()
        await self.push_all()
        return await self.status()

    # -- friend side -----------------------------------------------------------------------

    async def _handle(self, stream: Stream) -> None:
        peer = remote_device(stream)
        household = self.friend_store.household_of(peer)
        try:
            with trio.fail_after(TIMEOUT):
                msg = bc.decode(await read_frame(stream, bc.MAX_FRAME))
                if household is None:
                    raise RemoteProtocolError("not a friend")
                reply = await self._answer(household, msg)
                await write_frame(stream, bc.encode(reply))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            log.info("backup request from %s refused: %s", peer, exc)
            await reset_quietly(stream)
        except Exception as exc:
            log.debug("backup stream from %s broke: %s", peer, exc)

    async def _answer(self, household: HouseholdId, msg: bc.Message) -> bc.Message:
        match msg:
            case bc.PutBackup(pointer=raw, blob=blob):
                friend = await self.friend_store.get(household)
                try:
                    pointer = verify_pointer(raw, friend.household_key)
                    check_blob(pointer, blob)
                except RemoteProtocolError as exc:
                    return bc.Refused(exc.message)
                if not await self._backups.keep(household, pointer.version, raw, blob):
                    held = await self._backups.held(household)
                    return bc.Stored(held.version if held else pointer.version)
                log.info("keeping backup version %d for %s", pointer.version, household)
                return bc.Stored(pointer.version)
            case bc.GetPointer():
                held = await self._backups.held(household)
                return bc.PointerReply(held.pointer if held else None)
            case bc.GetBackup():
                held = await self._backups.held(household)
                return bc.BackupReply(held.pointer if held else None, held.blob if held else None)
            case _:
                raise RemoteProtocolError("unexpected backup message")

    async def _request(self, device: str, msg: bc.Message) -> bc.Message:
        try:
            with trio.fail_after(TIMEOUT):
                stream = await self._net.open_stream(device, bc.PROTOCOL)
                await write_frame(stream, bc.encode(msg))
                reply = bc.decode(await read_frame(stream, bc.MAX_FRAME))
                await stream.close()
                return reply
        except CitizenError:
            raise
        except Exception as exc:
            from citizen.errors import UnreachableError

            raise UnreachableError(f"Backup exchange with {device} failed: {exc}") from exc

    # -- recovery --------------------------------------------------------------------------

    async def _recover(self, recovery: RecoveryDialer) -> None:
        """Fetch the newest valid backup from the recovery peers and restore it whole."""
        key = self._signer()
        while self.recovering:
            best: tuple[Pointer, bytes] | None = None
            holds_none: set[str] = set()
            for device, addrs in list(self.recovering.items()):
                try:
                    await recovery.connect_recovery_peer(device, addrs)
                    reply = await self._request(device, bc.GetBackup())
                except CitizenError as exc:
                    log.info("recovery peer %s: %s", device, exc)
                    continue
                if not isinstance(reply, bc.BackupReply) or reply.pointer is None:
                    holds_none.add(device)
                    continue
                try:
                    pointer = verify_pointer(reply.pointer, self.household_key)
                    check_blob(pointer, reply.blob or b"")
                except RemoteProtocolError as exc:
                    log.warning("recovery peer %s offered a bad backup: %s", device, exc)
                    continue
                if best is None or pointer.version > best[0].version:
                    best = (pointer, reply.blob or b"")
            if best is None and self._welcomed and holds_none >= set(self._welcomed):
                await self._keep_welcoming_friends(recovery)
                return
            if best is None:
                self.recovery_error = "no recovery peer had a valid backup yet"
                await trio.sleep(5)
                continue
            try:
                state = decode_state(await trio.to_thread.run_sync(open_backup, key, best[1]))
            except CitizenError as exc:
                self.recovery_error = exc.message
                log.warning("backup version %d cannot be restored: %s", best[0].version, exc)
                await trio.sleep(5)
                continue
            await self._backups.restore(state)
            for doc in state.docs:
                self.doc_cache.evict(DocId(doc.doc_id))  # reload the restored snapshot
            await self.friend_store.load()
            for device, welcomed in self._welcomed.items():
                # the device that invited us may be newer than the backup
                if self.friend_store.household_of(device) is None:
                    known = {f.household for f in await self.friend_store.list()}
                    if welcomed.household in known:
                        await self.friend_store.add_device(welcomed.devices[0])
            self.recovered_version = best[0].version
            self.recovering = {}
            self._welcomed = {}
            recovery.recovery_peers = set()
            self.recovery_error = ""
            log.info(
                "recovered backup version %d: %d friends, %d docs",
                best[0].version,
                len(state.friends),
                len(state.docs),
            )
            self._peers.wake()

    async def _keep_welcoming_friends(self, recovery: RecoveryDialer) -> None:
        """The friends that welcomed us back hold no backup of ours: keep them as friends."""
        for friend in self._welcomed.values():
            if self.friend_store.household_of(friend.devices[0].device) is None:
                await self.friend_store.add_friend(friend)
        await self._backups.restore(HouseholdState(self.household_name, 0, (), (), (), ()))
        log.warning(
            "the friends that welcomed us back hold no backup of this household:"
            " they are friends again, but docs and other friends are not recovered"
        )
        self.recovering = {}
        self._welcomed = {}
        recovery.recovery_peers = set()
        self.recovery_error = ""
        self._peers.wake()
