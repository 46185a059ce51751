"""A friend's rows: the store row of a newly paired household, and a friend as the API shows it.

Pure: no I/O; `FriendsService` passes in who is online and how each device
is connected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from citizen.friends.pairing import NewFriend
from citizen.identity.fingerprints import household_id
from citizen.ids import DeviceId, HouseholdId
from citizen.store.friend_records import Friend, FriendDevice


def friend_row(
    friend: NewFriend, *, name: str | None = None, addrs: tuple[str, ...] = ()
) -> Friend:
    """The store row of a household we just paired with (its one device so far)."""
    cert = friend.device_cert
    hh = household_id(friend.household_key)
    now = int(time.time())
    return Friend(
        household=hh,
        household_key=friend.household_key,
        name=name or friend.name,
        secret=friend.secret,
        paired_at=now,
        offer_bytes=None,
        devices=(FriendDevice(cert.device, hh, cert.name, cert.raw, addrs, now),),
        sas=" ".join(friend.sas),
    )


def _last_seen(stored: int | None, heard: float | None) -> int | None:
    if heard is None:
        return stored
    return max(stored or 0, int(heard))


def friend_json(
    f: Friend,
    online: Mapping[DeviceId, HouseholdId],
    kind: Callable[[DeviceId], str | None],
    heard: Callable[[str], float | None] = lambda _device: None,
) -> dict[str, object]:
    """`f` for `GET /v1/friends`: devices online or last heard from, direct or relayed.

    `heard` is when a device last opened a stream to us (newer than the stored
    time, which is written at most once a minute)."""
    seen = {d.device: _last_seen(d.last_seen, heard(d.device)) for d in f.devices}
    devices = [
        {
            "device": d.device,
            "name": d.name,
            "online": d.device in online,
            "connection": kind(d.device),
            "last_seen": seen[d.device],
            "addrs": list(d.addrs),
        }
        for d in f.devices
    ]
    return {
        "household": f.household,
        "name": f.name,
        "online": any(d["online"] for d in devices),
        "last_seen": max((t or 0 for t in seen.values()), default=0) or None,
        "paired_at": f.paired_at,
        "sas": f.sas.split(),
        "offer_bytes": f.offer_bytes,
        "devices": devices,
    }
