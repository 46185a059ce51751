"""Read and write an Automerge doc as plain JSON values, addressed by dotted paths.

This is the one place that reads doc values, so it is where the bindings'
hazards are contained (automerge 1.0.0rc1):

- Reading a counter raises ``pyo3_runtime.PanicException``, which derives
  from `BaseException`. We catch exactly that class (by name: the
  ``pyo3_runtime`` module cannot be imported) and report the value as
  ``{"$unreadable": "counter"}``; counters are the only values the bindings
  are known to panic on. We never *create* counters (that crashes the process).
- Timestamps come back as naive local datetimes: shown as
  ``{"$timestamp": "<ISO 8601, UTC>"}``.
- Bytes come back as lists of ints: shown as ``{"$bytes": "<base64>"}``.
- Text objects (what JS Automerge makes of every string) are shown as `str`.
- A key that is not valid UTF-8 (a lone surrogate, e.g. from a shell argument
  with a stray byte) panics the bindings inside a transaction, which poisons
  the document: every key, path and text value is checked with
  `citizen.text.check_utf8` before a transaction is opened. Any other panic
  where the service calls the bindings is turned into `AutomergePanicError`
  by `panics_contained`.

Writes take plain JSON: dict → Map, list → List, str → Str *scalar* (not a
Text object: these bindings cannot splice text, and a scalar is replaced
whole, which is what a JSON API means), int → Int, float → F64, bool, None →
Null. A dict such as ``{"$bytes": ...}`` is written as an ordinary map; the
``$`` forms are for display only. Each mutation is one Automerge commit and
returns exactly the change bytes it made, for the store to persist.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from automerge.core import ROOT, Document, ObjType, ScalarType, ScalarValue, Transaction

from citizen.errors import AutomergePanicError, UsageError
from citizen.text import check_utf8

PathKey = str | int
Path = tuple[PathKey, ...]

MAX_PATH_DEPTH = 64
MAX_VALUE_DEPTH = 100
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

UNREADABLE_COUNTER: dict[str, object] = {"$unreadable": "counter"}


# -- reading -----------------------------------------------------------------------


def is_automerge_panic(exc: BaseException) -> bool:
    """True for pyo3's PanicException: a Rust panic inside the bindings, surfaced in Python.

    It derives from `BaseException`, so ``except Exception`` misses it; callers
    that contain it catch `BaseException`, test with this and re-raise the rest.
    """
    cls = type(exc)
    return cls.__name__ == "PanicException" and cls.__module__ == "pyo3_runtime"


@contextmanager
def panics_contained(doc_id: str, what: str) -> Iterator[None]:
    """Turn a panic of the bindings inside the block into `AutomergePanicError`.

    Everything else passes through unchanged (cancellation included).
    """
    try:
        yield
    except BaseException as exc:
        if not is_automerge_panic(exc):
            raise
        raise AutomergePanicError(
            f"{what} doc {doc_id} failed inside the Automerge bindings: {exc}.",
            "Nothing was stored and the doc is reloaded from disk; if it happens again,"
            " report it with the daemon's log.",
        ) from exc


class _Unreadable:
    """Marker for a value the bindings cannot hand us."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_Got = tuple[ObjType | tuple[ScalarType, object], bytes] | _Unreadable | None


def _get(doc: Document, obj: bytes, prop: PathKey) -> _Got:
    """`doc.get` with the bindings' panics contained."""
    try:
        return doc.get(obj, prop)
    except BaseException as exc:
        if is_automerge_panic(exc):
            return _Unreadable("counter")
        if isinstance(exc, Exception):
            # e.g. a timestamp outside the range of datetime, from a hostile peer
            return _Unreadable("invalid value")
        raise


def _naive_local_to_utc(value: datetime) -> datetime:
    # The bindings convert to a naive *local* datetime; astimezone() on a naive
    # datetime interprets it as local time, which undoes that.
    return value.astimezone(UTC)


def _scalar_to_json(kind: ScalarType, value: object) -> object:
    if kind == ScalarType.Bytes:
        raw = bytes(value) if isinstance(value, list | bytes) else b""
        return {"$bytes": base64.b64encode(raw).decode("ascii")}
    if kind == ScalarType.Timestamp:
        if isinstance(value, datetime):
            return {"$timestamp": _naive_local_to_utc(value).isoformat()}
        return {"$unreadable": "timestamp"}
    if kind == ScalarType.Counter:
        return dict(UNREADABLE_COUNTER)
    if kind == ScalarType.Unknown:
        return {"$unreadable": "unknown"}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return {"$unreadable": "unknown"}


