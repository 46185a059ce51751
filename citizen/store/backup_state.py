"""The household's state as sealed in a backup: friends, docs and grants, as canonical CBOR.

Pure (no I/O). `citizen.store.backups` writes a decoded state back whole.
Friends carry their last-writer-wins stamp (`changed_at`) and removed friends
their tombstones (`removed`); both are optional on decoding, so backups made
before they existed still restore.
"""

from __future__ import annotations

from dataclasses import dataclass

from citizen import cbor
from citizen.errors import RemoteProtocolError
from citizen.identity.backup import MAX_BACKUP_SIZE
from citizen.identity.certs import MAX_CERT_SIZE

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class DeviceState:
    device: str
    name: str
    cert: bytes
    addrs: tuple[str, ...]
    last_seen: int | None = None  # s; between household devices only, never in backups


@dataclass(frozen=True, slots=True)
class FriendState:
    household: str
    household_key: bytes
    name: str
    secret: bytes
    paired_at: int
    offer_bytes: int | None
    sas: str
    devices: tuple[DeviceState, ...]
    changed_at: int = 0  # ms; 0 (an old backup) stands for paired_at


@dataclass(frozen=True, slots=True)
class FriendRemoval:
    """A removed friend's tombstone: only a pairing stamped later brings it back."""

    household: str
    removed_at: int  # ms
    removed_by: str  # the device ID that removed it


@dataclass(frozen=True, slots=True)
class DocState:
    doc_id: str
    owner: str
    title: str
    snapshot: bytes


@dataclass(frozen=True, slots=True)
class HouseholdState:
    household_name: str
    created: int
    friends: tuple[FriendState, ...]
    docs: tuple[DocState, ...]
    grants: tuple[bytes, ...]
    removed: tuple[FriendRemoval, ...] = ()


MAX_DEVICES = 64
MAX_ADDRS = 64
MAX_ADDR_LEN = 512
MAX_STAMP = 2**62


def friend_to_cbor(f: FriendState, *, with_seen: bool = False) -> dict[str, object]:
    """A friend as backups and `/citizen/household-friends/1` carry it.

    `with_seen` adds each device's last-seen time (between household devices;
    backups never hold it).
    """
    devices: list[dict[str, object]] = []
    for d in f.devices:
        device: dict[str, object] = {
            "device": d.device,
            "name": d.name,
            "cert": d.cert,
            "addrs": list(d.addrs),
        }
        if with_seen:
            device["seen"] = d.last_seen
        devices.append(device)
    return {
        "household": f.household,
        "key": f.household_key,
        "name": f.name,
        "secret": f.secret,
        "paired_at": f.paired_at,
        "offer": f.offer_bytes,
        "sas": f.sas,
        "changed": f.changed_at,
        "devices": devices,
    }


def removal_to_cbor(r: FriendRemoval) -> dict[str, object]:
    return {"household": r.household, "at": r.removed_at, "by": r.removed_by}


def _stamp(m: dict[str, object], key: str, what: str) -> int:
    value = cbor.field_int(m, key, what)
    if not 0 <= value < MAX_STAMP:
        raise RemoteProtocolError(f"{what}: {key!r} is out of range.")
    return value


def _opt_stamp(m: dict[str, object], key: str, what: str) -> int | None:
    return None if m.get(key) is None else _stamp(m, key, what)


def friend_from_cbor(raw: object, what: str) -> FriendState:
    """The inverse of `friend_to_cbor`; a missing stamp is 0 (a backup older than stamps).

    Raises:
        RemoteProtocolError: a wrong type, size or range anywhere.
    """
    f = cbor.as_map(raw, what)
    devices = []
    for raw_device in cbor.field_list(f, "devices", what, max_len=MAX_DEVICES):
        d = cbor.as_map(raw_device, what)
        addrs = cbor.field_list(d, "addrs", what, max_len=MAX_ADDRS)
        if not all(isinstance(a, str) and len(a) <= MAX_ADDR_LEN for a in addrs):
            raise RemoteProtocolError(f"{what}: addresses must be short text.")
        cert = cbor.field_bytes(d, "cert", what)
        if len(cert) > MAX_CERT_SIZE:
            raise RemoteProtocolError(f"{what}: a device certificate is too long.")
        devices.append(
            DeviceState(
                cbor.field_str(d, "device", what, max_len=128),
                cbor.field_str(d, "name", what, max_len=128),
                cert,
                tuple(str(a) for a in addrs),
                _opt_stamp(d, "seen", what),
            )
        )
    return FriendState(
        cbor.field_str(f, "household", what, max_len=64),
        cbor.field_bytes(f, "key", what, size=32),
        cbor.field_str(f, "name", what, max_len=128),
        cbor.field_bytes(f, "secret", what, size=32),
        _stamp(f, "paired_at", what),
        _opt_stamp(f, "offer", what),
        cbor.field_str(f, "sas", what, max_len=256),
        tuple(devices),
        _stamp(f, "changed", what) if "changed" in f else 0,
    )


def removal_from_cbor(raw: object, what: str) -> FriendRemoval:
    r = cbor.as_map(raw, what)
    return FriendRemoval(
        cbor.field_str(r, "household", what, max_len=64),
        _stamp(r, "at", what),
        cbor.field_str(r, "by", what, max_len=128),
    )


def encode_state(state: HouseholdState) -> bytes:
    return cbor.dumps(
        {
            "v": STATE_VERSION,
            "name": state.household_name,
            "created": state.created,
            "friends": [friend_to_cbor(f) for f in state.friends],
            "docs": [
                {"id": d.doc_id, "owner": d.owner, "title": d.title, "snapshot": d.snapshot}
                for d in state.docs
            ],
            "grants": list(state.grants),
            "removed": [removal_to_cbor(r) for r in state.removed],
        }
    )


def decode_state(data: bytes) -> HouseholdState:
    """Decode a decrypted backup; raises only RemoteProtocolError."""
    what = "backup contents"
    m = cbor.as_map(cbor.loads(data, max_size=MAX_BACKUP_SIZE, what=what), what)
    if cbor.field_int(m, "v", what) != STATE_VERSION:
        raise RemoteProtocolError(f"{what} have an unknown version.")
    friends = [
        friend_from_cbor(f, what) for f in cbor.field_list(m, "friends", what, max_len=10_000)
    ]
    old = "removed" not in m  # a backup older than tombstones
    removed = [
        removal_from_cbor(r, what)
        for r in ([] if old else cbor.field_list(m, "removed", what, max_len=100_000))
    ]
    docs = []
    for raw in cbor.field_list(m, "docs", what, max_len=1_000_000):
        d = cbor.as_map(raw, what)
        docs.append(
            DocState(
                cbor.field_str(d, "id", what, max_len=64),
                cbor.field_str(d, "owner", what, max_len=64),
                cbor.field_str(d, "title", what, max_len=1024),
                cbor.field_bytes(d, "snapshot", what),
            )
        )
    grants = cbor.field_list(m, "grants", what, max_len=1_000_000)
    if not all(isinstance(g, bytes) for g in grants):
        raise RemoteProtocolError(f"{what}: grants must be bytes.")
    return HouseholdState(
        cbor.field_str(m, "name", what, max_len=128),
        cbor.field_int(m, "created", what),
        tuple(friends),
        tuple(docs),
        tuple(g for g in grants if isinstance(g, bytes)),
        tuple(removed),
    )
