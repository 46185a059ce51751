"""Serving `/citizen/objects/1` to friends: store, fetch, prove, delete and list their shares.

A friend's device may only touch shares held for its own household: it
stores as itself (the owner field must be its household), fetches and proves
only shares recorded for it, lists only its own, and deletes only with a
statement signed by its household key. Quota is the friend's own offer
(``friends.offer_bytes``) or the configured default. Anything malformed ends
the stream; nothing a peer sends can crash the daemon or touch another
household's shares. A full disk here is the friend's answer `StoreCode.STORE`
with a "disk full" message (and a warning in our log): the share store
removes its temporary file, so nothing is half-stored, and the stream stays up.
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from citizen.errors import CitizenError, NotFoundError, QuotaError, RemoteProtocolError
from citizen.ids import HouseholdId, ShareId
from citizen.net import conns
from citizen.net.streams import Stream, StreamClosed, read_frame
from citizen.objects.codec import (
    MAX_FRAME,
    Challenge,
    Deleted,
    DeleteShares,
    FetchShare,
    Held,
    ListHeld,
    Missing,
    ObjectsMessage,
    Proof,
    ShareData,
    StoreCode,
    StoreResult,
    StoreShare,
    decode_body,
    delete_payload,
    encode_frame,
)
from citizen.store.disk import disk_full, find_disk_full
from citizen.store.friend_records import Friend
from citizen.store.objects import LocalObjects
from citizen.store.shares import ShareHashMismatchError, ShareStore

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 300.0
#: what the owner hears when our disk is full (the hint in our own log is for us)
FRIEND_DISK_FULL = (
    "disk full: this friend's disk has no space left, so it stored nothing."
    " Ask them to free space; the share can go to another friend meanwhile."
)


class Friends(Protocol):
    """What the server asks of `citizen.net.peers.Peers`."""

    @property
    def household(self) -> HouseholdId:
        """Our own household (its devices hold nothing for us)."""
        ...

    def household_of(self, device: str) -> HouseholdId | None: ...

    async def friend(self, household: HouseholdId) -> Friend: ...


class ObjectsServer:
    """Answers friends' object requests from this device's `ShareStore`.

    Args:
        shares: the shares held for friends.
        local: for the per-owner "do I hold this" question.
        peers: which household a device belongs to; each friend's key and offer.
        default_offer: bytes offered to a friend that has no offer of its own.
    """

    def __init__(
        self,
        shares: ShareStore,
        local: LocalObjects,
        peers: Friends,
        default_offer: int,
    ) -> None:
        self._shares = shares
        self._local = local
        self._peers = peers
        self._default_offer = default_offer

    async def quota_of(self, household: HouseholdId) -> int:
        friend = await self._peers.friend(household)
        return self._default_offer if friend.offer_bytes is None else friend.offer_bytes

    async def handle_stream(self, stream: Stream) -> None:
        peer = conns.remote_device(stream)
        household = self._peers.household_of(peer)
        if household is None or household == self._peers.household:
            # a stranger, or one of our own devices: we hold no shares for either
            await conns.reset_quietly(stream)
            return
        try:
            while True:
                with trio.fail_after(IDLE_TIMEOUT):
                    try:
                        body = await read_frame(stream, MAX_FRAME)
                    except StreamClosed:
                        return
                msg = decode_body(body)
                reply = await self.answer(household, msg)
                await stream.write(encode_frame(reply))
        except RemoteProtocolError as exc:
            log.info("objects stream from %s (%s) closed: %s", peer, household, exc.message)
            await conns.reset_quietly(stream)
        except trio.TooSlowError:
            await conns.reset_quietly(stream)
        except Exception as exc:  # transport failures: the peer went away
            log.debug("objects stream from %s broke: %s", peer, exc)
            await conns.reset_quietly(stream)

    async def answer(self, household: HouseholdId, msg: ObjectsMessage) -> ObjectsMessage:
        """The reply to one request from a device of friend `household`.

        Raises:
            RemoteProtocolError: the message is not a request.
        """
        match msg:
            case StoreShare():
                return await self._store(household, msg)
            case FetchShare(share_id):
                if not await self._local.holds_for(household, [share_id]):
                    return Missing(share_id)
                try:
                    return ShareData(share_id, await self._shares.get(share_id))
                except (NotFoundError, CitizenError):
                    return Missing(share_id)
            case Challenge(share_ids, nonce):
                held = await self._local.holds_for(household, share_ids)
                proofs = await self._shares.prove(
                    [s if s in held else ShareId("-") for s in share_ids], nonce
                )
                return Proof(nonce, tuple(proofs))
            case DeleteShares(owner, share_ids, issued, signature):
                if owner != household:
                    raise RemoteProtocolError("A delete for another household's shares.")
                friend = await self._peers.friend(household)
                try:
                    VerifyKey(friend.household_key).verify(
                        delete_payload(owner, share_ids, issued), signature
                    )
                except BadSignatureError as exc:
                    raise RemoteProtocolError(
                        "A delete not signed by the owner household."
                    ) from exc
                return Deleted(await self._shares.delete(household, share_ids))
            case ListHeld(owner, after, limit):
                if owner != household:
                    raise RemoteProtocolError("A list of another household's shares.")
                ids = await self._shares.held_for(household, after, limit + 1)
                return Held(tuple(ids[:limit]), len(ids) > limit)
            case _:
                raise RemoteProtocolError(f"{type(msg).__name__} is not a request.")

    async def _store(self, household: HouseholdId, msg: StoreShare) -> StoreResult:
        if msg.owner != household:
            return StoreResult(
                msg.share_id,
                StoreCode.NOT_AUTHORIZED,
                "A device may only store shares for its own household.",
            )
        try:
            await self._shares.put(
                household, msg.share_id, msg.data, await self.quota_of(household)
            )
        except QuotaError as exc:
            return StoreResult(msg.share_id, StoreCode.QUOTA, exc.message[:1000])
        except ShareHashMismatchError as exc:
            return StoreResult(msg.share_id, StoreCode.BAD_HASH, exc.message[:1000])
        except (CitizenError, OSError) as exc:
            if find_disk_full(exc) is not None:
                log.warning("%s", disk_full(f"Storing a share for {await self._name(household)}"))
                return StoreResult(msg.share_id, StoreCode.STORE, FRIEND_DISK_FULL)
            if not isinstance(exc, CitizenError):
                raise
            log.warning("could not store a share for %s: %s", household, exc)
            return StoreResult(msg.share_id, StoreCode.STORE, exc.message[:1000])
        return StoreResult(msg.share_id, StoreCode.OK)

    async def _name(self, household: HouseholdId) -> str:
        try:
            return str(getattr(await self._peers.friend(household), "name", household))
        except CitizenError:
            return household
