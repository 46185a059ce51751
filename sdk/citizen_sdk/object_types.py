"""What the SDK's objects area returns: frozen dataclasses parsed from the daemon's JSON.

As in `citizen_sdk.types`: each `from_json` takes any decoded JSON value and
returns the typed result or raises `RemoteProtocolError`; fields a newer
daemon adds are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from citizen.ids import HouseholdId, ObjectId
from citizen_sdk._json import as_list as _list
from citizen_sdk._json import as_map as _map
from citizen_sdk._json import flag as _bool
from citizen_sdk._json import integer as _int
from citizen_sdk._json import text as _str
from citizen_sdk._json import texts as _strs
from citizen_sdk._json import wrong as _wrong


def _int_map(value: object, key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in _map(value if value is not None else {}).items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise _wrong(key, "a map of integers")
        out[k] = v
    return out


def _ints(value: object, key: str) -> tuple[int, ...]:
    out: list[int] = []
    for v in _list(value):
        if not isinstance(v, int) or isinstance(v, bool):
            raise _wrong(key, "a list of integers")
        out.append(v)
    return tuple(out)


def _share_number(text: str, key: str) -> int:
    if not text.isdigit():
        raise _wrong(key, "keyed by share numbers")
    return int(text)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A file stored across friends, as the household index records it.

    Pass it (or just its `object_id`) to `Objects.get` to read the file back.

    Attributes:
        state: "complete", or "under-replicated" until repair places every share.
        local: this device keeps a plaintext copy.
        placement: share number -> the friend household holding that share.
        bad: friend household -> share numbers it lost or damaged.
    """

    object_id: ObjectId
    name: str
    size: int
    segments: int
    k: int
    n: int
    created: int
    state: str
    local: bool
    placement: Mapping[int, HouseholdId]
    bad: Mapping[HouseholdId, tuple[int, ...]]

    @classmethod
    def from_json(cls, value: object) -> ObjectRef:
        m = _map(value)
        placement = _map(m.get("placement", {}))
        holders: dict[int, HouseholdId] = {}
        for number, holder in placement.items():
            if not isinstance(holder, str):
                raise _wrong("placement", "a map of household IDs")
            holders[_share_number(number, "placement")] = HouseholdId(holder)
        bad = _map(m.get("bad", {}))
        return cls(
            object_id=ObjectId(_str(m, "object_id")),
            name=_str(m, "name"),
            size=_int(m, "size"),
            segments=_int(m, "segments"),
            k=_int(m, "k"),
            n=_int(m, "n"),
            created=_int(m, "created"),
            state=_str(m, "state"),
            local=_bool(m, "local"),
            placement=holders,
            bad={HouseholdId(h): _ints(nums, "bad") for h, nums in bad.items()},
        )

    @classmethod
    def list_from_json(cls, value: object) -> list[ObjectRef]:
        return [cls.from_json(item) for item in _list(value)]


@dataclass(frozen=True, slots=True)
class EvictedObject:
    """The result of `Objects.evict`: the object, and whether a local copy was dropped."""

    ref: ObjectRef
    evicted: bool

    @classmethod
    def from_json(cls, value: object) -> EvictedObject:
        return cls(ObjectRef.from_json(value), _bool(_map(value), "evicted"))


@dataclass(frozen=True, slots=True)
class RemovedObject:
    """The result of `Objects.remove`.

    Attributes:
        deleted: friend household -> shares it deleted for us.
        unreachable: holders that were offline; their shares are reclaimed by a later repair.
    """

    object_id: ObjectId
    deleted: Mapping[HouseholdId, int]
    unreachable: tuple[HouseholdId, ...]

    @classmethod
    def from_json(cls, value: object) -> RemovedObject:
        m = _map(value)
        return cls(
            ObjectId(_str(m, "object_id")),
            {HouseholdId(h): n for h, n in _int_map(m.get("deleted"), "deleted").items()},
            tuple(HouseholdId(h) for h in _strs(m, "unreachable", default=())),
        )


@dataclass(frozen=True, slots=True)
class ShareProblem:
    """A share (number) of one segment that a holder lacks or holds damaged."""

    share_number: int
    segment: int

    @classmethod
    def from_json(cls, value: object) -> ShareProblem:
        m = _map(value)
        return cls(_int(m, "share_number"), _int(m, "segment"))


@dataclass(frozen=True, slots=True)
class HolderCheck:
    """What one friend household proved about the shares of one object.

    Attributes:
        unreachable: why it could not be asked, or None.
        proofs_checked: proofs were compared with our local copy (else only
            "answered" could be told from "refused").
    """

    household: HouseholdId
    share_numbers: tuple[int, ...]
    ok: int
    missing: tuple[ShareProblem, ...]
    bad: tuple[ShareProblem, ...]
    unreachable: str | None
    proofs_checked: bool
    healthy: bool

    @classmethod
    def from_json(cls, value: object) -> HolderCheck:
        m = _map(value)
        unreachable = m.get("unreachable")
        if unreachable is not None and not isinstance(unreachable, str):
            raise _wrong("unreachable", "a string or null")
        return cls(
            household=HouseholdId(_str(m, "household")),
            share_numbers=_ints(m.get("share_numbers", []), "share_numbers"),
            ok=_int(m, "ok"),
            missing=tuple(ShareProblem.from_json(p) for p in _list(m.get("missing", []))),
            bad=tuple(ShareProblem.from_json(p) for p in _list(m.get("bad", []))),
            unreachable=unreachable,
            proofs_checked=_bool(m, "proofs_checked"),
            healthy=_bool(m, "healthy"),
        )


