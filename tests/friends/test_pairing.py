"""The pairing decisions, pure: both sides agree, and every forgery is refused."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from citizen.errors import InviteError, NotAuthorizedError
from citizen.friends.pairing import Me, check_accept, check_request, make_request
from citizen.identity.certs import issue_certificate
from citizen.identity.invites import Invite, new_secret


def _me(name: str) -> tuple[Me, SigningKey]:
    household = SigningKey.generate()
    device = SigningKey.generate()
    cert = issue_certificate(household, bytes(device.verify_key), f"{name}-pi")
    return Me(bytes(household.verify_key), name, cert.raw, cert.device), household


def _invite(inviter: Me, secret: bytes) -> Invite:
    return Invite(inviter.household_key, inviter.device, (), secret, 10**10, inviter.household_name)


def test_both_sides_agree() -> None:
    a, _ = _me("a")
    b, _ = _me("b")
    secret = new_secret()
    invite = _invite(a, secret)
    request = make_request(invite, b)
    b_as_seen_by_a, accept = check_request(request, invite_secret=secret, me=a, peer=b.device)
    a_as_seen_by_b = check_accept(accept, invite=invite, me=b, peer=a.device)
    assert b_as_seen_by_a.household_key == b.household_key
    assert a_as_seen_by_b.household_key == a.household_key
    assert b_as_seen_by_a.secret == a_as_seen_by_b.secret
    assert b_as_seen_by_a.sas == a_as_seen_by_b.sas


def test_wrong_secret_or_other_connection_is_refused() -> None:
    a, _ = _me("a")
    b, _ = _me("b")
    mallory, _ = _me("m")
    secret = new_secret()
    request = make_request(_invite(a, secret), b)
    with pytest.raises(InviteError):
        check_request(request, invite_secret=new_secret(), me=a, peer=b.device)
    # a request relayed by another connection (peer) does not verify
    with pytest.raises(InviteError):
        check_request(request, invite_secret=secret, me=a, peer=mallory.device)
    # mallory knows the secret but presents b's certificate: refused
    stolen = make_request(
        _invite(a, secret), Me(mallory.household_key, "m", b.cert, mallory.device)
    )
    with pytest.raises(NotAuthorizedError):
        check_request(stolen, invite_secret=secret, me=a, peer=mallory.device)


def test_accept_from_impostor_is_refused() -> None:
    a, _ = _me("a")
    b, _ = _me("b")
    mallory, _ = _me("m")
    secret = new_secret()
    invite = _invite(a, secret)
    _, accept = check_request(make_request(invite, b), invite_secret=secret, me=a, peer=b.device)
    with pytest.raises(InviteError):
        check_accept(accept, invite=invite, me=b, peer=mallory.device)
    forged = type(accept)(mallory.household_key, "m", mallory.cert, accept.mac)
    with pytest.raises(InviteError):
        check_accept(forged, invite=invite, me=b, peer=a.device)


def test_own_household_cannot_pair_as_friend() -> None:
    a, _ = _me("a")
    secret = new_secret()
    twin = Me(a.household_key, "a", a.cert, a.device)
    with pytest.raises(NotAuthorizedError, match="same household"):
        check_request(
            make_request(_invite(a, secret), twin), invite_secret=secret, me=a, peer=a.device
        )
