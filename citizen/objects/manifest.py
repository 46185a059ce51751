"""What an object is made of and where its shares live; the read capability; segmenting.

A `Manifest` is stored in the household's index doc (as the plain dict of
`manifest_to_dict`: text, ints and hex strings only, because Automerge has no
good bytes story across languages and counters must never be created) and can
travel as canonical CBOR (`manifest_to_cbor`). Both decoders treat their input
as hostile: anything malformed or inconsistent raises `RemoteProtocolError`.

A `ReadCap` (object ID + key) is what lets someone read an object; its text
form is ``cap:`` + base58 with a 4-byte checksum so a mistyped cap is caught.

`Segmenter` turns a stream of arbitrary chunks into fixed-size segments while
holding at most one segment in memory.
"""

from __future__ import annotations

import hashlib
import math
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import base58

from citizen import cbor
from citizen.errors import LocalProtocolError, RemoteProtocolError, UsageError
from citizen.ids import HouseholdId, ObjectId, random_id_bytes
from citizen.objects.segments import (
    DEFAULT_SEGMENT_SIZE,
    HASH_SIZE,
    KEY_SIZE,
    MAX_N,
    MAX_SEGMENT_SIZE,
    TAG_SIZE,
    SegmentInfo,
)

CIPHER = "xchacha20poly1305"
MANIFEST_VERSION = 1
#: a manifest lists every segment; this bounds one object to ~1 TiB at 1 MiB segments
MAX_SEGMENTS = 1 << 20
MAX_MANIFEST_CBOR = 64 * 1024 * 1024
MAX_HOUSEHOLD_ID_LEN = 128
_WHAT = "manifest"


