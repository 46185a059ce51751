"""The SDK's result types: parsed from the daemon's JSON or refused with RemoteProtocolError."""

from __future__ import annotations

from collections.abc import Callable

import pytest
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

STATUS = {
    "household": "HH",
    "household_name": "alpha",
    "device": "12D3",
    "device_name": "alpha-pi",
    "listen": ["/ip4/127.0.0.1/tcp/1"],
    "uptime_s": 1,
    "friends": 0,
    "offline": False,
    "pid": 7,
    "added_by_a_newer_daemon": {"x": 1},
}
FRIEND = {
    "household": "HH2",
    "name": "beta",
    "online": True,
    "last_seen": None,
    "paired_at": 1700000000,
    "sas": ["a", "b", "c", "d"],
    "offer_bytes": None,
    "devices": [
        {"device": "12D4", "name": "beta-pi", "online": True, "last_seen": 5, "addrs": ["/x"]}
    ],
}
PARSERS: list[Callable[[object], object]] = [
    Status.from_json,
    Invite.from_json,
    InviteState.from_json,
    Pairing.from_json,
    RemovedFriend.from_json,
    Friend.from_json,
    Friend.list_from_json,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["household", "name", "used", "sas", "code", "devices", "online", "x"]),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def test_good_answers_parse() -> None:
    status = Status.from_json(STATUS)
    assert (status.household, status.uptime_s) == ("HH", 1.0)
    assert status.listen == ("/ip4/127.0.0.1/tcp/1",)
    [friend] = Friend.list_from_json([FRIEND])
    assert friend.last_seen is None and friend.offer_bytes is None
    assert friend.sas == ("a", "b", "c", "d")
    assert friend.devices[0].last_seen == 5 and friend.devices[0].addrs == ("/x",)
    assert Invite.from_json({"code": "CC1X", "invite_id": "i", "expires": 9}).qr_svg == ""
    assert InviteState.from_json({"invite_id": "i", "used": False}) == InviteState("i", False)


@pytest.mark.parametrize(
    "bad",
    [
        {**STATUS, "pid": True},
        {**STATUS, "friends": "1"},
        {**STATUS, "listen": "/ip4"},
        {k: v for k, v in STATUS.items() if k != "device"},
        {**STATUS, "uptime_s": None},
    ],
)
def test_wrong_shapes_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(RemoteProtocolError):
        Status.from_json(bad)


@given(value=json_values)
def test_any_json_only_raises_remote_protocol_error(value: object) -> None:
    for parse in PARSERS:
        try:
            parse(value)
        except RemoteProtocolError:
            pass