def _value_to_json(doc: Document, got: _Got, depth: int) -> object:
    if got is None:
        return None
    if isinstance(got, _Unreadable):
        return {"$unreadable": got.reason}
    value, obj_id = got
    if isinstance(value, ObjType):
        return _object_to_json(doc, obj_id, depth + 1)
    kind, scalar = value
    return _scalar_to_json(kind, scalar)


def _object_to_json(doc: Document, obj: bytes, depth: int) -> object:
    if depth > MAX_VALUE_DEPTH:
        return {"$unreadable": "nested too deeply"}
    kind = doc.object_type(obj)
    if kind == ObjType.Map:
        return {key: _value_to_json(doc, _get(doc, obj, key), depth) for key in doc.keys(obj)}
    if kind == ObjType.List:
        return [_value_to_json(doc, _get(doc, obj, i), depth) for i in range(doc.length(obj))]
    return doc.text(obj)


def to_json(doc: Document, path: str | Sequence[PathKey] = ()) -> object:
    """The doc (or the value at `path`) as plain JSON-able data.

    Never raises for odd values: unreadable ones become ``{"$unreadable": …}``.

    Raises:
        UsageError: `path` is malformed or leads nowhere.
    """
    keys = _as_path(path)
    if not keys:
        return _object_to_json(doc, ROOT, 0)
    parent, kind = _resolve(doc, keys[:-1])
    key = _key_for(keys, len(keys) - 1, kind)
    if kind == ObjType.List:
        assert isinstance(key, int)
        _check_index(doc, parent, keys, key, allow_end=False)
    got = _get(doc, parent, key)
    if got is None:
        raise UsageError(f"{format_path(keys)} does not exist.", "List the doc to see its keys.")
    return _value_to_json(doc, got, len(keys))


# -- paths -------------------------------------------------------------------------


def parse_path(text: str) -> Path:
    """Parse ``"items.0.done"`` into ``("items", 0, "done")``; ``""`` is the root.

    All-digit segments become ints: a list index, or the same digits as a key
    when the parent turns out to be a map. Keys containing ``.`` cannot be
    addressed this way; pass a sequence to the mutation functions instead.

    Raises:
        UsageError: an empty segment, a sign or too deep.
    """
    if text == "":
        return ()
    check_utf8(text, "The doc path")
    segments = text.split(".")
    if len(segments) > MAX_PATH_DEPTH:
        raise UsageError(f"The path {text!r} is deeper than {MAX_PATH_DEPTH}.")
    out: list[PathKey] = []
    for segment in segments:
        if segment == "":
            raise UsageError(
                f"The path {text!r} has an empty segment.",
                "Separate keys with single dots, e.g. items.0.done.",
            )
        if segment.isascii() and segment.isdigit():
            out.append(int(segment))
        else:
            out.append(segment)
    return tuple(out)


def format_path(path: Sequence[PathKey]) -> str:
    """The dotted form of `path`, ``(root)`` for the root."""
    return ".".join(str(k) for k in path) if path else "(root)"


def _as_path(path: str | Sequence[PathKey]) -> Path:
    if isinstance(path, str):
        return parse_path(path)
    keys = tuple(path)
    if len(keys) > MAX_PATH_DEPTH:
        raise UsageError(f"The path is deeper than {MAX_PATH_DEPTH}.")
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise UsageError(f"Path segment {key!r} must be a key (text) or an index (number).")
        if isinstance(key, int) and key < 0:
            raise UsageError(f"List index {key} is negative.")
        if isinstance(key, str):
            check_utf8(key, "The doc path segment")
    return keys


def _key_for(path: Path, i: int, kind: ObjType) -> PathKey:
    key = path[i]
    where = format_path(path[:i])
    if kind == ObjType.Map:
        return str(key)
    if kind == ObjType.List:
        if not isinstance(key, int):
            raise UsageError(
                f"{where} is a list, so {key!r} must be an index (a number).",
                f"Use e.g. {format_path((*path[:i], 0))}.",
            )
        return key
    raise UsageError(
        f"{where} is text, which cannot be addressed by path.",
        "Set the whole value instead.",
    )


