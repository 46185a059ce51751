"""Where manifests live: the household index doc, one entry per object under ``objects``.

The index is an Automerge doc owned by this household, titled ``household
index``, so it replicates to the household's other devices like any doc. Each
entry is ``objects.<object ID>`` = ``{"manifest": manifest_to_dict(...),
"key": hex object key, "name": ..., "state": "complete" | "under-replicated",
"bad": {household: [share numbers]}}`` and is written only once every share
it names was acknowledged, so an entry always describes a readable object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from automerge.core import ROOT, Document

from citizen.docs.values import delete_path, set_path, to_json
from citizen.errors import NotFoundError, RemoteProtocolError, StoreError
from citizen.ids import DocId, HouseholdId, ObjectId
from citizen.objects.health import COMPLETE, UNDER_REPLICATED
from citizen.objects.manifest import Manifest, manifest_from_dict, manifest_to_dict
from citizen.store.docs import DocCache, DocStore
from citizen.store.objects import LocalObjects

INDEX_TITLE = "household index"


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One object as the index records it."""

    manifest: Manifest
    key: bytes = field(repr=False)
    name: str
    state: str
    bad: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def object_id(self) -> ObjectId:
        return self.manifest.object_id

    def missing_numbers(self) -> set[int]:
        """Share numbers no household holds (placement lacks them)."""
        return set(range(self.manifest.n)) - set(self.manifest.placement)

    def to_value(self) -> dict[str, object]:
        return {
            "manifest": manifest_to_dict(self.manifest),
            "key": self.key.hex(),
            "name": self.name,
            "state": self.state,
            "bad": {h: list(nums) for h, nums in sorted(self.bad.items())},
        }


def entry_from_value(value: object) -> IndexEntry:
    """Validate an entry read from the doc (another device may have written it).

    Raises:
        RemoteProtocolError: malformed.
    """
    if not isinstance(value, dict):
        raise RemoteProtocolError("An index entry is not a map.")
    manifest = manifest_from_dict(value.get("manifest"))
    key_hex, name, state = value.get("key"), value.get("name", ""), value.get("state")
    if not isinstance(key_hex, str) or len(key_hex) != 64:
        raise RemoteProtocolError("An index entry's key is not 64 hex digits.")
    try:
        key = bytes.fromhex(key_hex)
    except ValueError as exc:
        raise RemoteProtocolError("An index entry's key is not hex.") from exc
    if not isinstance(name, str) or state not in (COMPLETE, UNDER_REPLICATED):
        raise RemoteProtocolError("An index entry's name or state is malformed.")
    bad: dict[str, tuple[int, ...]] = {}
    raw_bad = value.get("bad", {})
    if isinstance(raw_bad, dict):
        for holder, nums in raw_bad.items():
            if isinstance(nums, list):
                bad[str(holder)] = tuple(x for x in nums if isinstance(x, int))
    return IndexEntry(manifest, key, name, str(state), bad)


def index_doc_id(household: HouseholdId) -> DocId:
    """The household index doc's ID, derived from the household ID."""
    import hashlib

    import base58

    digest = hashlib.blake2b(household.encode(), digest_size=16, person=b"citizen-index").digest()
    return DocId(base58.b58encode(digest).decode())


class HouseholdIndex:
    """Reads and writes entries of the household index doc (created on first use)."""

    def __init__(
        self, store: DocStore, cache: DocCache, local: LocalObjects, household: HouseholdId
    ) -> None:
        self._store = store
        self._cache = cache
        self._local = local
        self._household = household
        self._doc_id: DocId | None = None

    async def doc_id(self) -> DocId:
        """The index doc: one ID per household, the same on every device, so a second
        device or a recovered one syncs into the same doc instead of starting its own."""
        if self._doc_id is not None:
            return self._doc_id
        found = index_doc_id(self._household)
        try:
            await self._store.info(found)
        except NotFoundError:
            await self._store.create(self._household, INDEX_TITLE, doc_id=found)
        await self._local.set_index_doc(found)
        self._doc_id = found
        return found

    async def _objects(self) -> dict[str, object]:
        doc = await self._cache.get(await self.doc_id())
        root = to_json(doc)
        objects = root.get("objects") if isinstance(root, dict) else None
        return objects if isinstance(objects, dict) else {}

    async def entries(self) -> dict[ObjectId, IndexEntry]:
        """Every valid entry (malformed ones, e.g. from a newer version, are skipped)."""
        out: dict[ObjectId, IndexEntry] = {}
        for object_id, value in (await self._objects()).items():
            try:
                out[ObjectId(object_id)] = entry_from_value(value)
            except RemoteProtocolError:
                continue
        return out

    async def get(self, object_id: str) -> IndexEntry:
        """Raises: NotFoundError: no such object; StoreError: the entry is malformed."""
        doc = await self._cache.get(await self.doc_id())
        root = to_json(doc)
        objects = root.get("objects") if isinstance(root, dict) else None
        if not isinstance(objects, dict) or object_id not in objects:
            raise NotFoundError(f"There is no object {object_id}.", "See `citizen ls`.")
        try:
            return entry_from_value(objects[object_id])
        except RemoteProtocolError as exc:
            raise StoreError(f"The index entry of {object_id} is malformed: {exc.message}") from exc

    async def put(self, entry: IndexEntry) -> None:
        """Record (or replace) an entry; durable when this returns."""
        value = entry.to_value()

        def edit(doc: Document) -> list[bytes]:
            changes: list[bytes] = []
            if "objects" not in doc.keys(ROOT):
                changes += set_path(doc, ("objects",), {})
            changes += set_path(doc, ("objects", str(entry.object_id)), value)
            return changes

        await self._cache.mutate(await self.doc_id(), edit)

    async def remove(self, object_id: ObjectId) -> None:
        await self._cache.mutate(
            await self.doc_id(), lambda doc: delete_path(doc, ("objects", str(object_id)))
        )
