"""Editing a doc inside `DocHandle.change`: its maps and lists as Python mappings and sequences.

`MapProxy` and `ListProxy` read and write one open Automerge transaction, so
everything a change function does becomes one Automerge change (or none, if
it raises). What can be written is plain JSON-like data: dict (text keys),
list, str, int (64-bit), float (finite), bool, None — nested freely; a
proxy read from the same doc may be written too (it is copied). Reading gives
back proxies for maps and lists and plain values for the rest (text objects
as str, bytes as bytes, timestamps as aware UTC datetimes).

Counters are never created (the bindings crash on it); a counter made by
another app reads as ``{"$unreadable": "counter"}`` and can be overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, MutableSequence
from datetime import UTC, datetime
from typing import overload

from automerge.core import ObjType, ScalarType, Transaction

from citizen.docs.values import (
    UNREADABLE_COUNTER,
    check_value,
    insert_value,
    is_automerge_panic,
    put_value,
)
from citizen.errors import UsageError

# -- reading -------------------------------------------------------------------------


def _scalar(kind: ScalarType, value: object) -> object:
    if kind == ScalarType.Bytes:
        return bytes(value) if isinstance(value, list | bytes) else b""
    if kind == ScalarType.Timestamp:
        # the bindings hand back a naive *local* datetime
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    if kind == ScalarType.Counter:
        return dict(UNREADABLE_COUNTER)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return {"$unreadable": "unknown"}


def _read(tx: Transaction, obj: bytes, prop: str | int) -> object:
    try:
        got = tx.get(obj, prop)
    except BaseException as exc:
        if is_automerge_panic(exc):
            return dict(UNREADABLE_COUNTER)  # counters are what the bindings panic on
        if isinstance(exc, Exception):
            return {"$unreadable": "invalid value"}
        raise
    if got is None:
        return None
    value, obj_id = got
    if isinstance(value, ObjType):
        if value == ObjType.Map:
            return MapProxy(tx, obj_id)
        if value == ObjType.List:
            return ListProxy(tx, obj_id)
        return tx.text(obj_id)
    kind, scalar = value
    return _scalar(kind, scalar)


def to_plain(value: object) -> object:
    """`value` with every proxy replaced by a plain dict or list (a deep copy)."""
    if isinstance(value, MapProxy):
        return {key: to_plain(value[key]) for key in value}
    if isinstance(value, ListProxy | list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return value


# -- writing -------------------------------------------------------------------------


def _plain_checked(value: object) -> object:
    plain = to_plain(value)
    check_value(plain)
    return plain


# -- the proxies ---------------------------------------------------------------------


class MapProxy(MutableMapping[str, object]):
    """A map of the doc, inside a change: ``m["k"] = v``, ``del m["k"]``, iteration, ``len``.

    Only valid during the change function that received it.
    """

    def __init__(self, tx: Transaction, obj: bytes) -> None:
        self._tx = tx
        self._obj = obj

    def __getitem__(self, key: str) -> object:
        if not isinstance(key, str):
            raise KeyError(key)
        if key not in self._tx.keys(self._obj):
            raise KeyError(key)
        return _read(self._tx, self._obj, key)

    def __setitem__(self, key: str, value: object) -> None:
        if not isinstance(key, str):
            raise UsageError(f"Map key {key!r} must be text.")
        put_value(self._tx, self._obj, key, _plain_checked(value))

    def __delitem__(self, key: str) -> None:
        if not isinstance(key, str) or key not in self._tx.keys(self._obj):
            raise KeyError(key)
        self._tx.delete(self._obj, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tx.keys(self._obj))

    def __len__(self) -> int:
        return len(self._tx.keys(self._obj))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._tx.keys(self._obj)

    def __repr__(self) -> str:
        return f"MapProxy({to_plain(self)!r})"


class ListProxy(MutableSequence[object]):
    """A list of the doc, inside a change: indexing, assignment, ``del``, ``append``, ``insert``.

    Only valid during the change function that received it.
    """

    def __init__(self, tx: Transaction, obj: bytes) -> None:
        self._tx = tx
        self._obj = obj

    def _index(self, index: int, *, allow_end: bool = False) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"list indices must be integers, not {type(index).__name__}")
        length = len(self)
        if index < 0:
            index += length
        if not 0 <= index < length + (1 if allow_end else 0):
            raise IndexError(f"list index {index} out of range ({length} items)")
        return index

    @overload
    def __getitem__(self, index: int) -> object: ...

    @overload
    def __getitem__(self, index: slice) -> list[object]: ...

    def __getitem__(self, index: int | slice) -> object:
        if isinstance(index, slice):
            return [_read(self._tx, self._obj, i) for i in range(*index.indices(len(self)))]
        return _read(self._tx, self._obj, self._index(index))

    @overload
    def __setitem__(self, index: int, value: object) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[object]) -> None: ...

    def __setitem__(self, index: int | slice, value: object) -> None:
        if isinstance(index, slice):
            raise UsageError("Assign list items one at a time (slices are not supported).")
        put_value(self._tx, self._obj, self._index(index), _plain_checked(value))

    @overload
    def __delitem__(self, index: int) -> None: ...

    @overload
    def __delitem__(self, index: slice) -> None: ...

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            for i in sorted(range(*index.indices(len(self))), reverse=True):
                self._tx.delete(self._obj, i)
            return
        self._tx.delete(self._obj, self._index(index))

    def __len__(self) -> int:
        return self._tx.length(self._obj)

    def insert(self, index: int, value: object) -> None:
        """Insert `value` before `index` (clamped to the list, like `list.insert`)."""
        length = len(self)
        if index < 0:
            index = max(0, index + length)
        insert_value(self._tx, self._obj, min(index, length), _plain_checked(value))

    def __repr__(self) -> str:
        return f"ListProxy({to_plain(self)!r})"