@dataclass(frozen=True, slots=True)
class ObjectCheck:
    """The result of `Objects.verify` for one object: every holder's answer."""

    object_id: ObjectId
    name: str
    healthy: bool
    holders: tuple[HolderCheck, ...]

    @classmethod
    def list_from_json(cls, value: object) -> list[ObjectCheck]:
        out = []
        for item in _list(value):
            m = _map(item)
            out.append(
                cls(
                    ObjectId(_str(m, "object_id")),
                    _str(m, "name"),
                    _bool(m, "healthy"),
                    tuple(HolderCheck.from_json(h) for h in _list(m.get("holders", []))),
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class RepairedObject:
    """What repair did to one object.

    Attributes:
        state: the object's state afterwards (None if repairing it failed).
        moved: share number -> (old holder or "", new holder).
        resent: share number -> segments re-sent to the same holder.
        failed: share numbers that could not be re-made or placed.
        error: why repairing this object failed, or None.
    """

    object_id: ObjectId
    state: str | None
    moved: Mapping[int, tuple[str, HouseholdId]]
    resent: Mapping[int, int]
    failed: tuple[int, ...]
    error: str | None

    @classmethod
    def from_json(cls, value: object) -> RepairedObject:
        m = _map(value)
        object_id = ObjectId(_str(m, "object_id"))
        error = m.get("error")
        if isinstance(error, str):
            return cls(object_id, None, {}, {}, (), error)
        moved: dict[int, tuple[str, HouseholdId]] = {}
        for number, move in _map(m.get("moved", {})).items():
            mm = _map(move)
            moved[_share_number(number, "moved")] = (_str(mm, "from"), HouseholdId(_str(mm, "to")))
        resent = {
            _share_number(j, "resent"): count
            for j, count in _int_map(m.get("resent"), "resent").items()
        }
        return cls(
            object_id, _str(m, "state"), moved, resent, _ints(m.get("failed", []), "failed"), None
        )


@dataclass(frozen=True, slots=True)
class RepairReport:
    """The result of `Objects.repair`.

    Attributes:
        reclaimed: friend household -> orphan shares (from interrupted puts) it deleted.
    """

    objects: tuple[RepairedObject, ...]
    reclaimed: Mapping[HouseholdId, int]

    @classmethod
    def from_json(cls, value: object) -> RepairReport:
        m = _map(value)
        return cls(
            tuple(RepairedObject.from_json(o) for o in _list(m.get("objects", []))),
            {HouseholdId(h): n for h, n in _int_map(m.get("reclaimed"), "reclaimed").items()},
        )


@dataclass(frozen=True, slots=True)
class HeldForFriend:
    """Storage we give one friend household: bytes of its shares here, and its quota."""

    household: HouseholdId
    name: str
    used: int
    quota: int

    @classmethod
    def from_json(cls, value: object) -> HeldForFriend:
        m = _map(value)
        return cls(
            HouseholdId(_str(m, "household")), _str(m, "name"), _int(m, "used"), _int(m, "quota")
        )


@dataclass(frozen=True, slots=True)
class HeldByFriend:
    """Bytes of our shares one friend household holds."""

    household: HouseholdId
    name: str
    bytes: int

    @classmethod
    def from_json(cls, value: object) -> HeldByFriend:
        m = _map(value)
        return cls(HouseholdId(_str(m, "household")), _str(m, "name"), _int(m, "bytes"))


@dataclass(frozen=True, slots=True)
class Storage:
    """Storage both ways (`Objects.storage`).

    Attributes:
        under_replicated: our objects that repair still has to complete.
        objects: how many objects this household stores.
        local_bytes: bytes of plaintext copies on this device.
    """

    held_for_friends: tuple[HeldForFriend, ...]
    held_by_friends: tuple[HeldByFriend, ...]
    under_replicated: tuple[ObjectId, ...]
    objects: int
    local_bytes: int

    @classmethod
    def from_json(cls, value: object) -> Storage:
        m = _map(value)
        return cls(
            tuple(HeldForFriend.from_json(h) for h in _list(m.get("held_for_friends", []))),
            tuple(HeldByFriend.from_json(h) for h in _list(m.get("held_by_friends", []))),
            tuple(ObjectId(o) for o in _strs(m, "under_replicated", default=())),
            _int(m, "objects"),
            _int(m, "local_bytes"),
        )
