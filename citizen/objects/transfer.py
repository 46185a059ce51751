"""Moving shares for one operation: links to holders, fetching a segment, storing, deleting.

A `Transfer` is opened per put, get, verify or repair. It picks one connected
device per friend household, keeps one `HolderLink` per household for the
operation, and remembers which holders failed or served bad shares, so the
caller can record them. A link whose connection breaks resumes once the
device is back (`citizen.objects.resume`); a fetch that has other holders to ask
asks them instead of waiting. Segments are decoded and re-encoded off the
trio thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import trio
from nacl.signing import SigningKey

from citizen.errors import CitizenError, LocalProtocolError, UnreachableError
from citizen.ids import DeviceId, HouseholdId, ObjectId, ShareId
from citizen.objects.codec import (
    MAX_IDS,
    Deleted,
    DeleteShares,
    FetchShare,
    Missing,
    ShareData,
    StoreResult,
    StoreShare,
    delete_payload,
)
from citizen.objects.index import IndexEntry
from citizen.objects.link import HolderLink, Streams
from citizen.objects.manifest import Manifest
from citizen.objects.resume import Presence
from citizen.objects.segments import (
    EncodedSegment,
    decode_segment,
    encode_segment,
    share_hash,
)
from citizen.store.objects import LocalObjects

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StoreOutcome:
    """What happened to one StoreShare: ok, or why not (and whether it was the quota)."""

    ok: bool
    quota: bool = False
    message: str = ""


@dataclass(slots=True)
class Problems:
    """Holders that failed during one operation, by household: share number -> reason."""

    missing: dict[HouseholdId, set[int]] = field(default_factory=dict)
    bad: dict[HouseholdId, set[int]] = field(default_factory=dict)
    unreachable: dict[HouseholdId, str] = field(default_factory=dict)

    def note(self, kind: dict[HouseholdId, set[int]], holder: HouseholdId, number: int) -> None:
        kind.setdefault(holder, set()).add(number)


class Transfer:
    """Links to the online friend households for one operation.

    Args:
        net: opens streams to devices.
        owner: our household ID.
        online: connected friend devices (device -> household).
        household_key: signs DeleteShares.
        presence: lets links wait for a device to be connected again; None never resumes.
    """

    def __init__(
        self,
        net: Streams,
        owner: HouseholdId,
        online: Mapping[DeviceId, HouseholdId],
        household_key: Callable[[], SigningKey],
        presence: Presence | None = None,
    ) -> None:
        self.owner = owner
        self._net = net
        self._presence = presence
        self._household_key = household_key
        self.devices: dict[HouseholdId, DeviceId] = {}
        for device, household in sorted(online.items()):
            if household != owner:
                self.devices.setdefault(household, device)
        self._links: dict[HouseholdId, HolderLink] = {}
        self.problems = Problems()

    def online(self, household: str) -> bool:
        return household in self.devices and household not in self.problems.unreachable

    def link(self, household: HouseholdId) -> HolderLink:
        if not self.online(household):
            raise UnreachableError(f"Friend {household} is not connected.")
        link = self._links.get(household)
        if link is None:
            link = self._links[household] = HolderLink(
                self._net, household, self.devices[household], self._presence
            )
        return link

    async def aclose(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.aclose()

    async def __aenter__(self) -> Transfer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with trio.CancelScope(shield=True):
            await self.aclose()

    def _unreachable(self, household: HouseholdId, exc: CitizenError) -> None:
        if household not in self.problems.unreachable:
            log.info("friend %s failed during an object transfer: %s", household, exc.message)
        self.problems.unreachable[household] = exc.message

    # -- store ----------------------------------------------------------------------

    async def store(
        self,
        holder: HouseholdId,
        object_id: ObjectId,
        segment: EncodedSegment,
        number: int,
    ) -> StoreOutcome:
        """Send share `number` of `segment` to `holder`; never raises for peer failures."""
        share_id = ShareId(segment.share_hashes[number].hex())
        msg = StoreShare(
            self.owner, share_id, object_id, segment.index, number, segment.shares[number]
        )
        try:
            result = await self.link(holder).request(msg, StoreResult)
        except CitizenError as exc:
            self._unreachable(holder, exc)
            return StoreOutcome(False, message=exc.message)
        if result.ok:
            return StoreOutcome(True)
        return StoreOutcome(False, quota=result.code.value == "quota", message=result.message)

    async def delete(self, holder: HouseholdId, share_ids: Iterable[ShareId]) -> int:
        """Ask `holder` to drop `share_ids` (signed); returns how many it dropped.

        Raises:
            UnreachableError: the holder is not connected or the stream broke.
        """
        ids = sorted(set(share_ids))
        key = self._household_key()
        dropped = 0
        for start in range(0, len(ids), MAX_IDS):
            part = tuple(ids[start : start + MAX_IDS])
            issued = int(time.time())
            signature = key.sign(delete_payload(self.owner, part, issued)).signature
            msg = DeleteShares(self.owner, part, issued, signature)
            try:
                answer = await self.link(holder).request(msg, Deleted)
            except CitizenError as exc:
                self._unreachable(holder, exc)
                raise UnreachableError(
                    f"Friend {holder} could not be asked to delete: {exc}"
                ) from exc
            dropped += answer.count
        return dropped

    # -- fetch ----------------------------------------------------------------------

    async def fetch_segment(self, entry: IndexEntry, index: int) -> bytes:
        """Segment `index` of the object, from any k verified shares, decrypted.

        Primary shares (0..k-1) are asked for first (no decoding needed), in
        parallel; each missing, corrupt or failed one is replaced by another.

        Raises:
            UnreachableError: fewer than k good shares could be fetched.
        """
        m = entry.manifest
        info = m.segments[index]
        order = sorted(m.placement, key=lambda j: (j >= m.k, j))
        tried: set[int] = set()
        got: dict[int, bytes] = {}

        async def fetch_one(number: int, resume: bool) -> None:
            holder = m.placement[number]
            share_id = ShareId(info.share_hashes[number].hex())
            try:
                answer: ShareData | Missing = await self.link(holder).request(
                    FetchShare(share_id), (ShareData, Missing), resume=resume
                )
            except CitizenError as exc:
                self._unreachable(holder, exc)
                return
            if isinstance(answer, Missing):
                self.problems.note(self.problems.missing, holder, number)
                return
            assert isinstance(answer, ShareData)
            if (
                len(answer.data) > 4 * 1024 * 1024
                or (await trio.to_thread.run_sync(share_hash, answer.data))
                != info.share_hashes[number]
            ):
                log.warning(
                    "friend %s served a corrupt share %d of %s", holder, number, m.object_id
                )
                self.problems.note(self.problems.bad, holder, number)
                return
            got[number] = answer.data

        while len(got) < m.k:
            batch = [j for j in order if j not in tried and self.online(m.placement[j])][
                : m.k - len(got)
            ]
            if not batch:
                raise UnreachableError(
                    f"Only {len(got)} of the {m.k} shares needed for segment {index} of"
                    f" {m.object_id} could be fetched ({self._why(m)}).",
                    "Wait until more of the friends holding it are online, then try again.",
                )
            tried.update(batch)
            # wait for a holder that breaks only when too few others are left to ask
            left = [j for j in order if j not in tried and self.online(m.placement[j])]
            resume = not enough_spares(batch, left, m.placement)
            async with trio.open_nursery() as nursery:
                for number in batch:
                    nursery.start_soon(fetch_one, number, resume)
        return await trio.to_thread.run_sync(
            decode_segment, entry.key, m.object_id_bytes, index, got, m.k, m.n, info
        )

    def _why(self, m: Manifest) -> str:
        holders = sorted(set(m.placement.values()))
        online = [h for h in holders if self.online(h)]
        return f"{len(online)} of its {len(holders)} holder households are online"

    async def encoded_segment(
        self, entry: IndexEntry, index: int, local: LocalObjects
    ) -> EncodedSegment:
        """Re-make every share of segment `index` (from the local copy, else from friends).

        Encoding is deterministic, so the shares match the manifest's hashes.

        Raises:
            UnreachableError: no local copy and fewer than k shares reachable.
            LocalProtocolError: the re-encoded shares do not match the manifest.
        """
        m = entry.manifest
        if local.has(m.object_id):
            plaintext = await trio.to_thread.run_sync(
                local.read_segment, m.object_id, index, m.segment_size
            )
        else:
            plaintext = await self.fetch_segment(entry, index)
        encoded = await trio.to_thread.run_sync(
            encode_segment, entry.key, m.object_id_bytes, index, plaintext, m.k, m.n
        )
        if encoded.share_hashes != m.segments[index].share_hashes:
            raise LocalProtocolError(
                f"Segment {index} of {m.object_id} re-encodes to different shares;"
                " the local copy or the manifest changed."
            )
        return encoded


def enough_spares(batch: list[int], left: list[int], placement: Mapping[int, str]) -> bool:
    """Whether each share number of `batch` could be replaced by one of `left` at another holder.

    Then a holder whose connection breaks during the fetch is not waited for.
    """
    busy = {placement[j] for j in batch}
    return len([j for j in left if placement[j] not in busy]) >= len(batch)