def segment_count(size: int, segment_size: int) -> int:
    """Segments an object of `size` bytes has (an empty object has one empty segment)."""
    return max(1, math.ceil(size / segment_size))


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything needed to fetch, verify, decrypt (with the key) and repair an object.

    `placement` maps a share number to the household holding that share of
    every segment. It is stored read-only; build a new manifest to change it.
    """

    object_id: ObjectId
    size: int
    segment_size: int
    k: int
    n: int
    segments: tuple[SegmentInfo, ...]
    placement: Mapping[int, HouseholdId]
    created: int
    cipher: str = CIPHER

    def __post_init__(self) -> None:
        object.__setattr__(self, "placement", types.MappingProxyType(dict(self.placement)))

    @property
    def object_id_bytes(self) -> bytes:
        return random_id_bytes(self.object_id, "object ID")

    def share_ids(self, share_number: int) -> list[str]:
        """Hex share IDs of share `share_number` of every segment, in segment order."""
        return [seg.share_hashes[share_number].hex() for seg in self.segments]

    def with_placement(self, changes: Mapping[int, HouseholdId]) -> Manifest:
        """A copy with some share numbers moved to other households (after repair)."""
        merged = dict(self.placement)
        merged.update(changes)
        return Manifest(
            self.object_id,
            self.size,
            self.segment_size,
            self.k,
            self.n,
            self.segments,
            merged,
            self.created,
            self.cipher,
        )


# -- dict / CBOR forms ----------------------------------------------------------------


def _to_dict(m: Manifest, hash_form: Callable[[bytes], object]) -> dict[str, object]:
    return {
        "v": MANIFEST_VERSION,
        "object_id": str(m.object_id),
        "size": m.size,
        "segment_size": m.segment_size,
        "k": m.k,
        "n": m.n,
        "cipher": m.cipher,
        "created": m.created,
        "segments": [
            {
                "plaintext_size": s.plaintext_size,
                "ciphertext_size": s.ciphertext_size,
                "share_hashes": [hash_form(h) for h in s.share_hashes],
            }
            for s in m.segments
        ],
        "placement": {str(number): str(holder) for number, holder in sorted(m.placement.items())},
    }


def manifest_to_dict(m: Manifest) -> dict[str, object]:
    """Plain dict for an Automerge doc: str, int, lists and maps; hashes as hex."""
    return _to_dict(m, bytes.hex)


def manifest_to_cbor(m: Manifest) -> bytes:
    """Canonical CBOR (hashes as bytes), e.g. to sign or to send."""
    return cbor.dumps(_to_dict(m, bytes))


def _hash_from_hex(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE:
        raise RemoteProtocolError(f"{_WHAT}: a share hash must be {2 * HASH_SIZE} hex digits.")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise RemoteProtocolError(f"{_WHAT}: a share hash is not hex.") from exc


def _hash_from_bytes(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise RemoteProtocolError(f"{_WHAT}: a share hash must be {HASH_SIZE} bytes.")
    return value


def manifest_from_dict(value: object) -> Manifest:
    """Validate and decode the output of `manifest_to_dict` (as read back from a doc).

    Raises:
        RemoteProtocolError: malformed, or sizes/hashes/placement inconsistent.
    """
    return _from_dict(value, _hash_from_hex)


def manifest_from_cbor(data: bytes) -> Manifest:
    """Validate and decode the output of `manifest_to_cbor`.

    Raises:
        RemoteProtocolError: not CBOR, too large, malformed or inconsistent.
    """
    return _from_dict(cbor.loads(data, max_size=MAX_MANIFEST_CBOR, what=_WHAT), _hash_from_bytes)


def _from_dict(value: object, parse_hash: Callable[[object], bytes]) -> Manifest:
    m = cbor.as_map(value, _WHAT)
    version = cbor.field_int(m, "v", _WHAT)
    if version != MANIFEST_VERSION:
        raise RemoteProtocolError(
            f"{_WHAT} version {version} is not supported (only {MANIFEST_VERSION}).",
            "Upgrade citizen on this device.",
        )
    object_id_text = cbor.field_str(m, "object_id", _WHAT, max_len=64)
    try:
        object_id = ObjectId(base58.b58encode(random_id_bytes(object_id_text)).decode())
    except UsageError as exc:
        raise RemoteProtocolError(f"{_WHAT}: bad object ID: {exc.message}") from exc
    size = cbor.field_int(m, "size", _WHAT)
    segment_size = cbor.field_int(m, "segment_size", _WHAT)
    k = cbor.field_int(m, "k", _WHAT)
    n = cbor.field_int(m, "n", _WHAT)
    created = cbor.field_int(m, "created", _WHAT)
    cipher = cbor.field_str(m, "cipher", _WHAT, max_len=64)
    if cipher != CIPHER:
        raise RemoteProtocolError(f"{_WHAT}: cipher {cipher!r} is not supported.")
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise RemoteProtocolError(f"{_WHAT}: segment size {segment_size} is out of range.")
    if not 1 <= k <= n <= MAX_N:
        raise RemoteProtocolError(f"{_WHAT}: need 1 <= k <= n <= {MAX_N}, got k={k}, n={n}.")
    if not 0 <= size <= MAX_SEGMENTS * segment_size:
        raise RemoteProtocolError(f"{_WHAT}: size {size} is out of range.")
    if created < 0:
        raise RemoteProtocolError(f"{_WHAT}: creation time is negative.")

    raw_segments = cbor.field_list(m, "segments", _WHAT, max_len=MAX_SEGMENTS)
    expected = segment_count(size, segment_size)
    if len(raw_segments) != expected:
        raise RemoteProtocolError(
            f"{_WHAT}: {len(raw_segments)} segments for {size} bytes, expected {expected}."
        )
    segments: list[SegmentInfo] = []
    for i, raw in enumerate(raw_segments):
        what = f"{_WHAT} segment {i}"
        s = cbor.as_map(raw, what)
        plain = cbor.field_int(s, "plaintext_size", what)
        cipher_size = cbor.field_int(s, "ciphertext_size", what)
        last = i == expected - 1
        want = size - segment_size * (expected - 1) if last else segment_size
        if plain != want:
            raise RemoteProtocolError(f"{what}: plaintext size {plain}, expected {want}.")
        if cipher_size != plain + TAG_SIZE:
            raise RemoteProtocolError(f"{what}: ciphertext size {cipher_size} is inconsistent.")
        hashes = cbor.field_list(s, "share_hashes", what, max_len=MAX_N)
        if len(hashes) != n:
            raise RemoteProtocolError(f"{what}: {len(hashes)} share hashes, expected {n}.")
        segments.append(SegmentInfo(plain, cipher_size, tuple(parse_hash(h) for h in hashes)))

    raw_placement = cbor.as_map(m.get("placement"), f"{_WHAT} placement")
    placement: dict[int, HouseholdId] = {}
    for key, holder in raw_placement.items():
        if not key.isdigit() or len(key) > 3 or not 0 <= int(key) < n:
            raise RemoteProtocolError(f"{_WHAT}: placement key {key!r} is not a share number.")
        if not isinstance(holder, str) or not 0 < len(holder) <= MAX_HOUSEHOLD_ID_LEN:
            raise RemoteProtocolError(f"{_WHAT}: placement of share {key} is not a household.")
        placement[int(key)] = HouseholdId(holder)
    return Manifest(
        object_id=object_id,
        size=size,
        segment_size=segment_size,
        k=k,
        n=n,
        segments=tuple(segments),
        placement=placement,
        created=created,
        cipher=cipher,
    )


# -- read capability ------------------------------------------------------------------

CAP_PREFIX = "cap:"
CAP_VERSION = 1
_CAP_CHECKSUM = 4


def _cap_checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_CAP_CHECKSUM, person=b"citizen-readcap").digest()


@dataclass(frozen=True, slots=True)
class ReadCap:
    """Object ID + key: whoever holds this can read the object. Keep it secret."""

    object_id: ObjectId
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE:
            raise LocalProtocolError(f"An object key is {KEY_SIZE} bytes, not {len(self.key)}.")

    def to_text(self) -> str:
        body = bytes([CAP_VERSION]) + random_id_bytes(self.object_id, "object ID") + self.key
        return CAP_PREFIX + base58.b58encode(body + _cap_checksum(body)).decode()

    @classmethod
    def from_text(cls, text: str) -> ReadCap:
        """Parse a pasted capability.

        Raises:
            UsageError: wrong prefix, not base58, wrong length, version or checksum.
        """
        hint = "Copy the whole capability again, including 'cap:'."
        text = text.strip()
        if not text.startswith(CAP_PREFIX) or len(text) > 200:
            raise UsageError("This is not a read capability (it should start with 'cap:').", hint)
        try:
            raw = base58.b58decode(text[len(CAP_PREFIX) :])
        except ValueError as exc:
            raise UsageError("The read capability is not valid base58.", hint) from exc
        if len(raw) != 1 + 16 + KEY_SIZE + _CAP_CHECKSUM:
            raise UsageError("The read capability has the wrong length.", hint)
        body, checksum = raw[:-_CAP_CHECKSUM], raw[-_CAP_CHECKSUM:]
        if _cap_checksum(body) != checksum:
            raise UsageError("The read capability is mistyped (checksum mismatch).", hint)
        if body[0] != CAP_VERSION:
            raise UsageError(
                f"Read capability version {body[0]} is not supported.", "Upgrade citizen."
            )
        object_id = ObjectId(base58.b58encode(body[1:17]).decode())
        return cls(object_id, body[17:])


# -- segmenting a stream --------------------------------------------------------------


class Segmenter:
    """Cut a stream of arbitrary chunks into segments of exactly `segment_size` bytes.

    Feed chunks with `feed` (returns the segments they complete), then call
    `finish` for the short last one. Between calls it holds less than one
    segment. An empty stream yields one empty segment, so every object has at
    least one segment.
    """

    def __init__(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> None:
        if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise LocalProtocolError(f"Segment size {segment_size} is out of range.")
        self.segment_size = segment_size
        self._buffer = bytearray()
        self._emitted = 0
        self._finished = False

    @property
    def segments_emitted(self) -> int:
        return self._emitted

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        if self._finished:
            raise LocalProtocolError("Segmenter.feed() after finish().")
        view = memoryview(chunk).cast("B")
        size = self.segment_size
        out: list[bytes] = []
        while view:
            if not self._buffer and len(view) >= size:
                # Fast path: a whole segment straight from the chunk, one copy.
                segment, view = bytes(view[:size]), view[size:]
            else:
                room = size - len(self._buffer)
                self._buffer += view[:room]
                view = view[room:]
                if len(self._buffer) < size:
                    break
                segment = bytes(self._buffer)
                self._buffer.clear()
            self._emitted += 1
            out.append(segment)
        return out

    def finish(self) -> bytes | None:
        """The last (short, or empty for an empty stream) segment, or None if there is none."""
        if self._finished:
            raise LocalProtocolError("Segmenter.finish() called twice.")
        self._finished = True
        if self._buffer or self._emitted == 0:
            segment = bytes(self._buffer)
            self._buffer.clear()
            self._emitted += 1
            return segment
        return None


def split_segments(
    chunks: Iterable[bytes], segment_size: int = DEFAULT_SEGMENT_SIZE
) -> Iterator[bytes]:
    """Every segment of a chunk stream, in order (see `Segmenter`)."""
    segmenter = Segmenter(segment_size)
    for chunk in chunks:
        yield from segmenter.feed(chunk)
    last = segmenter.finish()
    if last is not None:
        yield last
