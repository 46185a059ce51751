"""The daemon: the composition root whose one trio nursery owns every service.

`Node.run()` takes the data-dir lock, opens the keystore and the database,
starts the libp2p host behind the friend gate, the network services and the
local API, then waits for SIGINT/SIGTERM (or `stop()`) and shuts everything
down within a few seconds. Services never import each other; they are wired
here.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from nacl.signing import SigningKey

from citizen.api.app import build_app
from citizen.api.context import ApiContext
from citizen.api.routes import api_routes
from citizen.api.serve import load_or_create_token, serve_api
from citizen.config import DB_NAME, LOCK_NAME, SOCKET_NAME, TOKEN_NAME, Config, load_config
from citizen.errors import CitizenError
from citizen.identity.certs import DeviceCertificate
from citizen.identity.keystore import Keystore
from citizen.lockfile import DaemonLock
from citizen.store.db import Database
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdStore

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeOptions:
    data_dir: Path
    listen: tuple[str, ...] | None = None  # overrides config
    offline: bool = False  # no network at all: local API only
    passphrase: str | None = None
    handle_signals: bool = True  # False when embedded in an app (`Node.open_embedded`)


class Node:
    """One household device's daemon."""

    def __init__(self, options: NodeOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.config: Config = load_config(self.data_dir)
        self.keystore = Keystore(self.data_dir)
        self.cert: DeviceCertificate = self.keystore.certificate()
        self.device_key = self.keystore.device_key()
        self.started = time.monotonic()
        self.ready = trio.Event()
        self._stop = trio.Event()
        self.db: Database | None = None
        self.host: object | None = None
        self.listen_addrs: list[str] = []
        self.api = ApiContext(status=self.status)
        self.friend_store: FriendStore | None = None
        self._household_key: SigningKey | None = None

    def household_key(self) -> SigningKey:
        """The household signing key (unsealed once with the daemon's passphrase).

        Raises:
            HouseholdKeyMissingError: this device does not hold it.
            PassphraseError: it is sealed and the daemon got no or a wrong passphrase.
        """
        if self._household_key is None:
            self._household_key = self.keystore.household_key(self.options.passphrase)
        return self._household_key

    # -- status ------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "household": self.cert.household,
            "household_name": self.config.household_name,
            "device": self.cert.device,
            "device_name": self.config.device_name,
            "listen": list(self.listen_addrs),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "friends": self.friend_store.count() if self.friend_store is not None else 0,
            "offline": self.options.offline,
            "recovering": bool(getattr(self, "backup", None) and self.backup.recovering),
            "pid": os.getpid(),
            "keepalive": getattr(self, "liveness", None) and self.liveness.statistics(),
            **self._reachability(),
            **self._port_mapping(),
        }

    def _reachability(self) -> dict[str, object]:
        reach = getattr(self, "reach", None)
        return reach.status_json() if reach is not None else {"reachability": "offline"}

    def _port_mapping(self) -> dict[str, object]:
        mapper = getattr(self, "portmap", None)
        if mapper is not None:
            status: dict[str, object] = mapper.status_json()
            return status
        off: dict[str, object] = {
            "enabled": False,
            "method": None,
            "external_addrs": [],
            "error": None,
        }
        return {"port_mapping": off}

    def stop(self) -> None:
        self._stop.set()

    # -- run -----------------------------------------------------------------------------

    async def run(self) -> None:
        lock = DaemonLock(self.data_dir / LOCK_NAME)
        lock.acquire()
        os.umask(0o077)
        try:
            self.db = await Database.open(self.data_dir / DB_NAME)
            self.friend_store = FriendStore(self.db)
            await self.friend_store.load()
            self.household_store = HouseholdStore(self.db)
            await self.household_store.load()
            self._make_local_services(self.db)
            try:
                async with trio.open_nursery() as nursery:
                    if self.options.handle_signals:
                        nursery.start_soon(self._watch_signals, nursery.cancel_scope)
                    if not self.options.offline:
                        await nursery.start(self._run_network)
                    token = load_or_create_token(self.data_dir / TOKEN_NAME)
                    app = build_app(self.api, token, api_routes(self.api))
                    await nursery.start(
                        serve_api, app, self.data_dir / SOCKET_NAME, self.config.api_tcp_port
                    )
                    log.info(
                        "daemon ready household=%s device=%s listen=%s",
                        self.cert.household,
                        self.cert.device,
                        ",".join(self.listen_addrs) or "offline",
                    )
                    self.ready.set()
                    await self._stop.wait()
                    nursery.cancel_scope.cancel()
            finally:
                self.db.close()
        finally:
            lock.release()
            log.info("daemon stopped")

    # -- embedded in an app (citizen_sdk.open_embedded_node) --------------------------

    @classmethod
    @asynccontextmanager
    async def open_embedded(cls, options: NodeOptions) -> AsyncIterator[Node]:
        """Run a node in the current trio loop, without signal handling; yield it once ready.

        Ready means what it means for `run()`: the network (unless offline) and
        the local API socket are up. Leaving the block stops the node.

        Raises:
            CitizenError: the node could not start (as `run()`; trio may wrap it
                in an ExceptionGroup).
        """
        node = cls(replace(options, handle_signals=False))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node.run)
            await node.ready.wait()
            try:
                yield node
            finally:
                node.stop()

    def _make_local_services(self, db: Database) -> None:
        """Services that work without the network (the local API uses them offline too)."""
        from citizen.docs.service import DocsService
        from citizen.store.docs import DocCache, DocStore

        doc_store = DocStore(db)
        self.docs = DocsService(
            doc_store, DocCache(doc_store), self.cert.household_key, self.household_key
        )
        self.api.services["docs"] = self.docs
        from citizen.backup.service import BackupService
        from citizen.store.backups import BackupStore

        self.backup = BackupService(
            BackupStore(db),
            self.friend_store_or_fail(),
            doc_store,
            self.docs.cache,
            self.cert.household_key,
            self.config.household_name,
            self.household_key,
            has_household_key=self.keystore.has_household_key(),
        )
        self.api.services["backup"] = self.backup
        from citizen.household.service import HouseholdService

        self.household = HouseholdService(
            self.household_store,
            self.friend_store_or_fail(),
            self.cert,
            self.config.household_name,
            self.household_key,
            holds_key=self.keystore.has_household_key(),
        )
        self.api.services["household"] = self.household
        # --- objects wiring (local part) ---
        from citizen.objects.service import ObjectsService, ObjectsSettings

        self.objects = ObjectsService(
            db,
            self.data_dir,
            ObjectsSettings(
                k=self.config.k,
                n=self.config.n,
                happiness=self.config.effective_happiness,
                segment_size=self.config.segment_size,
                offer_bytes=self.config.offer_mib * 1024 * 1024,
            ),
            self.cert.household,
            self.household_key,
            doc_store,
            self.docs.cache,
        )
        self.api.services["objects"] = self.objects
        # --- end objects wiring (local part) ---

    async def _backup_after_doc_changes(self) -> None:
        while True:
            await self.docs.wait_changed()
            self.backup.wake()

    def friend_store_or_fail(self) -> FriendStore:
        assert self.friend_store is not None, "the database is opened first"
        return self.friend_store

    async def _watch_signals(self, scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                self._stop.set()
                # A second signal, or a shutdown stuck for 4 s, cancels everything at once.
                scope.deadline = min(scope.deadline, trio.current_time() + 4)

    async def _run_network(self, *, task_status: TaskStatus[None]) -> None:
        from multiaddr import Multiaddr

        from citizen.friends.pairing import Me
        from citizen.friends.service import FriendsService
        from citizen.net.host import FriendGate, advertised_addrs, new_host

        assert self.friend_store is not None
        listen = self.options.listen or self.config.listen
        host = new_host(bytes(self.device_key), listen, mdns=self.config.mdns)
        self.host = host
        store = self.friend_store
        # late-bound: the gate asks the friends service, which is built next
        gate = FriendGate(host, is_trusted=lambda peer: friends.is_trusted(peer))
        me = Me(
            household_key=self.cert.household_key,
            household_name=self.config.household_name,
            cert=self.cert.raw,
            device=self.cert.device,
        )
        friends = FriendsService(
            host,
            gate,
            store,
            me,
            serve_rendezvous=self.config.serve_rendezvous,
            rendezvous_points=self.config.rendezvous_points,
            household=self.household_store,
        )
        self.api.services["friends"] = friends
        self.household.attach_network(host, gate, friends)
        from citizen.household.friend_list import HouseholdFriendsService
        from citizen.store.friend_sync import FriendSync

        assert self.db is not None
        household_friends = HouseholdFriendsService(host, gate, friends, FriendSync(self.db))
        from citizen.net.nat.reachability import ReachabilityService, RelayOptions

        c = self.config
        relay = RelayOptions(
            serve=c.relay_serve,
            reserve=c.relay_reserve,
            max_reservations=c.relay_max_reservations,
            max_circuits=c.relay_max_circuits,
            circuit_duration=c.relay_circuit_minutes * 60,
            circuit_bytes=c.relay_circuit_mib * 1024 * 1024,
            reservation_ttl=c.relay_reservation_minutes * 60,
        )
        from citizen.net.nat.portmap import PortMapper

        mapper = None
        if self.config.port_mapping:
            # the libp2p host's own listen ports only: never the local API, never mDNS
            mapper = PortMapper(lambda: [str(a) for a in host.get_transport_addrs()])
        self.portmap = mapper

        def direct_addrs() -> list[str]:
            # mapped (public) addresses first: friends dial them first (a friend
            # elsewhere cannot reach our LAN ones)
            mapped = mapper.addrs() if mapper is not None else []
            return mapped + advertised_addrs(host)

        reach = ReachabilityService(host, gate, direct_addrs, options=relay)
        friends.use_reachability(reach.addrs, reach.connect, reach.connection_kind)
        friends.on_peer_ready(reach.peer_ready)
        friends.on_peer_gone(reach.peer_gone)
        self.reach = reach
        from citizen.net.liveness import LivenessService

        liveness = LivenessService(host, gate, friends.is_trusted, self.config.keepalive_s)
        self.liveness = liveness
        self.docs.attach_network(host, gate, friends)
        self.backup.attach_network(host, gate, friends)
        # --- objects wiring (network part) ---
        self.objects.attach_network(host, gate, friends)
        # --- end objects wiring (network part) ---
        try:
            async with host.run([Multiaddr(a) for a in listen]), trio.open_nursery() as nursery:
                self.listen_addrs = advertised_addrs(host)
                await nursery.start(friends.run)
                await nursery.start(household_friends.run)
                await nursery.start(reach.run)
                if mapper is not None:
                    nursery.start_soon(mapper.run)
                await nursery.start(liveness.run)
                await nursery.start(self.docs.run)
                await nursery.start(self.backup.run)
                nursery.start_soon(self._backup_after_doc_changes)
                # --- objects wiring (start) ---
                await nursery.start(self.objects.run)
                # --- end objects wiring (start) ---
                task_status.started()
        except OSError as exc:
            raise CitizenError(
                f"Cannot listen on {', '.join(listen)}: {exc.strerror}.",
                "Another program uses the port; pass --listen /ip4/0.0.0.0/tcp/PORT "
                "or change network.listen in config.toml.",
            ) from exc


async def run_node(options: NodeOptions) -> None:
    await Node(options).run()
