"""Keeping friends connected: pairing, hello, dialing with backoff, rendezvous, removal.

The trio shell around `pairing` (pure decisions) and `FriendStore` (the
trust store). It serves `/citizen/pair/1` and `/citizen/hello/1` to anyone
(both authenticate the peer themselves), closes any other stranger's
connection after a short grace, keeps dialing friends' devices at their last
known addresses with backoff, and registers and looks up friends under
friendship-secret namespaces at every friend that serves rendezvous.
Services that talk to friends (docs, objects) subscribe to `PeerListener`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from citizen.errors import (
    CertificateError,
    CitizenError,
    InviteError,
    NotAuthorizedError,
    RemoteProtocolError,
    UnreachableError,
)
from citizen.friends import pair_codec
from citizen.friends.finder import FriendFinder
from citizen.friends.pairing import Me, check_accept, check_request, make_request
from citizen.friends.rows import friend_json, friend_row
from citizen.identity.certs import DeviceCertificate, verify_certificate_for
from citizen.identity.fingerprints import household_id
from citizen.identity.invites import Invite, decode_invite, encode_invite, new_secret
from citizen.identity.revocation import verify_revocation
from citizen.ids import DeviceId, HouseholdId
from citizen.net.host import FriendGate, advertised_addrs, watch_connections
from citizen.net.rendezvous import service as rendezvous
from citizen.net.streams import read_frame, write_frame
from citizen.store.friend_records import Friend, FriendDevice
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdDevice, HouseholdStore

log = logging.getLogger(__name__)

STRANGER_GRACE = 10.0  # seconds a stranger may take to pair or present a certificate
DIAL_TIMEOUT = 10.0
HELLO_TIMEOUT = 15.0
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0

PeerCallback = Callable[[DeviceId, HouseholdId], Awaitable[None]]


@dataclass(slots=True)
class _Backoff:
    delay: float = BACKOFF_MIN
    next_try: float = 0.0


class FriendsService:
    def __init__(
        self,
        host: IHost,
        gate: FriendGate,
        store: FriendStore,
        me: Me,
        *,
        serve_rendezvous: bool = True,
        rendezvous_points: tuple[str, ...] = (),
        household: HouseholdStore | None = None,
    ) -> None:
        self.host = host
        self.gate = gate
        self.store = store
        self.me = me
        self.household = household_id(me.household_key)
        self.own = household
        #: connected friend devices (not our own household's)
        self.online: dict[DeviceId, HouseholdId] = {}
        #: connected devices of our own household
        self.own_online: set[DeviceId] = set()
        self._ready_callbacks: list[PeerCallback] = []
        self._gone_callbacks: list[Callable[[DeviceId], None]] = []
        self._removed_callbacks: list[Callable[[HouseholdId], Awaitable[None]]] = []
        self._backoff: dict[DeviceId, _Backoff] = {}
        self._nursery: trio.Nursery | None = None
        self._wake = trio.Event()
        self.finder = FriendFinder(host, lambda: self._addrs(), rendezvous_points)
        self._addrs: Callable[[], list[str]] = lambda: advertised_addrs(host)
        self._connect: Callable[[ID, list[str]], Awaitable[object]] | None = None
        self._kind: Callable[[ID], str | None] = lambda _peer: None
        #: devices on our recovery sheet: trusted for hello and backups until we recover
        self.recovery_peers: set[str] = set()
        gate.serve_anyone(pair_codec.PAIR_PROTOCOL, self._handle_pair)
        gate.serve_anyone(pair_codec.HELLO_PROTOCOL, self._handle_hello)
        if serve_rendezvous:
            self.rendezvous_server = rendezvous.RendezvousServer()
            gate.serve_friends(rendezvous.PROTOCOL_ID, self.rendezvous_server.handle_stream)
        watch_connections(host, self._on_connected, self._on_disconnected)

    # -- wiring for other services --------------------------------------------------------

    def on_peer_ready(self, callback: PeerCallback) -> None:
        """Call `callback(device, household)` each time a friend device completes hello."""
        self._ready_callbacks.append(callback)

    def on_peer_gone(self, callback: Callable[[DeviceId], None]) -> None:
        self._gone_callbacks.append(callback)

    def use_reachability(
        self,
        addrs: Callable[[], list[str]],
        connect: Callable[[ID, list[str]], Awaitable[object]],
        kind: Callable[[ID], str | None],
    ) -> None:
        """Advertise `addrs()` (direct and relayed), dial with `connect`, report `kind`."""
        self._addrs, self._connect, self._kind = addrs, connect, kind

    def on_friend_removed(self, callback: Callable[[HouseholdId], Awaitable[None]]) -> None:
        """Call `await callback(household)` after a friend is removed (drop grants, repair)."""
        self._removed_callbacks.append(callback)

    def is_trusted(self, peer: ID) -> bool:
        device = peer.to_base58()
        if self.own is not None and self.own.is_revoked(device):
            return False
        return (
            self.store.household_of(device) is not None
            or device in self.recovery_peers
            or (self.own is not None and self.own.is_own_device(device))
        )

    def wake(self) -> None:
        """Re-check every friend device now (after the friend list changed)."""
        self._wake.set()

    async def rehello_all(self) -> None:
        """Say hello again to every connected device (to pass on a new revocation)."""
        for device in [*self.online, *self.own_online]:
            self._nursery_start(self._hello_outbound, ID.from_base58(device))

    async def connect_recovery_peer(self, device: str, addrs: list[str]) -> None:
        """Dial a device from the recovery sheet and present our certificate to it.

        Raises:
            UnreachableError: it cannot be reached or refused our hello.
        """
        peer = ID.from_base58(device)
        if not self.host.get_network().get_connections(peer):
            await self._dial(peer, addrs)
        if not await self._hello_outbound(peer):
            raise UnreachableError(f"Recovery peer {device} refused our certificate.")

    def count(self) -> int:
        return self.store.count()

    # -- run ------------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            nursery.start_soon(self._dial_loop)
            nursery.start_soon(self._register_loop)

    def _on_connected(self, peer: ID) -> None:
        if self._nursery is not None and not self.is_trusted(peer):
            self._nursery.start_soon(self._expel_if_still_stranger, peer)

    def _on_disconnected(self, peer: ID) -> None:
        device = DeviceId(peer.to_base58())
        if device in self.own_online and not self.host.get_network().get_connections(peer):
            self.own_online.discard(device)
            for callback in self._gone_callbacks:
                callback(device)
        if device in self.online and not self.host.get_network().get_connections(peer):
            del self.online[device]
            for callback in self._gone_callbacks:
                callback(device)
            self._wake.set()

    async def _expel_if_still_stranger(self, peer: ID) -> None:
        await trio.sleep(STRANGER_GRACE)
        if not self.is_trusted(peer):
            await self.gate.disconnect(
                peer, "a stranger neither paired nor presented a certificate"
            )

    # -- invites and pairing ---------------------------------------------------------------

    async def create_invite(self, expires_in: int) -> dict[str, object]:
        secret = new_secret()
        expires = int(time.time()) + expires_in
        invite = Invite(
            household_key=self.me.household_key,
            peer=self.me.device,
            addrs=tuple(self._addrs()),
            secret=secret,
            expires=expires,
            name=self.me.household_name,
        )
        await self.store.add_invite(invite.invite_id, secret, expires)
        return {"code": encode_invite(invite), "expires": expires, "invite_id": invite.invite_id}

    async def invite_status(self, invite_id: str) -> dict[str, object]:
        used_by = await self.store.invite_used_by(invite_id)
        if used_by is None:
            return {"invite_id": invite_id, "used": False}
        friend = await self.store.get(used_by)
        return {
            "invite_id": invite_id,
            "used": True,
            "household": friend.household,
            "name": friend.name,
            "sas": friend.sas.split(),
        }

    async def _handle_pair(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                msg = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
                if not isinstance(msg, pair_codec.PairRequest):
                    raise RemoteProtocolError("expected a pairing request")
                pending = await self.store.find_invite(msg.invite_id, int(time.time()))
                friend, accept = check_request(
                    msg, invite_secret=pending.secret, me=self.me, peer=peer.to_base58()
                )
                await self.store.add_friend_consuming_invite(friend_row(friend), msg.invite_id)
                await write_frame(stream, pair_codec.encode(accept))
                log.info("paired with %s (%s)", friend.name, household_id(friend.household_key))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            message = exc.message if isinstance(exc, CitizenError) else "pairing timed out"
            code = exc.code if isinstance(exc, CitizenError) else "timeout"
            log.info("refused pairing from %s: %s", peer, message)
            with trio.move_on_after(2):
                try:
                    reject = pair_codec.PairReject(code, message)
                    await write_frame(stream, pair_codec.encode(reject))
                    await stream.close()
                except Exception as write_exc:
                    log.debug("could not send the refusal: %s", write_exc)
            if not self.is_trusted(peer):
                await self.gate.disconnect(peer, f"pairing refused: {message}")
        except Exception as exc:  # transport failures: the peer went away
            log.info("pairing with %s broke: %s", peer, exc)

    async def accept(self, code: str, label: str | None) -> dict[str, object]:
        """Pair with the household that made `code` (acceptor side).

        Raises:
            InviteError: garbled, expired, forged, already used, or the inviter refused.
            UnreachableError: the inviter could not be reached.
        """
        invite = decode_invite(code)
        if invite.expires <= time.time():
            raise InviteError("This invite has expired.", "Ask your friend for a new invite.")
        if invite.household_key == self.me.household_key:
            raise InviteError(
                "This invite is from your own household.",
                "Give it to a friend's household; to add a device use `citizen device add`.",
            )
        peer = ID.from_base58(invite.peer)
        await self._dial(peer, list(invite.addrs))
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                stream = await self.host.new_stream(peer, [pair_codec.PAIR_PROTOCOL])  # type: ignore[list-item]
                await write_frame(stream, pair_codec.encode(make_request(invite, self.me)))
                reply = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
        except trio.TooSlowError as exc:
            raise UnreachableError("The inviting device did not answer in time.") from exc
        except CitizenError:
            raise
        except Exception as exc:
            raise UnreachableError(
                f"The pairing connection broke: {exc}.", "Try again; the invite is still valid."
            ) from exc
        match reply:
            case pair_codec.PairAccept():
                friend = check_accept(reply, invite=invite, me=self.me, peer=peer.to_base58())
            case pair_codec.PairReject(message=message):
                raise InviteError(f"The inviting household refused: {message}")
            case _:
                raise RemoteProtocolError("The inviting device answered with the wrong message.")
        row = friend_row(friend, name=label, addrs=tuple(invite.addrs))
        await self.store.add_friend(row)
        log.info("paired with %s (%s)", row.name, row.household)
        if self._nursery is not None:
            self._nursery.start_soon(self._hello_outbound, peer)
        return {"household": row.household, "name": row.name, "sas": list(friend.sas)}

    # -- hello --------------------------------------------------------------------------

    async def _hello(self) -> pair_codec.Hello:
        revoked: tuple[bytes, ...] = ()
        if self.own is not None:
            revoked = tuple((await self.own.revocations(self.household))[-pair_codec.MAX_REVOKED :])
        return pair_codec.Hello(self.me.cert, self.me.household_name, tuple(self._addrs()), revoked)

    async def _accept_hello(self, peer: ID, msg: pair_codec.Message) -> HouseholdId:
        if not isinstance(msg, pair_codec.Hello):
            raise RemoteProtocolError("expected hello")
        device = DeviceId(peer.to_base58())
        try:
            cert = verify_certificate_for(msg.cert, household_key=None, device=device)
        except CertificateError as exc:
            raise NotAuthorizedError(exc.message, exc.hint) from exc
        household = cert.household
        if self.own is not None and self.own.is_revoked(device):
            raise NotAuthorizedError("This device was revoked by its household.")
        if cert.household_key == self.me.household_key:
            return await self._accept_own_device(device, cert, msg)
        if device in self.recovery_peers and self.store.household_of(device) is None:
            return household  # a friend from our recovery sheet, before the friend list is back
        friends = {f.household: f for f in await self.store.list()}
        if household not in friends:
            raise NotAuthorizedError("This device's household is not a friend.")
        await self._take_revocations(msg.revoked, friends[household].household_key)
        if self.store.household_of(device) is None:
            await self.store.add_device(
                FriendDevice(device, household, cert.name, cert.raw, msg.addrs, int(time.time()))
            )
            log.info("accepted new device %s of friend %s", device, household)
        await self.store.seen(device, list(msg.addrs))
        return household

    async def _accept_own_device(
        self, device: DeviceId, cert: DeviceCertificate, msg: pair_codec.Hello
    ) -> HouseholdId:
        """Another device of our household: its certificate is signed by our household key."""
        if self.own is None:
            raise NotAuthorizedError("This daemon does not accept other household devices.")
        await self._take_revocations(msg.revoked, self.me.household_key)
        if self.own.is_revoked(device):
            raise NotAuthorizedError("This device was revoked by its household.")
        if not self.own.is_own_device(device):
            await self.own.add(
                HouseholdDevice(device, cert.name, cert.raw, msg.addrs, int(time.time()), False)
            )
            log.info("accepted new device %s (%s) of our household", device, cert.name)
        await self.own.seen(device, list(msg.addrs))
        return self.household

    async def _take_revocations(self, revoked: tuple[bytes, ...], household_key: bytes) -> None:
        if self.own is None:
            return
        for raw in revoked:
            try:
                revocation = verify_revocation(raw, household_key)
            except RemoteProtocolError as exc:
                log.warning("ignoring a bad revocation: %s", exc)
                continue
            if self.own.is_revoked(revocation.device):
                continue
            await self.own.revoke(revocation.device, revocation.household, raw)
            log.info("device %s of %s is revoked", revocation.device, revocation.household)
            if revocation.household != self.household:
                await self.store.forget_device(revocation.device)
            await self.gate.disconnect(ID.from_base58(revocation.device), "device revoked")

    async def _handle_hello(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                msg = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
                household = await self._accept_hello(peer, msg)
                await write_frame(stream, pair_codec.encode(await self._hello()))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            why = exc.message if isinstance(exc, CitizenError) else "hello timed out"
            await self.gate.disconnect(peer, f"hello refused: {why}")
            return
        except Exception as exc:
            log.debug("hello from %s broke: %s", peer, exc)
            return
        await self._drop_replaced_connections(peer, stream.muxed_conn)
        await self._ready(peer, household)

    async def _drop_replaced_connections(self, peer: ID, hello_muxer: object) -> None:
        """Close the other direct connections `peer` dialed to us than the one its hello came on.

        A device dials and says hello when it has lost its connection to us; if it
        lost it because its address changed (a NAT router re-addressed at night),
        our side of the old connection only sends into the void and would take
        TCP's retransmission timeout (many minutes) to notice, while the swarm
        keeps opening streams on it.
        """
        for conn in list(self.host.get_network().get_connections(peer)):
            if conn.muxed_conn is hello_muxer:
                continue
            if getattr(getattr(conn, "direction", None), "name", "") != "INBOUND":
                continue
            try:
                addrs = [str(a) for a in conn.get_transport_addresses()]
            except Exception:
                addrs = []
            if any("/p2p-circuit" in a for a in addrs):
                continue
            log.info("closing %s's older connection it replaced", peer)
            with trio.move_on_after(2):
                try:
                    await conn.close()
                except Exception as exc:
                    log.debug("closing the replaced connection to %s: %s", peer, exc)

    async def _hello_outbound(self, peer: ID) -> bool:
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                stream = await self.host.new_stream(peer, [pair_codec.HELLO_PROTOCOL])  # type: ignore[list-item]
                await write_frame(stream, pair_codec.encode(await self._hello()))
                msg = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
                household = await self._accept_hello(peer, msg)
        except (CitizenError, trio.TooSlowError) as exc:
            why = exc.message if isinstance(exc, CitizenError) else "hello timed out"
            log.info("hello to %s failed: %s", peer, why)
            await self.gate.disconnect(peer, f"hello failed: {why}")
            return False
        except Exception as exc:
            log.info("hello to %s broke: %s", peer, exc)
            return False
        await self._ready(peer, household)
        return True

    async def _ready(self, peer: ID, household: HouseholdId) -> None:
        device = DeviceId(peer.to_base58())
        if household == self.household:
            if device not in self.own_online:
                self.own_online.add(device)
                log.info("household device %s is online", device)
                for callback in self._ready_callbacks:
                    await callback(device, household)
            return
        if self.store.household_of(device) is None:
            return  # a recovery peer: not a friend (yet), so no services
        first = device not in self.online
        self.online[device] = household
        self._backoff.pop(device, None)
        if first:
            log.info("friend device %s of %s is online", device, household)
            for callback in self._ready_callbacks:
                await callback(device, household)
            self._wake.set()

    # -- dialing ------------------------------------------------------------------------

    async def _dial(self, peer: ID, addrs: list[str]) -> None:
        maddrs = []
        for a in addrs:
            try:
                maddrs.append(Multiaddr(a))
            except Exception:
                log.debug("skipping bad address %r", a)
        if not maddrs:
            raise UnreachableError(f"No usable address for {peer}.")
        if self._connect is not None:
            await self._connect(peer, addrs)  # raises UnreachableError itself
            return
        try:
            with trio.fail_after(DIAL_TIMEOUT):
                await self.host.connect(PeerInfo(peer, maddrs))
        except Exception as exc:
            raise UnreachableError(
                f"Could not reach {peer} at {', '.join(addrs)}: {exc}",
                "Check that the other daemon runs and both are online.",
            ) from exc

    async def _dial_loop(self) -> None:
        while True:
            now = trio.current_time()
            for friend in await self.store.list():
                for device in friend.devices:
                    if device.device in self.online or device.device == self.me.device:
                        continue
                    backoff = self._backoff.setdefault(device.device, _Backoff())
                    if backoff.next_try > now:
                        continue
                    self._nursery_start(self._try_device, friend, device, backoff)
            if self.own is not None:
                for own in await self.own.devices():
                    if own.device in self.own_online or own.device == self.me.device:
                        continue
                    backoff = self._backoff.setdefault(own.device, _Backoff())
                    if backoff.next_try > now:
                        continue
                    self._nursery_start(self._try_own_device, own, backoff)
            self._wake = trio.Event()
            with trio.move_on_after(BACKOFF_MIN):
                await self._wake.wait()

    def _nursery_start(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    async def _try_device(self, friend: Friend, device: FriendDevice, backoff: _Backoff) -> None:
        backoff.next_try = trio.current_time() + backoff.delay + DIAL_TIMEOUT
        backoff.delay = min(backoff.delay * 2, BACKOFF_MAX)
        peer = ID.from_base58(device.device)
        addrs = list(device.addrs)
        try:
            addrs += [str(a) for a in self.host.get_peerstore().addrs(peer) if str(a) not in addrs]
        except Exception:
            pass  # the peerstore has no entry (yet)
        try:
            await self._dial(peer, addrs)
        except UnreachableError:
            found = await self.finder.lookup(list(self.online), friend, device.device)
            if not found:
                backoff.next_try = trio.current_time() + backoff.delay
                return
            try:
                await self._dial(peer, found)
            except UnreachableError:
                backoff.next_try = trio.current_time() + backoff.delay
                return
        await self._hello_outbound(peer)

    async def _try_own_device(self, device: HouseholdDevice, backoff: _Backoff) -> None:
        backoff.next_try = trio.current_time() + backoff.delay + DIAL_TIMEOUT
        backoff.delay = min(backoff.delay * 2, BACKOFF_MAX)
        peer = ID.from_base58(device.device)
        try:
            await self._dial(peer, list(device.addrs))
        except UnreachableError:
            backoff.next_try = trio.current_time() + backoff.delay
            return
        await self._hello_outbound(peer)

    async def _register_loop(self) -> None:
        while True:
            await self.finder.register_round(list(self.online), await self.store.list())
            with trio.move_on_after(5):
                await self._wake.wait()

    # -- listing and removal -----------------------------------------------------------

    async def list_json(self) -> list[dict[str, object]]:
        def kind(device: DeviceId) -> str | None:
            return self._kind(ID.from_base58(device))

        return [friend_json(f, self.online, kind) for f in await self.store.list()]

    async def remove(self, name_or_id: str) -> dict[str, object]:
        friend = await self.store.resolve(name_or_id)
        await self.store.remove(friend.household, removed_by=self.me.device)
        await self.forget(friend.household, [d.device for d in friend.devices])
        return {"household": friend.household, "name": friend.name, "removed": True}

    async def forget(self, household: HouseholdId, devices: list[DeviceId]) -> None:
        """After a friend left the store (here or on another own device): disconnect, tell all."""
        for device in devices:
            self.online.pop(device, None)
            await self.gate.disconnect(ID.from_base58(device), "friend removed")
            for callback in self._gone_callbacks:
                callback(device)
        for removed in self._removed_callbacks:
            await removed(household)
