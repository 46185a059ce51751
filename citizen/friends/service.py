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
from dataclasses import dataclass, field
from typing import Any

import trio

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
from citizen.friends.pairing import (
    Me,
    NewFriend,
    check_accept,
    check_request,
    make_request,
    welcome_back,
)
from citizen.friends.rows import friend_json, friend_row
from citizen.identity.certs import DeviceCertificate, verify_certificate_for
from citizen.identity.fingerprints import household_id
from citizen.identity.invites import Invite, decode_invite, encode_invite, new_secret
from citizen.identity.revocation import verify_revocation
from citizen.ids import DeviceId, HouseholdId
from citizen.net.backoff import Backoff
from citizen.net.conns import remote_device, reset_quietly
from citizen.net.network import Network
from citizen.net.peers import FriendRemoved, PeerGone, PeerReady
from citizen.net.streams import Stream, read_frame, write_frame
from citizen.net.tasks import run_contained
from citizen.store.friend_records import Friend, FriendDevice
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdDevice, HouseholdStore

log = logging.getLogger(__name__)

#: `await callback(device, addrs, friend)`: a friend welcomed this (fresh) device back
WelcomedBack = Callable[[DeviceId, list[str], Friend], Awaitable[None]]

STRANGER_GRACE = 10.0  # seconds a stranger may take to pair or present a certificate
DIAL_TIMEOUT = 10.0
HELLO_TIMEOUT = 15.0
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
HEARD_EVERY = 60.0  # seconds between writes of when friend devices were last heard


@dataclass(slots=True)
class _Backoff:
    """When to dial a device next, and how long to wait after the next failure."""

    pause: Backoff = field(default_factory=lambda: Backoff(BACKOFF_MIN, BACKOFF_MAX))
    next_try: float = 0.0


