"""Index entries: what the household index doc records per object, and reading it back."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import RemoteProtocolError
from citizen.ids import HouseholdId, new_object_id
from citizen.objects.health import COMPLETE, UNDER_REPLICATED
from citizen.objects.index import IndexEntry, entry_from_value
from citizen.objects.manifest import Manifest
from citizen.objects.segments import SegmentInfo, share_hash
from citizen.testing.strategies import json_values as json_values_of


def _entry(state: str = COMPLETE) -> IndexEntry:
    hashes = tuple(share_hash(os.urandom(8)) for _ in range(5))
    manifest = Manifest(
        object_id=new_object_id(),
        size=10,
        segment_size=1024,
        k=3,
        n=5,
        segments=(SegmentInfo(10, 26, hashes),),
        placement={j: HouseholdId(f"h{j}") for j in range(4)},
        created=1,
    )
    return IndexEntry(manifest, os.urandom(32), "photo.jpg", state, {"h1": (1,)})


def test_round_trip() -> None:
    for state in (COMPLETE, UNDER_REPLICATED):
        entry = _entry(state)
        back = entry_from_value(entry.to_value())
        assert back == entry
        assert back.key == entry.key
        assert back.missing_numbers() == {4}


def test_bad_key_and_state_are_refused() -> None:
    value = _entry().to_value()
    for field, bad in (("key", "zz" * 32), ("key", "ab"), ("state", "done"), ("name", 3)):
        broken = dict(value)
        broken[field] = bad
        try:
            entry_from_value(broken)
        except RemoteProtocolError:
            continue
        raise AssertionError(f"{field}={bad!r} was accepted")


json_values = json_values_of()


@given(json_values)
def test_arbitrary_values_only_raise_remote_errors(value: object) -> None:
    try:
        entry_from_value(value)
    except RemoteProtocolError:
        pass


@given(st.dictionaries(st.sampled_from(["manifest", "key", "name", "state", "bad"]), json_values))
def test_arbitrary_fields_only_raise_remote_errors(fields: dict[str, object]) -> None:
    value = _entry().to_value() | fields
    try:
        entry_from_value(value)
    except RemoteProtocolError:
        pass