def _check_index(doc: Document, obj: bytes, path: Path, index: int, *, allow_end: bool) -> None:
    length = doc.length(obj)
    limit = length if allow_end else length - 1
    if index > limit:
        where = format_path(path[:-1])
        raise UsageError(
            f"Index {index} is out of range: {where} has {length} item(s).",
            f"Use an index from 0 to {limit}." if limit >= 0 else "Append to it instead.",
        )


def _resolve(doc: Document, path: Path) -> tuple[bytes, ObjType]:
    """The object at `path` (which must be a map, list or text), read before any write.

    Reading happens outside a transaction on purpose: a panic inside a
    transaction poisons the document for good, one outside does not.
    """
    obj = ROOT
    kind = ObjType.Map
    for i in range(len(path)):
        key = _key_for(path, i, kind)
        here = format_path(path[: i + 1])
        if kind == ObjType.List:
            assert isinstance(key, int)
            _check_index(doc, obj, path[: i + 1], key, allow_end=False)
        got = _get(doc, obj, key)
        if got is None:
            raise UsageError(
                f"{here} does not exist.", "Create the parent first (set it to {} or [])."
            )
        if isinstance(got, _Unreadable):
            raise UsageError(f"{here} holds a value these bindings cannot read ({got.reason}).")
        value, obj_id = got
        if not isinstance(value, ObjType):
            raise UsageError(
                f"{here} is a plain value, not a map or a list.", "Set its parent's key instead."
            )
        obj, kind = obj_id, value
    return obj, kind


# -- writing -----------------------------------------------------------------------


