"""The SDK's result types: the API's models, decoded from the daemon's JSON or refused.

Decoding is `citizen_sdk._decode.decode`, what `Channel.call` does with
every answer: a shape the models do not describe (missing, extra or mistyped
field, not JSON at all) is a `RemoteProtocolError`, nothing else.
"""

from __future__ import annotations

import json

import msgspec
import pytest
from citizen_sdk._decode import decode
from citizen_sdk.object_types import EvictedObject, ObjectRef, RepairReport, ShareMove
from citizen_sdk.types import (
    Friend,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    Status,
)
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import RemoteProtocolError
from citizen.ids import HouseholdId
from citizen.testing.strategies import json_values as json_values_of

STATUS = {
    "household": "HH",
    "household_name": "alpha",
    "device": "12D3",
    "device_name": "alpha-pi",
    "listen": ["/ip4/127.0.0.1/tcp/1"],
    "uptime_s": 1,
    "friends": 0,
    "friends_online": 0,
    "offline": True,
    "recovering": False,
    "pid": 7,
    "keepalive": None,
    "reachability": "offline",
    "port_mapping": {"enabled": False, "method": None, "external_addrs": [], "error": None},
}
DEVICE = {
    "device": "12D4",
    "name": "beta-pi",
    "online": True,
    "connection": "relayed",
    "last_seen": 5,
    "addrs": ["/x"],
}
FRIEND = {
    "household": "HH2",
    "name": "beta",
    "online": True,
    "last_seen": None,
    "paired_at": 1700000000,
    "sas": ["a", "b", "c", "d"],
    "offer_bytes": None,
    "devices": [DEVICE],
}
OBJECT = {
    "object_id": "o",
    "name": "a.txt",
    "size": 3,
    "segments": 1,
    "k": 1,
    "n": 2,
    "created": 1,
    "state": "complete",
    "local": True,
    "placement": {"0": "HH2", "1": "HH3"},
    "bad": {"HH3": [1]},
}
MODELS: list[type[object]] = [
    Status,
    Invite,
    InviteState,
    Pairing,
    RemovedFriend,
    Friend,
    list[Friend],
    ObjectRef,
    RepairReport,
]

json_values = json_values_of(
    keys=st.sampled_from(["household", "name", "used", "sas", "code", "devices", "online", "x"]),
    floats=True,
)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def test_good_answers_decode() -> None:
    status = decode(Status, _json(STATUS))
    assert (status.household, status.uptime_s, status.reachability) == ("HH", 1.0, "offline")
    assert status.listen == ("/ip4/127.0.0.1/tcp/1",) and status.observed_addrs is None
    [friend] = decode(list[Friend], _json([FRIEND]))
    assert friend.last_seen is None and friend.offer_bytes is None
    assert friend.sas == ("a", "b", "c", "d")
    device = friend.devices[0]
    assert (device.last_seen, device.addrs, device.connection) == (5, ("/x",), "relayed")
    assert decode(Invite, _json({"code": "CC1X", "invite_id": "i", "expires": 9})).qr_svg == ""
    state = decode(InviteState, _json({"invite_id": "i", "used": False}))
    assert state == InviteState(invite_id="i", used=False)
    assert (state.household, state.sas) == (None, ())


def test_objects_decode_with_numbered_keys_and_evicted_has_its_ref() -> None:
    ref = decode(ObjectRef, _json(OBJECT))
    assert ref.placement == {0: "HH2", 1: "HH3"} and ref.bad == {"HH3": (1,)}
    evicted = decode(EvictedObject, _json({**OBJECT, "evicted": True}))
    assert evicted.evicted and evicted.ref == ref
    report = decode(
        RepairReport,
        _json(
            {
                "objects": [
                    {"object_id": "o", "error": "too few friends"},
                    {
                        "object_id": "p",
                        "state": "complete",
                        "moved": {"2": {"from": "", "to": "HH4"}},
                        "resent": {"0": 1},
                        "failed": [],
                    },
                ],
                "reclaimed": {"HH2": 3},
            }
        ),
    )
    failed, repaired = report.objects
    assert failed.error == "too few friends"
    assert failed.state is failed.moved is failed.failed is msgspec.UNSET  # left out, falsy
    assert repaired.error is msgspec.UNSET and not repaired.error and repaired.failed == ()
    assert repaired.moved == {2: ShareMove(from_="", to=HouseholdId("HH4"))}
    assert repaired.resent == {0: 1} and report.reclaimed == {"HH2": 3}


@pytest.mark.parametrize(
    "bad",
    [
        {**STATUS, "pid": True},
        {**STATUS, "friends": "1"},
        {**STATUS, "listen": "/ip4"},
        {k: v for k, v in STATUS.items() if k != "device"},
        {**STATUS, "uptime_s": None},
        {**STATUS, "reachability": "on the moon"},
        # one schema: a field the model does not have is refused, not ignored
        {**STATUS, "added_by_a_newer_daemon": {"x": 1}},
    ],
)
def test_wrong_shapes_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(RemoteProtocolError, match=r"Status|field|Expected|Invalid"):
        decode(Status, _json(bad))


def test_a_friend_device_without_its_connection_is_refused() -> None:
    device = {k: v for k, v in DEVICE.items() if k != "connection"}
    with pytest.raises(RemoteProtocolError, match="connection"):
        decode(Friend, _json({**FRIEND, "devices": [device]}))


def test_not_json_is_refused() -> None:
    for data in (b"", b"{", b"\xff"):
        with pytest.raises(RemoteProtocolError):
            decode(Status, data)


@given(value=json_values)
def test_any_json_only_raises_remote_protocol_error(value: object) -> None:
    data = msgspec.json.encode(value)
    for model in MODELS:
        try:
            decode(model, data)
        except RemoteProtocolError:
            pass
