"""The daemon: the composition root whose one trio nursery owns every service.

`Node.run()` takes the data-dir lock, opens the keystore and the database,
builds every service once with what it needs (`_build`: the network adapter
or, offline, its stand-in; the friends service as everyone's `Peers`), starts
the host, the services and the local API in its one nursery, then waits for
SIGINT/SIGTERM (or `stop()`) and shuts everything down within a few seconds.
Services never import each other; they are wired here.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from nacl.signing import SigningKey

from citizen.api.app import build_app
from citizen.api.context import ApiContext
from citizen.api.metrics import serve_metrics
from citizen.api.models.objects import ProtectionCounts
from citizen.api.models.status import HolePunch, KeepAlive, PortMapping, Status
from citizen.api.routes import api_routes
from citizen.api.serve import load_or_create_token, serve_api
from citizen.backup.service import BackupService
from citizen.config import DB_NAME, LOCK_NAME, SOCKET_NAME, TOKEN_NAME, Config, load_config
from citizen.docs.service import DocsService
from citizen.errors import CitizenError
from citizen.folders.index import DocFolderIndex, folders_doc_id
from citizen.folders.service import FolderService
from citizen.friends.pairing import Me
from citizen.friends.service import FriendsService
from citizen.health.system import DaemonInfo
from citizen.household.friend_list import HouseholdFriendsService
from citizen.household.service import HouseholdService
from citizen.identity.certs import DeviceCertificate
from citizen.identity.keystore import Keystore
from citizen.lockfile import DaemonLock
from citizen.net.host import FriendGate, advertised_addrs, new_host
from citizen.net.liveness import LivenessService
from citizen.net.nat.portmap import PortMapper
from citizen.net.nat.reachability import ReachabilityService, ReachStatus, RelayOptions
from citizen.net.network import Net, Network, OfflineNetwork
from citizen.net.peers import Peers, StoredPeers
from citizen.objects.encoding import EncodingRule
from citizen.objects.index import index_doc_id
from citizen.objects.service import ObjectsService, ObjectsSettings
from citizen.store.backups import BackupStore
from citizen.store.db import Database
from citizen.store.docs import DocCache, DocStore
from citizen.store.folders import FolderStore
from citizen.store.friend_sync import FriendSync
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdStore
from citizen.web.serve import serve_web

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
        self.listen_addrs: list[str] = []
        self.metrics_urls: list[str] = []  # where /metrics is scraped ([metrics] listen)
        self.api = ApiContext(status=self.status)
        self.friend_store: FriendStore | None = None
        self._household_key: SigningKey | None = None
        # built by _build() once the database is open; the network ones stay None offline
        self.net: Net | None = None
        self.friends: FriendsService | None = None
        self.reach: ReachabilityService | None = None
        self.portmap: PortMapper | None = None
        self.liveness: LivenessService | None = None
        self.household_friends: HouseholdFriendsService | None = None
        self.docs: DocsService
        self.backup: BackupService
        self.household: HouseholdService
        self.objects: ObjectsService
        self.folders: FolderService

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

    def status(self) -> Status:
        """This device, its daemon, and how friends reach it, from each service's statistics."""
        live = self.liveness.statistics() if self.liveness is not None else None
        mapped = self.portmap.statistics() if self.portmap is not None else None
        reach = self.reach.statistics() if self.reach is not None else None
        return Status(
            household=self.cert.household,
            household_name=self.config.household_name,
            device=self.cert.device,
            device_name=self.config.device_name,
            listen=tuple(self.listen_addrs),
            uptime_s=round(time.monotonic() - self.started, 3),
            friends=self.friend_store.count() if self.friend_store is not None else 0,
            friends_online=len(set(self.friends.online.values())) if self.friends else 0,
            offline=self.options.offline,
            recovering=self.db is not None and bool(self.backup.recovering),
            pid=os.getpid(),
            keepalive=KeepAlive(
                watched=live.watched, answered=live.answered, closed_dead=live.closed_dead
            )
            if live is not None
            else None,
            port_mapping=PortMapping(
                enabled=mapped.enabled,
                method=mapped.method,
                external_addrs=mapped.external_addrs,
                error=mapped.error,
            )
            if mapped is not None
            else PortMapping(enabled=False, method=None, external_addrs=(), error=None),
            **(_reach_fields(reach) if reach is not None else {"reachability": "offline"}),
            objects=_protection_counts(self.objects.statistics()) if self.db is not None else None,
        )

    def stop(self) -> None:
        self._stop.set()

    # -- run -----------------------------------------------------------------------------

    async def run(self) -> None:
        lock = DaemonLock(self.data_dir / LOCK_NAME)
        lock.acquire()
        os.umask(0o077)
        try:
            self.db = await Database.open(self.data_dir / DB_NAME)
            try:
                self.friend_store = FriendStore(self.db)
                await self.friend_store.load()
                self.household_store = HouseholdStore(self.db)
                await self.household_store.load()
                self._build(self.db, self.friend_store, self.household_store)
                async with trio.open_nursery() as nursery:
                    if self.options.handle_signals:
                        nursery.start_soon(self._watch_signals, nursery.cancel_scope)
                    if self.friends is not None:
                        await nursery.start(self._run_network)
                    await nursery.start(self.folders.run)  # offline too: puts are local first
                    token = load_or_create_token(self.data_dir / TOKEN_NAME)
                    app = build_app(self.api, token, api_routes(self.api))
                    await nursery.start(
                        serve_api, app, self.data_dir / SOCKET_NAME, self.config.api_tcp_port
                    )
                    if self.config.web_enabled:
                        await nursery.start(serve_web, self.api, self.data_dir, self.config)
                    if self.config.metrics_listen:
                        self.metrics_urls = await nursery.start(
                            serve_metrics,
                            self.api,
                            self.data_dir,
                            self.config.metrics_listen,
                            token,
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

    # -- wiring ------------------------------------------------------------------------

    def _build(self, db: Database, friend_store: FriendStore, own: HouseholdStore) -> None:
        """Build every service once, each with what it needs; nothing is attached later."""
        c = self.config
        household = self.cert.household
        net: Net
        peers: Peers
        friends: FriendsService | None = None
        if self.options.offline:
            net = OfflineNetwork(self.cert.device)
            peers = StoredPeers(household, friend_store, own)
        else:
            friends = self._build_network(friend_store, own)
            net, peers = friends.net, friends
        self.net = net
        doc_store = DocStore(db)
        self.docs = DocsService(
            doc_store,
            DocCache(doc_store),
            self.cert.household_key,
            self.household_key,
            net=net,
            peers=peers,
            internal=(index_doc_id(household), folders_doc_id(household)),
        )
        self.backup = BackupService(
            BackupStore(db),
            friend_store,
            doc_store,
            self.docs.cache,
            self.cert.household_key,
            c.household_name,
            self.household_key,
            has_household_key=self.keystore.has_household_key(),
            net=net,
            peers=peers,
            recovery=friends,
        )
        self.household = HouseholdService(
            own,
            friend_store,
            self.cert,
            c.household_name,
            self.household_key,
            holds_key=self.keystore.has_household_key(),
            net=net,
            peers=peers,
            hellos=friends,
        )
        self.objects = ObjectsService(
            db,
            self.data_dir,
            ObjectsSettings(
                rule=EncodingRule.from_config(c.k, c.n, c.survive_friends),
                segment_size=c.segment_size,
                offer_bytes=c.offer_mib * 1024 * 1024,
                grace=c.holder_grace_hours * 3600.0,
            ),
            household,
            self.household_key,
            doc_store,
            self.docs.cache,
            net=net,
            peers=peers,
        )
        if friends is not None:
            self.household_friends = HouseholdFriendsService(
                net,
                peers,
                friends,
                FriendSync(db),
                store=friend_store,
                own=own,
                household_key=self.cert.household_key,
            )
            self.api.services["friends"] = friends
        self.api.services["docs"] = self.docs
        self.api.services["backup"] = self.backup
        self.api.services["household"] = self.household
        self.api.services["objects"] = self.objects
        # folders store file contents as objects, through the objects service's public calls
        self.folders = FolderService(
            FolderStore(db),
            DocFolderIndex(doc_store, self.docs.cache, household),
            self.objects,
            str(self.cert.device),
            data_dir=os.fsencode(self.data_dir),
        )
        self.api.services["folders"] = self.folders
        self.api.services["daemon"] = DaemonInfo(self.data_dir, self.config)

    def _build_network(self, friend_store: FriendStore, own: HouseholdStore) -> FriendsService:
        """The host behind the friend gate, NAT traversal, and the friends service over them."""
        c = self.config
        listen = self.options.listen or c.listen
        host = new_host(bytes(self.device_key), listen, mdns=c.mdns)
        # late-bound: the gate asks the friends service, which is built below
        gate = FriendGate(host, is_trusted=lambda peer: friends.is_trusted(str(peer)))
        relay = RelayOptions(
            serve=c.relay_serve,
            reserve=c.relay_reserve,
            max_reservations=c.relay_max_reservations,
            max_circuits=c.relay_max_circuits,
            circuit_duration=c.relay_circuit_minutes * 60,
            circuit_bytes=c.relay_circuit_mib * 1024 * 1024,
            reservation_ttl=c.relay_reservation_minutes * 60,
        )
        # the libp2p host's own listen ports only: never the local API, never mDNS
        mapper = PortMapper(lambda: [str(a) for a in host.get_transport_addrs()])
        self.portmap = mapper if c.port_mapping else None

        def direct_addrs() -> list[str]:
            # mapped (public) addresses first: friends dial them first (a friend
            # elsewhere cannot reach our LAN ones)
            mapped = self.portmap.addrs() if self.portmap is not None else []
            return mapped + advertised_addrs(host)

        reach = ReachabilityService(host, gate, direct_addrs, options=relay)
        self.reach = reach
        net = Network(host, gate, dialer=reach, addrs=reach.addrs)
        me = Me(
            household_key=self.cert.household_key,
            household_name=c.household_name,
            cert=self.cert.raw,
            device=self.cert.device,
        )
        friends = FriendsService(
            net,
            friend_store,
            me,
            serve_rendezvous=c.serve_rendezvous,
            rendezvous_points=c.rendezvous_points,
            household=own,
        )
        self.friends = friends
        friends.on_peer_ready(reach.peer_ready)
        friends.on_peer_gone(reach.peer_gone)
        self.liveness = LivenessService(
            host, gate, lambda peer: friends.is_trusted(str(peer)), c.keepalive_s
        )
        self._listen = listen
        self._network = net
        return friends

    async def _run_network(self, *, task_status: TaskStatus[None]) -> None:
        """Listen, then run every network service's loop until cancelled.

        The services run inside the host's `listening` block, so on shutdown they
        all stop before the host closes its listeners and connections under them.
        """
        assert self.friends is not None and self.reach is not None
        assert self.liveness is not None and self.household_friends is not None
        try:
            async with self._network.listening(self._listen) as addrs:
                self.listen_addrs = addrs
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.friends.run)
                    await nursery.start(self.household_friends.run)
                    await nursery.start(self.reach.run)
                    if self.portmap is not None:
                        nursery.start_soon(self.portmap.run)
                    await nursery.start(self.liveness.run)
                    await nursery.start(self.docs.run)
                    await nursery.start(self.backup.run)
                    nursery.start_soon(self._backup_after_doc_changes)
                    await nursery.start(self.objects.run)
                    task_status.started()
        except OSError as exc:
            raise CitizenError(
                f"Cannot listen on {', '.join(self._listen)}: {exc.strerror}.",
                "Another program uses the port; pass --listen /ip4/0.0.0.0/tcp/PORT "
                "or change network.listen in config.toml.",
            ) from exc

    async def _backup_after_doc_changes(self) -> None:
        while True:
            await self.docs.wait_changed()
            self.backup.wake()

    async def _watch_signals(self, scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                self._stop.set()
                # A second signal, or a shutdown stuck for 4 s, cancels everything at once.
                scope.deadline = min(scope.deadline, trio.current_time() + 4)


def _protection_counts(counts: Mapping[str, int]) -> ProtectionCounts:
    return ProtectionCounts(
        local_only=counts.get("local only", 0),
        spreading=counts.get("spreading", 0),
        protected=counts.get("protected", 0),
    )


def _reach_fields(reach: ReachStatus) -> dict[str, Any]:
    r = reach.reachability
    return {
        "reachability": r.state,
        "observed_addrs": r.observed,
        "reached_addrs": r.reached,
        "checked_by": r.checked_by,
        "relay_addrs": reach.relay_addrs,
        "relaying_for": reach.relaying_for,
        "relay_circuits": reach.relay_circuits,
        "hole_punch": HolePunch(upgraded=reach.hole_punch.upgraded, failed=reach.hole_punch.failed),
    }


async def run_node(options: NodeOptions) -> None:
    await Node(options).run()
