"""Pairing decisions, pure: build and check the proofs of `/citizen/pair/1`.

The inviter checks a `PairRequest` against its pending invite and the
connection's authenticated peer ID; the acceptor checks the `PairAccept`
against the invite it scanned. Either check returns the new friend to store,
or raises a typed error and nothing is stored. A household that is already a
friend (it lost its devices and recovered its key from the phrase) is welcomed
back: `welcome_back` hands it the friendship secret both already share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from citizen.errors import CertificateError, InviteError, NotAuthorizedError
from citizen.friends.pair_codec import PairAccept, PairRequest
from citizen.identity.certs import DeviceCertificate, verify_certificate_for
from citizen.identity.invites import (
    Invite,
    Transcript,
    friendship_secret,
    sas_words,
)


@dataclass(frozen=True, slots=True)
class Me:
    household_key: bytes
    household_name: str
    cert: bytes
    device: str


@dataclass(frozen=True, slots=True)
class NewFriend:
    household_key: bytes
    name: str
    secret: bytes
    device_cert: DeviceCertificate
    sas: tuple[str, ...]
    #: the inviter already knew this household: `secret` is the existing friendship's
    returning: bool = False


def make_request(invite: Invite, me: Me) -> PairRequest:
    transcript = Transcript(
        invite.invite_id, invite.peer, me.device, invite.household_key, me.household_key
    )
    return PairRequest(
        invite_id=invite.invite_id,
        household_key=me.household_key,
        household_name=me.household_name,
        cert=me.cert,
        mac=transcript.mac(invite.secret, "acceptor"),
    )


def _peer_cert(data: bytes, household_key: bytes, peer: str) -> DeviceCertificate:
    try:
        return verify_certificate_for(data, household_key=household_key, device=peer)  # type: ignore[arg-type]
    except CertificateError as exc:
        raise NotAuthorizedError(
            f"The other device's certificate was refused: {exc.message}", exc.hint
        ) from exc


def check_request(
    request: PairRequest, *, invite_secret: bytes, me: Me, peer: str
) -> tuple[NewFriend, PairAccept]:
    """Inviter side. `peer` is the connection's Noise-authenticated peer ID.

    Raises:
        InviteError: the proof does not match (wrong secret, or bound to other parties).
        NotAuthorizedError: the certificate is not the connected device's, or is ours.
    """
    if request.household_key == me.household_key:
        raise NotAuthorizedError(
            "A device of this same household tried to pair as a friend.",
            "Use `citizen device add` to add a device to your household.",
        )
    transcript = Transcript(
        request.invite_id, me.device, peer, me.household_key, request.household_key
    )
    if not transcript.check(invite_secret, "acceptor", request.mac):
        raise InviteError(
            "The pairing proof does not match the invite.",
            "The code was forged, mistyped or is for another device; ask for a new invite.",
        )
    cert = _peer_cert(request.cert, request.household_key, peer)
    friend = NewFriend(
        household_key=request.household_key,
        name=request.household_name,
        secret=friendship_secret(invite_secret, me.household_key, request.household_key),
        device_cert=cert,
        sas=tuple(sas_words(invite_secret, me.household_key, request.household_key)),
    )
    accept = PairAccept(
        household_key=me.household_key,
        household_name=me.household_name,
        cert=me.cert,
        mac=transcript.mac(invite_secret, "inviter"),
    )
    return friend, accept


def check_accept(accept: PairAccept, *, invite: Invite, me: Me, peer: str) -> NewFriend:
    """Acceptor side: the inviter must prove the same secret and be the invite's household.

    Raises:
        InviteError: the answer is not from the household that made the invite.
        NotAuthorizedError: its certificate is not the connected device's.
    """
    if accept.household_key != invite.household_key or peer != invite.peer:
        raise InviteError(
            "The device that answered is not the one that made the invite.",
            "Nothing was stored. Ask your friend for a new invite.",
        )
    transcript = Transcript(
        invite.invite_id, invite.peer, me.device, invite.household_key, me.household_key
    )
    if not transcript.check(invite.secret, "inviter", accept.mac):
        raise InviteError(
            "The inviter's pairing proof does not match the invite.",
            "Nothing was stored. Ask your friend for a new invite.",
        )
    cert = _peer_cert(accept.cert, invite.household_key, peer)
    returning = accept.returning is not None
    return NewFriend(
        household_key=accept.household_key,
        name=accept.household_name,
        secret=accept.returning
        if accept.returning is not None
        else friendship_secret(invite.secret, me.household_key, accept.household_key),
        device_cert=cert,
        sas=tuple(sas_words(invite.secret, me.household_key, accept.household_key)),
        returning=returning,
    )


def welcome_back(accept: PairAccept, secret: bytes) -> PairAccept:
    """Inviter side, the acceptor's household is already a friend: keep the friendship.

    The acceptor's new device proved (its certificate, checked in `check_request`)
    that it belongs to that household, so it gets the secret both already share,
    and with it the same rendezvous namespaces as before.
    """
    return replace(accept, returning=secret)
