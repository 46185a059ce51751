"""A household of several devices: enrolling a new device, listing and revoking devices.

The device that holds the household key makes a one-time enrollment code
(`citizen device add`); the new device (`citizen init --join CODE`) proves it
holds the code's secret on `/citizen/enroll/1` and gets a certificate signed
by the household key. From then on every friend accepts it from that
certificate alone. Revoking signs a revocation that travels in every hello,
so friends and the household's other devices refuse the device for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import trio
from nacl.signing import SigningKey

from citizen.errors import CitizenError, InviteError, NotAuthorizedError, UnreachableError
from citizen.household import enroll_codec as ec
from citizen.identity.certs import DeviceCertificate, issue_certificate, verify_certificate_for
from citizen.identity.fingerprints import device_id
from citizen.identity.invites import Invite, Transcript, decode_invite, encode_invite, new_secret
from citizen.identity.revocation import sign_revocation
from citizen.ids import DeviceId
from citizen.net.conns import remote_device
from citizen.net.network import Net, open_one_stream
from citizen.net.peers import Peers
from citizen.net.streams import Stream, read_frame, write_frame
from citizen.store.backup_state import HouseholdState, encode_state
from citizen.store.backups import friend_states
from citizen.store.friends import FriendStore
from citizen.store.household import HouseholdDevice, HouseholdStore

log = logging.getLogger(__name__)

TIMEOUT = 20.0


class Hellos(Protocol):
    """Saying hello again to every connected device (the friends service does)."""

    async def rehello_all(self) -> None: ...


class HouseholdService:
    """Enrolling devices into this household, listing them, revoking them.

    Args:
        store: our devices and everyone's revocations.
        invites: the trust store, which keeps enrollment codes like friend invites.
        cert: this device's certificate.
        household_name: shown to a joining device.
        signer: the household key (only the device that holds it enrolls and revokes).
        holds_key: whether this device holds the household key.
        net: the network (offline: enrolling is refused).
        peers: who of our devices is online.
        hellos: passes a new revocation on at once (None offline).
    """

    def __init__(
        self,
        store: HouseholdStore,
        invites: FriendStore,
        cert: DeviceCertificate,
        household_name: str,
        signer: Callable[[], SigningKey],
        holds_key: bool,
        *,
        net: Net,
        peers: Peers,
        hellos: Hellos | None,
    ) -> None:
        self.store = store
        self.invites = invites
        self.cert = cert
        self.household_name = household_name
        self._signer = signer
        self.holds_key = holds_key
        self.net = net
        self.peers = peers
        self.hellos = hellos
        net.serve_anyone(ec.PROTOCOL, self._handle_enroll)

    # -- enrolling (the key-holding device) ---------------------------------------------

    async def create_enrollment(self, expires_in: int) -> dict[str, object]:
        self._signer()  # fails clearly on a device without the household key
        if not self.net.online:
            raise CitizenError("Adding a device needs the network.", "Run without --offline.")
        secret = new_secret()
        expires = int(time.time()) + expires_in
        invite = Invite(
            self.cert.household_key,
            self.cert.device,
            tuple(self.net.listen_addrs()),
            secret,
            expires,
            self.household_name,
            kind="enroll",
        )
        await self.invites.add_invite(invite.invite_id, secret, expires, kind="enroll")
        return {"code": encode_invite(invite), "expires": expires, "invite_id": invite.invite_id}

    async def _handle_enroll(self, stream: Stream) -> None:
        peer = remote_device(stream)
        try:
            with trio.fail_after(TIMEOUT):
                msg = ec.decode(await read_frame(stream, ec.MAX_FRAME))
                if not isinstance(msg, ec.EnrollRequest):
                    raise InviteError("Expected an enrollment request.")
                reply = await self._enroll(msg, peer)
                await write_frame(stream, ec.encode(reply))
                await stream.close()
        except (CitizenError, trio.TooSlowError) as exc:
            message = exc.message if isinstance(exc, CitizenError) else "enrollment timed out"
            log.info("refused enrollment from %s: %s", peer, message)
            with trio.move_on_after(2):
                try:
                    await write_frame(stream, ec.encode(ec.EnrollReject(message)))
                    await stream.close()
                except Exception:
                    pass
        except Exception as exc:
            log.info("enrollment with %s broke: %s", peer, exc)

    async def _enroll(self, msg: ec.EnrollRequest, peer: str) -> ec.EnrollAccept:
        pending = await self.invites.find_invite(msg.invite_id, int(time.time()), kind="enroll")
        transcript = Transcript(
            msg.invite_id, self.cert.device, peer, self.cert.household_key, msg.device_key
        )
        if not transcript.check(pending.secret, "enroll", msg.mac):
            raise InviteError("The enrollment proof does not match the code.")
        if device_id(msg.device_key) != peer:
            raise NotAuthorizedError("The device key is not the connected device's.")
        if self.store.is_revoked(peer):
            raise NotAuthorizedError("This device was revoked and cannot join again.")
        cert = issue_certificate(self._signer(), msg.device_key, msg.name)
        await self.invites.consume_invite(msg.invite_id, peer)
        await self.store.add(HouseholdDevice(cert.device, msg.name, cert.raw, (), None, False))
        log.info("enrolled device %s (%s)", cert.device, msg.name)
        devices = [
            ec.KnownDevice(
                self.cert.device,
                self.cert.name,
                self.cert.raw,
                tuple(self.net.listen_addrs()),
                True,
            )
        ]
        for d in await self.store.devices():
            if d.device != cert.device:
                devices.append(ec.KnownDevice(d.device, d.name, d.cert, d.addrs, d.holds_key))
        return ec.EnrollAccept(
            cert.raw,
            self.household_name,
            tuple(devices),
            transcript.mac(pending.secret, "inviter"),
            await self._friends_state(),
        )

    async def _friends_state(self) -> bytes:
        friends = friend_states(await self.invites.list())
        removed = tuple(await self.invites.removals())
        return encode_state(HouseholdState(self.household_name, 0, friends, (), (), removed))

    # -- listing and revoking -------------------------------------------------------------

    async def list_devices(self) -> list[dict[str, object]]:
        online = self.peers.own_online
        out: list[dict[str, object]] = [
            {
                "device": self.cert.device,
                "name": self.cert.name,
                "this_device": True,
                "holds_household_key": self.holds_key,
                "online": True,
            }
        ]
        for d in await self.store.devices():
            out.append(
                {
                    "device": d.device,
                    "name": d.name,
                    "this_device": False,
                    "holds_household_key": d.holds_key,
                    "online": d.device in online,
                    "last_seen": d.last_seen,
                }
            )
        return out

    async def remove_device(self, name_or_id: str) -> dict[str, object]:
        device = await self.store.get(name_or_id)
        if device.device == self.cert.device:
            raise NotAuthorizedError("A device cannot revoke itself.", "Do it from another one.")
        key = self._signer()
        cert = verify_certificate_for(device.cert, household_key=None, device=device.device)
        revocation = sign_revocation(key, cert.device_key)
        await self.store.revoke(device.device, revocation.household, revocation.raw)
        await self.net.disconnect(device.device, "device revoked")
        if self.hellos is not None:
            await self.hellos.rehello_all()
        return {"device": device.device, "name": device.name, "revoked": True}


async def join_household(
    code: str, device_key: SigningKey, device_name: str
) -> tuple[ec.EnrollAccept, Invite]:
    """The new device's side: dial the inviting device and get a certificate.

    Dials from a short-lived host keyed by the new device key.

    Raises:
        InviteError: garbled, expired or refused code.
        UnreachableError: the inviting device could not be reached.
    """
    invite = decode_invite(code)
    if invite.kind != "enroll":
        raise InviteError(
            "This is a friend invite, not a device code.",
            "Use `citizen accept CODE` to pair with a friend; `citizen device add` on your "
            "household's device makes a device code.",
        )
    if invite.expires <= time.time():
        raise InviteError("This device code has expired.", "Make a new one: citizen device add.")
    me = device_id(bytes(device_key.verify_key))
    transcript = Transcript(
        invite.invite_id, invite.peer, me, invite.household_key, bytes(device_key.verify_key)
    )
    request = ec.EnrollRequest(
        invite.invite_id,
        bytes(device_key.verify_key),
        device_name,
        transcript.mac(invite.secret, "enroll"),
    )
    seed, addrs = bytes(device_key), list(invite.addrs)
    async with open_one_stream(seed, invite.peer, addrs, ec.PROTOCOL, TIMEOUT) as stream:
        try:
            with trio.fail_after(TIMEOUT):
                await write_frame(stream, ec.encode(request))
                reply = ec.decode(await read_frame(stream, ec.MAX_FRAME))
        except CitizenError:
            raise
        except Exception as exc:
            raise UnreachableError(
                f"Could not reach the household's device: {exc}",
                "Check that its daemon runs and this device can reach it.",
            ) from exc
    match reply:
        case ec.EnrollAccept():
            if not transcript.check(invite.secret, "inviter", reply.mac):
                raise InviteError("The device that answered is not the one that made the code.")
            cert = verify_certificate_for(
                reply.cert, household_key=invite.household_key, device=DeviceId(me)
            )
            assert cert.device == me
            return reply, invite
        case ec.EnrollReject(message=message):
            raise InviteError(f"The household's device refused: {message}")
        case _:
            raise InviteError("The household's device answered with the wrong message.")
