"""What the SDK returns: frozen dataclasses parsed from the daemon's JSON, checked field by field.

Each `from_json` accepts any decoded JSON value and either returns the typed
result or raises `RemoteProtocolError` (the daemon answered with a shape this
SDK does not know). Fields the daemon adds later are ignored, so an older SDK
keeps working against a newer daemon.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen.ids import DeviceId, DocId, HouseholdId
from citizen_sdk._json import as_list as _list
from citizen_sdk._json import as_map as _map
from citizen_sdk._json import flag as _bool
from citizen_sdk._json import integer as _int
from citizen_sdk._json import number as _float
from citizen_sdk._json import opt_integer as _opt_int
from citizen_sdk._json import text as _str
from citizen_sdk._json import texts as _strs
from citizen_sdk._json import wrong as _wrong


@dataclass(frozen=True, slots=True)
class Status:
    """This device and its daemon (`GET /v1/status`)."""

    household: HouseholdId
    household_name: str
    device: DeviceId
    device_name: str
    listen: tuple[str, ...]
    uptime_s: float
    friends: int
    offline: bool
    pid: int

    @classmethod
    def from_json(cls, value: object) -> Status:
        m = _map(value)
        return cls(
            household=HouseholdId(_str(m, "household")),
            household_name=_str(m, "household_name"),
            device=DeviceId(_str(m, "device")),
            device_name=_str(m, "device_name"),
            listen=_strs(m, "listen"),
            uptime_s=_float(m, "uptime_s"),
            friends=_int(m, "friends"),
            offline=_bool(m, "offline"),
            pid=_int(m, "pid"),
        )


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite to give a friend's household: the code, or the same code as a QR code.

    Attributes:
        code: the text code (starts with CC1) the friend accepts.
        invite_id: to ask later whether it has been used.
        expires: Unix time after which the code is refused.
        qr_svg: the code as an SVG QR code, for a screen to show.
    """

    code: str
    invite_id: str
    expires: int
    qr_svg: str

    @classmethod
    def from_json(cls, value: object) -> Invite:
        m = _map(value)
        qr = m.get("qr_svg", "")
        if not isinstance(qr, str):
            raise _wrong("qr_svg", "a string")
        return cls(_str(m, "code"), _str(m, "invite_id"), _int(m, "expires"), qr)


@dataclass(frozen=True, slots=True)
class InviteState:
    """Whether an invite was used, and by which household (then with the SAS words)."""

    invite_id: str
    used: bool
    household: HouseholdId | None = None
    name: str | None = None
    sas: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: object) -> InviteState:
        m = _map(value)
        used = _bool(m, "used")
        if not used:
            return cls(_str(m, "invite_id"), used)
        return cls(
            _str(m, "invite_id"),
            used,
            HouseholdId(_str(m, "household")),
            _str(m, "name"),
            _strs(m, "sas"),
        )


@dataclass(frozen=True, slots=True)
class Pairing:
    """The result of accepting an invite: the new friend and the words to compare aloud."""

    household: HouseholdId
    name: str
    sas: tuple[str, ...]

    @classmethod
    def from_json(cls, value: object) -> Pairing:
        m = _map(value)
        return cls(HouseholdId(_str(m, "household")), _str(m, "name"), _strs(m, "sas"))


@dataclass(frozen=True, slots=True)
class FriendDevice:
    """One device of a friend household."""

    device: DeviceId
    name: str
    online: bool
    last_seen: int | None
    addrs: tuple[str, ...]

    @classmethod
    def from_json(cls, value: object) -> FriendDevice:
        m = _map(value)
        return cls(
            DeviceId(_str(m, "device")),
            _str(m, "name"),
            _bool(m, "online"),
            _opt_int(m, "last_seen"),
            _strs(m, "addrs", default=()),
        )


@dataclass(frozen=True, slots=True)
class Friend:
    """A friend household.

    Attributes:
        online: at least one of its devices is connected now.
        last_seen: Unix time any of its devices was last connected, or None.
        paired_at: Unix time of pairing.
        sas: the words both sides compared when pairing.
        offer_bytes: storage offered to this friend, None for the configured default.
    """

    household: HouseholdId
    name: str
    online: bool
    last_seen: int | None
    paired_at: int
    sas: tuple[str, ...]
    offer_bytes: int | None
    devices: tuple[FriendDevice, ...]

    @classmethod
    def from_json(cls, value: object) -> Friend:
        m = _map(value)
        return cls(
            household=HouseholdId(_str(m, "household")),
            name=_str(m, "name"),
            online=_bool(m, "online"),
            last_seen=_opt_int(m, "last_seen"),
            paired_at=_int(m, "paired_at"),
            sas=_strs(m, "sas"),
            offer_bytes=_opt_int(m, "offer_bytes"),
            devices=tuple(FriendDevice.from_json(d) for d in _list(m.get("devices", []))),
        )

    @classmethod
    def list_from_json(cls, value: object) -> list[Friend]:
        return [cls.from_json(item) for item in _list(value)]


@dataclass(frozen=True, slots=True)
class RemovedFriend:
    """The household that is no longer a friend."""

    household: HouseholdId
    name: str

    @classmethod
    def from_json(cls, value: object) -> RemovedFriend:
        m = _map(value)
        return cls(HouseholdId(_str(m, "household")), _str(m, "name"))


@dataclass(frozen=True, slots=True)
class DocShare:
    """A friend household one of our docs is shared with, and as what."""

    friend: HouseholdId
    role: str

    @classmethod
    def from_json(cls, value: object) -> DocShare:
        m = _map(value)
        return cls(HouseholdId(_str(m, "friend")), _str(m, "role"))


@dataclass(frozen=True, slots=True)
class DocInfo:
    """A doc this household holds: its own, or one a friend shared with it.

    Attributes:
        role: what this household may do: "owner", "writer" or "reader".
        updated: when it last changed here (ISO 8601).
        shared_with: for our own docs, the friends it is shared with.
    """

    doc_id: DocId
    title: str
    owner: HouseholdId
    role: str
    updated: str
    shared_with: tuple[DocShare, ...]

    @classmethod
    def from_json(cls, value: object) -> DocInfo:
        m = _map(value)
        return cls(
            doc_id=DocId(_str(m, "doc_id")),
            title=_str(m, "title"),
            owner=HouseholdId(_str(m, "owner")),
            role=_str(m, "role"),
            updated=_str(m, "updated"),
            shared_with=tuple(DocShare.from_json(s) for s in _list(m.get("shared_with", []))),
        )

    @classmethod
    def list_from_json(cls, value: object) -> list[DocInfo]:
        return [cls.from_json(item) for item in _list(value)]


@dataclass(frozen=True, slots=True)
class SharedDoc:
    """The result of sharing a doc: with which friend household, named what, as what role."""

    doc_id: DocId
    friend: HouseholdId
    name: str
    role: str

    @classmethod
    def from_json(cls, value: object) -> SharedDoc:
        m = _map(value)
        return cls(
            DocId(_str(m, "doc_id")),
            HouseholdId(_str(m, "friend")),
            _str(m, "name"),
            _str(m, "role"),
        )
