"""Live doc replication with friends: one `/citizen/docs/1` stream per connected device.

The trio shell around `DocSyncSession`. For each friend device that completes
hello, the side with the smaller device ID opens the stream; both run the
same loop: read a frame, let the session decide, persist what it says
(acknowledging nothing before the commit), then send. A local commit is
pushed at once to every link whose peer holds a grant for that doc.

Each link contains its own failures: whatever goes wrong with one friend's
stream (the friend removed while it opens, a write to a dead connection, a
panic of the bindings) is logged at info with the friend's name and closes
that stream only; the other links and the daemon carry on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from citizen.docs import codec as docs_codec
from citizen.docs.codec import DocInfo, DocMessage, FrameReader, Granted, Sync
from citizen.docs.session import (
    DocAccess,
    DocSyncSession,
    Effects,
    PeerRole,
    sync_message_heads,
)
from citizen.docs.values import panics_contained
from citizen.errors import CitizenError, RemoteProtocolError
from citizen.identity.fingerprints import household_id
from citizen.ids import DeviceId, DocId, HouseholdId
from citizen.net.conns import remote_device, reset_quietly
from citizen.net.network import Net
from citizen.net.streams import Stream
from citizen.store.docs import DocCache

if TYPE_CHECKING:
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024


@dataclass(slots=True)
class Link:
    """One replication stream with one friend device."""

    device: DeviceId
    household: HouseholdId
    household_key: bytes
    stream: Stream
    session: DocSyncSession
    docs: dict[DocId, DocAccess] = field(default_factory=dict)
    their_heads: dict[DocId, frozenset[bytes]] = field(default_factory=dict)
    send_lock: trio.Lock = field(default_factory=trio.Lock)


AccessFor = Callable[[HouseholdId], Awaitable[dict[DocId, PeerRole]]]
HouseholdHooks = tuple[
    HouseholdId,
    Callable[[], Awaitable[list[DocMessage]]],
    Callable[[DocMessage], Awaitable[None]],
]
GrantsFor = Callable[[HouseholdId], Awaitable[list[bytes]]]
FriendHooks = tuple[
    Callable[[HouseholdId], Awaitable[list[DocMessage]]],
    Callable[[HouseholdId, DocInfo], Awaitable[None]],
]
OnEffects = Callable[[Link, Effects], Awaitable[None]]


class Replicator:
    """Owns the links; the docs service tells it what each household may sync.

    Serves `/citizen/docs/1` on `net` from construction on; links open once
    `run` has started.

    Args:
        cache: the live docs, shared with the local API.
        local_household_key: our household public key.
        net: streams to and from devices (offline: serves and reaches nobody).
        access_for: household -> {doc: the peer's role} it may sync now.
        grants_for: household -> signed grants we gave it (sent when a link opens).
        on_effects: called with each message's effects after they are persisted.
        household_key_of: household -> its public key (from the trust store).
        household_of: device -> its household (ours for own devices), None for a stranger.
        own: between our own devices: (our household, `intro()` sent when a link
            opens (doc infos, our grants), `on_intro(msg)` for such messages
            from the other device).
        friend_info: with friends: (`intro(household)` sent when a link opens (titles
            of the docs we share with it), `on_info(household, msg)` for a
            friend's `DocInfo`).
        name_of: household -> the friend's name, for the log.
    """

    def __init__(
        self,
        cache: DocCache,
        local_household_key: bytes,
        net: Net,
        *,
        access_for: AccessFor,
        grants_for: GrantsFor,
        on_effects: OnEffects,
        household_key_of: Callable[[HouseholdId], Awaitable[bytes]],
        household_of: Callable[[DeviceId], HouseholdId | None],
        own: HouseholdHooks,
        friend_info: FriendHooks,
        name_of: Callable[[HouseholdId], Awaitable[str]] | None = None,
    ) -> None:
        self.cache = cache
        self.local_household_key = local_household_key
        self.links: dict[DeviceId, Link] = {}
        #: doc sync messages sent to and received from peers (for /metrics)
        self.messages = {"sent": 0, "received": 0}
        self._net = net
        self._access_for = access_for
        self._grants_for = grants_for
        self._on_effects = on_effects
        self._household_key_of = household_key_of
        self._household_of = household_of
        self._own = own
        self._friend_info = friend_info
        self._name_of = name_of
        self._nursery: trio.Nursery | None = None
        self._opening: set[DeviceId] = set()  # devices with an `_outbound` loop running
        net.serve_friends(docs_codec.PROTOCOL_ID, self._inbound)

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- links ------------------------------------------------------------------------

    async def peer_ready(self, device: DeviceId, household: HouseholdId) -> None:
        """A friend device finished hello: open the stream if it is ours to open."""
        if self._nursery is None or device in self.links:
            return
        if self._net.device < device and device not in self._opening:
            self._nursery.start_soon(self._outbound, device, household)

    def peer_gone(self, device: DeviceId) -> None:
        self.links.pop(device, None)

    async def _outbound(self, device: DeviceId, household: HouseholdId) -> None:
        """Open (and, while the peer stays connected, re-open) the stream to `device`.

        The peer may refuse the first stream (for instance while it is still
        restoring its friend list), so a stream that ends while the device is
        still connected is opened again after a growing pause.
        """
        self._opening.add(device)
        try:
            await self._keep_open(device, household)
        except Exception as exc:  # one friend's trouble never reaches the root nursery
            log.info("docs sync with %s stopped: %s", await self._who(device, household), exc)
        finally:
            self._opening.discard(device)

    async def _who(self, device: DeviceId, household: HouseholdId | None) -> str:
        """The friend's name and device, for the log (the IDs if the friend is gone)."""
        name: str = household or "an unknown household"
        if household is not None and self._name_of is not None:
            try:
                name = await self._name_of(household)
            except Exception:
                pass  # removed meanwhile: the ID says enough
        return f"{name} ({device[:16]})"

    async def _keep_open(self, device: DeviceId, household: HouseholdId) -> None:
        pause = 1.0
        while self._net.connected(device) and self._household_of(device) is not None:
            if device not in self.links:
                try:
                    stream = await self._net.open_stream(device, docs_codec.PROTOCOL_ID)
                except Exception as exc:
                    log.info("could not open docs stream to %s: %s", device, exc)
                else:
                    await self._serve(stream, device, household)
            await trio.sleep(pause)
            pause = min(pause * 2, 30.0)

    async def _inbound(self, stream: Stream) -> None:
        device = remote_device(stream)
        try:
            # the gate already checked this device belongs to a friend household
            key = await self._friend_key_of_device(device)
            if key is None:
                await reset_quietly(stream)
                return
            await self._serve(stream, device, household_id(key))
        except Exception as exc:
            who = await self._who(device, self._household_of(device))
            log.info("docs stream from %s failed: %s", who, exc)
            await reset_quietly(stream)

    async def _friend_key_of_device(self, device: DeviceId) -> bytes | None:
        household = self._household_of(device)
        if household is None:
            return None
        try:
            return await self._household_key_of(household)
        except CitizenError:
            return None

    async def _serve(self, stream: Stream, device: DeviceId, household: HouseholdId) -> None:
        try:
            key = await self._household_key_of(household)
        except Exception as exc:  # the friend was removed since the device said hello
            log.info("not syncing docs with %s: %s", await self._who(device, household), exc)
            await reset_quietly(stream)
            return
        link = Link(device, household, key, stream, DocSyncSession(self.local_household_key, key))
        old = self.links.get(device)
        self.links[device] = link
        if old is not None:
            await reset_quietly(old.stream)
        try:
            own = household == self._own[0]
            if own:
                await self._send(link, await self._own[1]())
            await self.refresh_access(link)
            grants = [] if own else await self._grants_for(household)
            await self._send(link, link.session.start(link.docs, grants))
            if not own:
                await self._send(link, await self._friend_info[0](household))
            reader = FrameReader()
            while True:
                try:
                    data = await stream.read(READ_CHUNK)
                except Exception:
                    data = b""
                if not data:
                    break
                for msg in reader.feed(data):
                    await self._handle(link, msg)
        except RemoteProtocolError as exc:
            who = await self._who(device, household)
            log.warning("docs stream with %s closed: %s", who, exc.message)
            await reset_quietly(stream)
        except Exception as exc:
            log.info("docs stream with %s broke: %s", await self._who(device, household), exc)
            await reset_quietly(stream)
        finally:
            if self.links.get(device) is link:
                del self.links[device]

    async def refresh_access(self, link: Link) -> None:
        """Recompute which docs `link`'s peer may sync (after share/unshare/grant)."""
        roles = await self._access_for(link.household)
        docs: dict[DocId, DocAccess] = {}
        for doc_id, role in roles.items():
            try:
                with panics_contained(doc_id, "Loading"):
                    docs[doc_id] = DocAccess(await self.cache.get(doc_id), role)
            except CitizenError as exc:
                log.warning("doc %s cannot be loaded for sync: %s", doc_id, exc.message)
        for gone in set(link.docs) - set(docs):
            link.session.forget(gone)
        link.docs = docs

    async def _handle(self, link: Link, msg: DocMessage) -> None:
        self.messages["received"] += 1
        if link.household == self._own[0] and isinstance(msg, DocInfo | Granted):
            await self._own[2](msg)
            await self.refresh_access(link)
            return
        if isinstance(msg, DocInfo):
            await self._friend_info[1](link.household, msg)
            return
        try:
            fx = link.session.on_message(msg, link.docs)
        except RemoteProtocolError:
            if isinstance(msg, Sync):
                # a sync message that failed half-way may have left the live doc
                # unusable: reload it from disk next time
                self.cache.evict(msg.doc_id)
            raise
        for doc_id, changes in fx.persist.items():
            try:
                await self.cache.persist(doc_id, list(changes))
            except CitizenError:
                log.exception("could not persist changes of %s from %s", doc_id, link.device)
                raise
        await self._on_effects(link, fx)
        await self._send(link, list(fx.send))
        if isinstance(msg, Sync):
            heads = sync_message_heads(msg.data)
            if heads is not None:
                link.their_heads[msg.doc_id] = frozenset(heads)
        for doc_id in fx.persist:
            await self.changed(doc_id, exclude=link.device)

    async def changed(self, doc_id: DocId, exclude: DeviceId | None = None) -> None:
        """`doc_id` has new committed changes: push them to every other link that may sync it.

        Never raises for a link: a link that fails is closed (its peer catches up
        when it reconnects), so a local commit is acknowledged whatever a peer does.
        """
        for link in list(self.links.values()):
            if link.device == exclude or doc_id not in link.docs:
                continue
            try:
                await self._send(link, link.session.on_local_change(doc_id, link.docs))
            except Exception as exc:
                await self._drop(link, f"pushing doc {doc_id}", exc)

    async def send_to_household(self, household: HouseholdId, msgs: list[DocMessage]) -> None:
        """Send `msgs` on every link to `household`; a link that fails is closed."""
        for link in list(self.links.values()):
            if link.household == household:
                try:
                    await self._send(link, msgs)
                except Exception as exc:
                    await self._drop(link, "sending", exc)

    async def _drop(self, link: Link, doing: str, exc: Exception) -> None:
        """Close `link` after a failure while `doing` something with it; its loop ends."""
        who = await self._who(link.device, link.household)
        log.info("docs stream with %s closed while %s: %s", who, doing, exc)
        if self.links.get(link.device) is link:
            del self.links[link.device]
        await reset_quietly(link.stream)

    async def _send(self, link: Link, msgs: list[DocMessage]) -> None:
        if not msgs:
            return
        self.messages["sent"] += len(msgs)
        payload = b"".join(docs_codec.encode_frame(m) for m in msgs)
        async with link.send_lock:
            await link.stream.write(payload)