def check_value(value: object, depth: int = 0) -> None:
    """Reject anything that is not plain JSON before a transaction is opened.

    Raises:
        UsageError: not JSON-like, too deep, a non-text key or a number we cannot store.
    """
    if depth > MAX_VALUE_DEPTH:
        raise UsageError(f"The value is nested deeper than {MAX_VALUE_DEPTH}.")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        check_utf8(value, "The text value")
        return
    if isinstance(value, int):
        if not _I64_MIN <= value <= _I64_MAX:
            raise UsageError(f"The integer {value} does not fit in 64 bits.", "Store it as text.")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"{value} is not a JSON number.")
        return
    if isinstance(value, list):
        for item in value:
            check_value(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError(f"Map key {key!r} must be text.")
            check_utf8(key, "The map key")
            check_value(item, depth + 1)
        return
    raise UsageError(f"A {type(value).__name__} cannot be stored in a doc; use JSON values.")


def _scalar(value: object) -> tuple[ScalarType, ScalarValue]:
    if value is None:
        return ScalarType.Null, None
    if isinstance(value, bool):
        return ScalarType.Boolean, value
    if isinstance(value, int):
        return ScalarType.Int, value
    if isinstance(value, float):
        return ScalarType.F64, value
    assert isinstance(value, str)
    return ScalarType.Str, value


def _fill(tx: Transaction, obj: bytes, value: object) -> None:
    """Write the contents of a fresh map or list object."""
    if isinstance(value, dict):
        for key, item in value.items():
            put_value(tx, obj, key, item)
    else:
        assert isinstance(value, list)
        for index, item in enumerate(value):
            insert_value(tx, obj, index, item)


def put_value(tx: Transaction, obj: bytes, prop: PathKey, value: object) -> None:
    """Put a checked JSON value at `prop` of map or list `obj` (never a counter)."""
    if isinstance(value, dict | list):
        child = tx.put_object(obj, prop, ObjType.Map if isinstance(value, dict) else ObjType.List)
        _fill(tx, child, value)
    else:
        kind, scalar = _scalar(value)
        tx.put(obj, prop, kind, scalar)


def insert_value(tx: Transaction, obj: bytes, index: int, value: object) -> None:
    """Insert a checked JSON value at `index` of list `obj` (never a counter)."""
    if isinstance(value, dict | list):
        kind = ObjType.Map if isinstance(value, dict) else ObjType.List
        child = tx.insert_object(obj, index, kind)
        _fill(tx, child, value)
    else:
        scalar_kind, scalar = _scalar(value)
        tx.insert(obj, index, scalar_kind, scalar)


def new_changes(doc: Document, heads_before: list[bytes]) -> list[bytes]:
    """The encoded changes `doc` gained since it had `heads_before`, in causal order."""
    return [change.bytes for change in doc.get_changes(heads_before)]


def set_path(doc: Document, path: str | Sequence[PathKey], value: object) -> list[bytes]:
    """Set the value at `path` (a map key, or a list index; index == length appends).

    The root path replaces the whole doc and needs a dict.

    Returns:
        The change bytes of the one commit made (empty if nothing changed).

    Raises:
        UsageError: bad path, missing parent, wrong container, index out of
            range, or a value that is not plain JSON.
    """
    keys = _as_path(path)
    check_value(value)
    heads = doc.get_heads()
    if not keys:
        if not isinstance(value, dict):
            raise UsageError("The root of a doc is a map.", "Set it to a JSON object.")
        stale = [k for k in doc.keys(ROOT) if k not in value]
        with doc.transaction() as tx:
            for old in stale:
                tx.delete(ROOT, old)
            _fill(tx, ROOT, value)
        return new_changes(doc, heads)
    parent, kind = _resolve(doc, keys[:-1])
    key = _key_for(keys, len(keys) - 1, kind)
    if kind == ObjType.List:
        assert isinstance(key, int)
        _check_index(doc, parent, keys, key, allow_end=True)
        append = key == doc.length(parent)
        with doc.transaction() as tx:
            if append:
                insert_value(tx, parent, key, value)
            else:
                put_value(tx, parent, key, value)
    else:
        with doc.transaction() as tx:
            put_value(tx, parent, key, value)
    return new_changes(doc, heads)


def delete_path(doc: Document, path: str | Sequence[PathKey]) -> list[bytes]:
    """Delete the map key or list item at `path`.

    Returns:
        The change bytes of the one commit made.

    Raises:
        UsageError: the root, a bad path, or nothing there.
    """
    keys = _as_path(path)
    if not keys:
        raise UsageError("The root of a doc cannot be deleted.", "Delete the doc instead.")
    heads = doc.get_heads()
    parent, kind = _resolve(doc, keys[:-1])
    key = _key_for(keys, len(keys) - 1, kind)
    if kind == ObjType.List:
        assert isinstance(key, int)
        _check_index(doc, parent, keys, key, allow_end=False)
    elif str(key) not in doc.keys(parent):
        raise UsageError(f"{format_path(keys)} does not exist.", "List the doc to see its keys.")
    with doc.transaction() as tx:
        tx.delete(parent, key)
    return new_changes(doc, heads)


def append_path(doc: Document, path: str | Sequence[PathKey], value: object) -> list[bytes]:
    """Append `value` to the list at `path`.

    Returns:
        The change bytes of the one commit made.

    Raises:
        UsageError: bad path, nothing there, not a list, or a value that is
            not plain JSON.
    """
    keys = _as_path(path)
    check_value(value)
    obj, kind = _resolve(doc, keys)
    if kind != ObjType.List:
        raise UsageError(
            f"{format_path(keys)} is not a list.", "Append only to lists; set map keys instead."
        )
    heads = doc.get_heads()
    with doc.transaction() as tx:
        insert_value(tx, obj, doc.length(obj), value)
    return new_changes(doc, heads)


# -- history -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeInfo:
    """One change in a doc's history, for `citizen doc history`.

    Attributes:
        hash: change hash, hex.
        actor: actor ID of the author, hex.
        seq: the author's sequence number of this change.
        time: when the author says it made the change (JS Automerge records
            unix seconds; these bindings record none), or None.
        message: the commit message, if any.
    """

    hash: str
    actor: str
    seq: int
    time: datetime | None
    message: str | None


def _change_time(stamp: datetime) -> datetime | None:
    # The bindings treat the stored integer as milliseconds and return a naive
    # local datetime; JS Automerge stores seconds. Recover the integer.
    raw = round(_naive_local_to_utc(stamp).timestamp() * 1000)
    if raw <= 0:
        return None
    try:
        return datetime.fromtimestamp(raw, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def history(doc: Document) -> list[ChangeInfo]:
    """Every change of `doc`, oldest first (causal order)."""
    out: list[ChangeInfo] = []
    for change in doc.get_changes([]):
        out.append(
            ChangeInfo(
                hash=change.hash.hex(),
                actor=change.actor_id.hex(),
                seq=change.seq,
                time=_change_time(change.timestamp),
                message=change.message,
            )
        )
    return out