class FriendsService:
    """Who our friends are and which of their devices (and ours) are online; a `Peers`.

    Args:
        net: the network, not necessarily listening yet.
        store: the trust store.
        me: what pairing and hello say about us.
        serve_rendezvous: serve the rendezvous protocol to friends.
        rendezvous_points: public rendezvous points from config, as /p2p/ multiaddrs.
        household: our own devices (None: accept no other household device).
    """

    def __init__(
        self,
        net: Network,
        store: FriendStore,
        me: Me,
        *,
        serve_rendezvous: bool = True,
        rendezvous_points: tuple[str, ...] = (),
        household: HouseholdStore | None = None,
    ) -> None:
        self.net = net
        self.store = store
        self.me = me
        self.household = household_id(me.household_key)
        self.own = household
        #: connected friend devices (not our own household's)
        self.online: dict[DeviceId, HouseholdId] = {}
        #: connected devices of our own household
        self.own_online: set[DeviceId] = set()
        #: the clock our hellos carry and offsets are measured against (a test moves it)
        self.wall_clock: Callable[[], float] = time.time
        #: friend device -> its clock minus ours (s), from its last hello (`citizen doctor`)
        self.clock_offsets: dict[DeviceId, float] = {}
        self._ready_callbacks: list[PeerReady] = []
        self._gone_callbacks: list[PeerGone] = []
        self._removed_callbacks: list[FriendRemoved] = []
        self._welcomed_callbacks: list[WelcomedBack] = []
        #: SAS words of invites that welcomed a returning friend back (its stored SAS is older)
        self._welcome_sas: dict[str, str] = {}
        self._backoff: dict[DeviceId, _Backoff] = {}
        #: inviting devices we are accepting an invite of right now
        self._pairing: set[DeviceId] = set()
        self._nursery: trio.Nursery | None = None
        self._wake = trio.Event()
        self._register_now = trio.Event()
        self.finder = FriendFinder(net, rendezvous_points)
        #: configured rendezvous points: not friends, but never expelled as strangers
        self._points = {str(p) for p, _ in self.finder.points}
        net.gate.allow_points(self._points)
        #: devices on our recovery sheet: trusted for hello and backups until we recover
        self.recovery_peers: set[str] = set()
        net.serve_anyone(pair_codec.PAIR_PROTOCOL, self._handle_pair)
        net.serve_anyone(pair_codec.HELLO_PROTOCOL, self._handle_hello)
        if serve_rendezvous:
            self.rendezvous_server = net.serve_rendezvous()
        net.watch(self._on_connected, self._on_disconnected)

    # -- Peers: what other features ask and hear --------------------------------------------

    def household_of(self, device: str) -> HouseholdId | None:
        """Ours for an own device, a friend's for a friend's device, else None."""
        if self.own is not None and self.own.is_own_device(device):
            return self.household
        return self.store.household_of(device)

    async def friend(self, household: HouseholdId) -> Friend:
        return await self.store.get(household)

    async def friends(self) -> list[Friend]:
        return await self.store.list()

    async def resolve(self, name_or_id: str) -> Friend:
        return await self.store.resolve(name_or_id)

    def on_peer_ready(self, callback: PeerReady) -> None:
        """Call `callback(device, household)` each time a friend device completes hello."""
        self._ready_callbacks.append(callback)

    def on_peer_gone(self, callback: PeerGone) -> None:
        self._gone_callbacks.append(callback)

    def on_friend_removed(self, callback: FriendRemoved) -> None:
        """Call `await callback(household)` after a friend is removed (drop grants, repair)."""
        self._removed_callbacks.append(callback)

    def on_welcomed_back(self, callback: WelcomedBack) -> None:
        """Call `await callback(device, addrs, friend)` when an invite's household welcomed
        this device back as a friend it already had, while we had no friends (a recovery)."""
        self._welcomed_callbacks.append(callback)

    def is_trusted(self, device: str) -> bool:
        """Whether `device` is one of ours, a friend's, or on our recovery sheet (not revoked)."""
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
            self._nursery_start(self._hello_outbound, device)

    async def connect_recovery_peer(self, device: str, addrs: list[str]) -> None:
        """Dial a device from the recovery sheet and present our certificate to it.

        Raises:
            UnreachableError: it cannot be reached or refused our hello.
        """
        if not self.net.connected(device):
            await self.net.dial(device, addrs)
        if not await self._hello_outbound(device):
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
            nursery.start_soon(self._heard_loop)

    def _on_connected(self, device: DeviceId) -> None:
        if device in self._points:
            return  # a point we configured: the gate lets it reach only identify and ping
        if self._nursery is not None and not self.is_trusted(device):
            self._nursery_start(self._expel_if_still_stranger, device)

    def _on_disconnected(self, device: DeviceId) -> None:
        if device in self.own_online and not self.net.connected(device):
            self.own_online.discard(device)
            for callback in self._gone_callbacks:
                callback(device)
        if device in self.online and not self.net.connected(device):
            del self.online[device]
            for callback in self._gone_callbacks:
                callback(device)
            self._wake.set()

    async def _expel_if_still_stranger(self, device: DeviceId) -> None:
        await trio.sleep(STRANGER_GRACE)
        if not self.is_trusted(device):
            await self.net.disconnect(
                device, "a stranger neither paired nor presented a certificate"
            )

    # -- invites and pairing ---------------------------------------------------------------

    async def create_invite(self, expires_in: int) -> dict[str, object]:
        secret = new_secret()
        expires = int(time.time()) + expires_in
        invite = Invite(
            household_key=self.me.household_key,
            peer=self.me.device,
            addrs=tuple(self.net.addrs()),
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
            "sas": self._welcome_sas.get(invite_id, friend.sas).split(),
        }

    async def _handle_pair(self, stream: Stream) -> None:
        peer = remote_device(stream)
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                msg = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
                if not isinstance(msg, pair_codec.PairRequest):
                    raise RemoteProtocolError("expected a pairing request")
                pending = await self.store.find_invite(msg.invite_id, int(time.time()))
                friend, accept = check_request(
                    msg, invite_secret=pending.secret, me=self.me, peer=peer
                )
                known = await self._friend_with_key(friend.household_key)
                if known is None:
                    await self.store.add_friend_consuming_invite(friend_row(friend), msg.invite_id)
                    log.info("paired with %s (%s)", friend.name, household_id(friend.household_key))
                    self._friendships_changed()
                else:
                    await self._welcome_back(known, friend, msg.invite_id)
                    accept = welcome_back(accept, known.secret)
                await write_frame(stream, pair_codec.encode(accept))
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
                await self.net.disconnect(peer, f"pairing refused: {message}")
        except Exception as exc:  # transport failures: the peer went away
            log.info("pairing with %s broke: %s", peer, exc)

    async def _friend_with_key(self, household_key: bytes) -> Friend | None:
        wanted = household_id(household_key)
        return next((f for f in await self.store.list() if f.household == wanted), None)

    async def _welcome_back(self, known: Friend, friend: NewFriend, invite_id: str) -> None:
        """A friend household pairs again from a new device (it lost its devices and came
        back with its recovery phrase): trust the device, keep the friendship as it is."""
        cert = friend.device_cert
        if self.own is not None and self.own.is_revoked(cert.device):
            raise NotAuthorizedError("This device was revoked by its household.")
        await self.store.consume_invite(invite_id, known.household)
        await self.store.add_device(
            FriendDevice(cert.device, known.household, cert.name, cert.raw, (), int(time.time()))
        )
        self._welcome_sas[invite_id] = " ".join(friend.sas)
        log.info(
            "welcomed back friend %s (%s) on its new device %s",
            known.name,
            known.household,
            cert.device,
        )

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
        peer = DeviceId(invite.peer)
        had_friends = self.store.count()
        self._pairing.add(peer)
        try:
            await self.net.dial(peer, list(invite.addrs))
            with trio.fail_after(HELLO_TIMEOUT):
                stream = await self.net.open_stream(peer, pair_codec.PAIR_PROTOCOL)
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
        finally:
            self._pairing.discard(peer)
        match reply:
            case pair_codec.PairAccept():
                friend = check_accept(reply, invite=invite, me=self.me, peer=peer)
            case pair_codec.PairReject(message=message):
                raise InviteError(f"The inviting household refused: {message}")
            case _:
                raise RemoteProtocolError("The inviting device answered with the wrong message.")
        row = friend_row(friend, name=label, addrs=tuple(invite.addrs))
        if friend.returning and had_friends == 0 and self._welcomed_callbacks:
            # we lost every device: this friend's backup holds our friends (it among them),
            # docs and grants; recovery takes them from it before we store anything
            log.info("%s welcomed us back: recovering from its backup", row.name)
            for welcomed in self._welcomed_callbacks:
                await welcomed(DeviceId(peer), list(invite.addrs), row)
        elif friend.returning and await self._friend_with_key(friend.household_key):
            await self.store.add_device(row.devices[0])  # still friends: its device, upserted
        else:
            stale = await self._friend_with_key(friend.household_key)
            if stale is not None:
                # a fresh friendship from a household we still count as a friend: it removed
                # us (and stored this one already), so take its removal, then the new pairing
                log.info("%s had removed us and paired again: the new friendship wins", row.name)
                await self.remove(stale.household)
            await self.store.add_friend(row)
            log.info("paired with %s (%s)", row.name, row.household)
            self._friendships_changed()
        if self._nursery is not None:
            self._nursery.start_soon(self._hello_outbound, peer)
        return {
            "household": row.household,
            "name": row.name,
            "sas": list(friend.sas),
            "welcomed_back": friend.returning,
        }

    # -- hello --------------------------------------------------------------------------

    async def _hello(self) -> pair_codec.Hello:
        revoked: tuple[bytes, ...] = ()
        if self.own is not None:
            revoked = tuple((await self.own.revocations(self.household))[-pair_codec.MAX_REVOKED :])
        return pair_codec.Hello(
            self.me.cert,
            self.me.household_name,
            tuple(self.net.addrs()),
            revoked,
            sent_ms=int(self.wall_clock() * 1000),
        )

    async def _accept_hello(self, device: DeviceId, msg: pair_codec.Message) -> HouseholdId:
        if not isinstance(msg, pair_codec.Hello):
            raise RemoteProtocolError("expected hello")
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
        if msg.sent_ms is not None:
            self.clock_offsets[device] = msg.sent_ms / 1000 - self.wall_clock()
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
            await self.net.disconnect(revocation.device, "device revoked")

    async def _handle_hello(self, stream: Stream) -> None:
        peer = remote_device(stream)
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                msg = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
                household = await self._accept_hello(peer, msg)
                await write_frame(stream, pair_codec.encode(await self._hello()))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            why = exc.message if isinstance(exc, CitizenError) else "hello timed out"
            if self.is_trusted(peer):
                await self.net.disconnect(peer, f"hello refused: {why}")
            else:
                # only the stream: the connection may carry a pairing with a fresh
                # invite next (a removed friend pairing again); a stranger that does
                # not pair is expelled after STRANGER_GRACE
                log.info("hello from %s refused: %s", peer, why)
                await reset_quietly(stream)
            return
        except Exception as exc:
            log.debug("hello from %s broke: %s", peer, exc)
            return
        await self.net.close_replaced_connections(peer, stream)
        await self._ready(peer, household)

    async def _hello_outbound(self, peer: str) -> bool:
        peer = DeviceId(peer)
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                stream = await self.net.open_stream(peer, pair_codec.HELLO_PROTOCOL)
                await write_frame(stream, pair_codec.encode(await self._hello()))
                msg = pair_codec.decode(await read_frame(stream, pair_codec.MAX_FRAME))
                household = await self._accept_hello(peer, msg)
        except (CitizenError, trio.TooSlowError) as exc:
            why = exc.message if isinstance(exc, CitizenError) else "hello timed out"
            log.info("hello to %s failed: %s", peer, why)
            if peer not in self._pairing:  # never under an accept in flight
                await self.net.disconnect(peer, f"hello failed: {why}")
            return False
        except Exception as exc:
            log.info("hello to %s broke: %s", peer, exc)
            return False
        await self._ready(peer, household)
        return True

    async def _ready(self, device: DeviceId, household: HouseholdId) -> None:
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
            self._register_now.set()  # register at it (it serves rendezvous)

    # -- dialing ------------------------------------------------------------------------

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
        """Start a per-friend task; whatever it raises is logged, never the daemon's end."""
        assert self._nursery is not None
        whom = ", ".join(str(getattr(a, "name", a)) for a in args[:2])
        self._nursery.start_soon(run_contained, f"{fn.__name__} ({whom})", fn, *args)

    async def _try_device(self, friend: Friend, device: FriendDevice, backoff: _Backoff) -> None:
        # this attempt may take DIAL_TIMEOUT; a failure then waits the doubled pause
        backoff.next_try = trio.current_time() + backoff.pause.failed() + DIAL_TIMEOUT
        peer = device.device
        addrs = list(device.addrs)
        addrs += [a for a in self.net.known_addrs(peer) if a not in addrs]
        try:
            await self.net.dial(peer, addrs)
        except UnreachableError:
            found = await self.finder.lookup(list(self.online), friend, device.device)
            if not found:
                backoff.next_try = trio.current_time() + backoff.pause.delay
                return
            try:
                await self.net.dial(peer, found)
            except UnreachableError:
                backoff.next_try = trio.current_time() + backoff.pause.delay
                return
        await self._hello_outbound(peer)

    async def _try_own_device(self, device: HouseholdDevice, backoff: _Backoff) -> None:
        # this attempt may take DIAL_TIMEOUT; a failure then waits the doubled pause
        backoff.next_try = trio.current_time() + backoff.pause.failed() + DIAL_TIMEOUT
        peer = device.device
        try:
            await self.net.dial(peer, list(device.addrs))
        except UnreachableError:
            backoff.next_try = trio.current_time() + backoff.pause.delay
            return
        await self._hello_outbound(peer)

    async def _heard_loop(self) -> None:
        """Persist when each friend device was last heard from, at most once a minute."""
        stored: dict[DeviceId, float] = {}
        while True:
            await trio.sleep(HEARD_EVERY)
            for device in list(self.online):
                heard = self.net.gate.last_heard(device)
                if heard is not None and heard > stored.get(device, 0.0):
                    stored[device] = heard
                    try:
                        await self.store.seen(device, None)
                    except CitizenError as exc:
                        log.info("could not record when %s was heard: %s", device, exc)

    def _friendships_changed(self) -> None:
        """A new friendship: register its namespaces at every rendezvous point now."""
        self.finder.register_everywhere()
        self._register_now.set()

    async def _register_loop(self) -> None:
        while True:
            await self.finder.register_round(list(self.online), await self.store.list())
            with trio.move_on_after(5):
                await self._register_now.wait()
            self._register_now = trio.Event()

    # -- listing and removal -----------------------------------------------------------

    async def list_json(self) -> list[dict[str, object]]:
        kind = self.net.connection_kind
        heard = self.net.gate.last_heard
        return [friend_json(f, self.online, kind, heard) for f in await self.store.list()]

    async def remove(self, name_or_id: str) -> dict[str, object]:
        friend = await self.store.resolve(name_or_id)
        await self.store.remove(friend.household, removed_by=self.me.device)
        await self.forget(friend.household, [d.device for d in friend.devices])
        return {"household": friend.household, "name": friend.name, "removed": True}

    async def forget(self, household: HouseholdId, devices: list[DeviceId]) -> None:
        """After a friend left the store (here or on another own device): disconnect, tell all."""
        for device in devices:
            self.online.pop(device, None)
            await self.net.disconnect(device, "friend removed")
            for callback in self._gone_callbacks:
                callback(device)
        for removed in self._removed_callbacks:  # one feature's failure skips no other's
            await run_contained(f"cleaning up after friend {household} left", removed, household)
