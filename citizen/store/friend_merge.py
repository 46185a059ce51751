"""The household's friend list as a last-writer-wins set: checking and merging copies, pure.

Per friend household a device holds either the friend (`FriendState`, stamped
`changed_at`) or its tombstone (`FriendRemoval`, stamped `removed_at`), both
in milliseconds. Merging another device's copy keeps, per household, the entry
with the higher stamp; on a tie a removal wins. So an older copy on another
device never brings a removed friend back, while a pairing stamped after the
removal does. When the friend stays, its devices are the union of both copies
minus revoked devices, each with the addresses of its latest sighting.
`check_entries` is what a copy from a peer must pass before it is merged. No
I/O: `citizen.store.friend_sync` runs this inside one SQLite transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from citizen.errors import CertificateError, IdFormatError, RemoteProtocolError
from citizen.identity.certs import verify_certificate_for
from citizen.identity.fingerprints import (
    device_public_key_from_id,
    household_id,
    parse_household_id,
)
from citizen.ids import DeviceId
from citizen.store.backup_state import DeviceState, FriendRemoval, FriendState

Entry = FriendState | FriendRemoval

#: how far ahead of our clock a peer's stamp may be (clocks of household devices drift)
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Merged:
    """What merging a copy changes.

    Attributes:
        writes: the new entry of each household that changed, to store.
        added: households that are friends now and were not before.
        removed: our friends (as they were) that the merge removed: their
            devices are to be disconnected and their grants dropped.
    """

    writes: tuple[Entry, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[FriendState, ...] = ()


def stamp_of(entry: Entry) -> int:
    """The entry's last-writer-wins time in ms (a friend from an old backup: its pairing)."""
    match entry:
        case FriendRemoval():
            return entry.removed_at
        case FriendState():
            return entry.changed_at or entry.paired_at * 1000


def _rank(entry: Entry) -> tuple[int, int, bytes, str, str, int, int]:
    # a total order, the same on every device: stamp, then removal over friend, then content
    match entry:
        case FriendRemoval():
            return (entry.removed_at, 1, entry.removed_by.encode(), "", "", 0, 0)
        case FriendState():
            offer = -1 if entry.offer_bytes is None else entry.offer_bytes
            return (stamp_of(entry), 0, entry.secret, entry.name, entry.sas, offer, entry.paired_at)


def normalized(entry: Entry) -> Entry:
    """The entry with its stamp filled in and its devices in device-ID order."""
    match entry:
        case FriendRemoval():
            return entry
        case FriendState():
            devices = tuple(sorted(entry.devices, key=lambda d: d.device))
            return replace(entry, changed_at=stamp_of(entry), devices=devices)


def merge_entry(local: Entry | None, remote: Entry, revoked: Collection[str]) -> Entry | None:
    """The household's entry after merging `remote` into `local`; None if `local` stays.

    Commutative: merging a into b and b into a gives the same friend.
    """
    remote = normalized(remote)
    if local is not None:
        local = normalized(local)
    winner = remote if local is None or _rank(remote) > _rank(local) else local
    if isinstance(winner, FriendRemoval):
        return None if winner == local else winner
    mine = {d.device: d for d in local.devices} if isinstance(local, FriendState) else {}
    theirs = {d.device: d for d in remote.devices} if isinstance(remote, FriendState) else {}
    first = theirs if winner is remote else mine  # its names and certificates win
    devices: dict[str, DeviceState] = {}
    for d in (*first.values(), *mine.values(), *theirs.values()):
        if d.device in revoked or d.device in devices:
            continue
        # addresses: from whichever device saw it last
        seen = [x for x in (mine.get(d.device), theirs.get(d.device)) if x is not None]
        latest = max(seen, key=lambda x: (x.last_seen or 0, x.addrs, x.last_seen is not None))
        devices[d.device] = replace(d, addrs=latest.addrs, last_seen=latest.last_seen)
    result = normalized(replace(winner, devices=tuple(devices.values())))
    return None if result == local else result


def merge(local: Mapping[str, Entry], remote: Iterable[Entry], revoked: Collection[str]) -> Merged:
    """Merge another device's copy (`remote`) into ours (`local`, by household)."""
    writes: list[Entry] = []
    added: list[str] = []
    removed: list[FriendState] = []
    for entry in remote:
        before = local.get(entry.household)
        after = merge_entry(before, entry, revoked)
        if after is None:
            continue
        writes.append(after)
        if isinstance(after, FriendState) and not isinstance(before, FriendState):
            added.append(after.household)
        if isinstance(after, FriendRemoval) and isinstance(before, FriendState):
            removed.append(before)
    return Merged(tuple(writes), tuple(added), tuple(removed))


def check_entries(entries: Iterable[Entry], *, ours: str, now_ms: int) -> None:
    """Check a copy from another device before merging it: all of it, or nothing merges.

    Raises:
        RemoteProtocolError: a household twice or our own, a household ID that
            is not its key's, a stamp far in the future, a device certificate
            not signed by the friend's household key or for another device.
    """
    seen: set[str] = set()
    for entry in entries:
        if entry.household in seen:
            raise RemoteProtocolError(f"friend list names household {entry.household} twice.")
        seen.add(entry.household)
        if entry.household == ours:
            raise RemoteProtocolError("friend list names our own household as a friend.")
        if not 0 <= stamp_of(entry) <= now_ms + MAX_CLOCK_SKEW_MS:
            raise RemoteProtocolError(
                f"friend list stamps {entry.household} at {stamp_of(entry)} ms, outside"
                " [0, now + a day]; check the clock of the device that sent it."
            )
        match entry:
            case FriendRemoval():
                _check_removal(entry)
            case FriendState():
                _check_friend(entry, now_ms // 1000)


def _check_removal(entry: FriendRemoval) -> None:
    try:
        if parse_household_id(entry.household) != entry.household:
            raise RemoteProtocolError(f"removed household {entry.household!r} is not canonical.")
        device_public_key_from_id(entry.removed_by)
    except IdFormatError as exc:
        raise RemoteProtocolError(f"friend list has a bad removal: {exc.message}") from exc


def _check_friend(entry: FriendState, now_s: int) -> None:
    if household_id(entry.household_key) != entry.household:
        raise RemoteProtocolError(f"friend {entry.household} does not match its household key.")
    if entry.paired_at < 0 or (entry.offer_bytes is not None and entry.offer_bytes < 0):
        raise RemoteProtocolError(f"friend {entry.household} has a negative time or offer.")
    devices: set[str] = set()
    for d in entry.devices:
        if d.device in devices:
            raise RemoteProtocolError(f"friend {entry.household} lists device {d.device} twice.")
        devices.add(d.device)
        if d.last_seen is not None and not 0 <= d.last_seen <= now_s + MAX_CLOCK_SKEW_MS // 1000:
            raise RemoteProtocolError(f"friend {entry.household}'s device {d.device} seen later.")
        try:
            # the signature and the device only: expiry is checked when the device connects
            verify_certificate_for(
                d.cert, household_key=entry.household_key, device=DeviceId(d.device), now=0.0
            )
        except CertificateError as exc:
            raise RemoteProtocolError(
                f"friend {entry.household}'s device {d.device}: {exc.message}"
            ) from exc
