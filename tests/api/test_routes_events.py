"""`object_events`: the object events between two listings of the household's objects."""

from __future__ import annotations

import msgspec
from citizen_sdk.events import event_from_json

from citizen.api.models import ObjectAdded, ObjectChanged, ObjectRef, ObjectRemoved
from citizen.api.models.objects import ObjectState
from citizen.api.routes_events import Listing, object_events
from citizen.ids import HouseholdId, ObjectId


def _entry(object_id: str, *, state: ObjectState = "complete", local: bool = True) -> ObjectRef:
    return ObjectRef(
        object_id=ObjectId(object_id),
        name=f"{object_id}.txt",
        size=7,
        segments=1,
        k=1,
        n=1,
        created=1,
        state=state,
        local=local,
        placement={0: HouseholdId("h")},
        bad={},
    )


def test_added_changed_removed() -> None:
    same = _entry("same")
    before: Listing = {"kept": _entry("kept"), "gone": _entry("gone"), "same": same}
    after: Listing = {
        "kept": _entry("kept", local=False),
        "same": msgspec.structs.replace(same, placement={0: HouseholdId("other")}),  # not reported
        "new": _entry("new", state="under-replicated"),
    }
    assert object_events(before, after) == [
        ObjectChanged(ObjectId("kept"), "complete", False),
        ObjectAdded(ObjectId("new"), "new.txt", 7),
        ObjectRemoved(ObjectId("gone")),
    ]


def test_state_change_and_nothing() -> None:
    before: Listing = {"o": _entry("o")}
    assert object_events(before, before) == []
    assert object_events(before, {"o": _entry("o", state="under-replicated")}) == [
        ObjectChanged(ObjectId("o"), "under-replicated", True)
    ]
    assert object_events({}, {}) == []


def test_the_frames_sent_are_what_the_sdk_reads() -> None:
    events = object_events({"gone": _entry("gone")}, {"o": _entry("o")})
    frames = [msgspec.json.encode(e).decode() for e in events]
    assert [msgspec.json.decode(f) for f in frames] == [
        {"type": "object_added", "object_id": "o", "name": "o.txt", "size": 7},
        {"type": "object_removed", "object_id": "gone"},
    ]
    assert [event_from_json(f) for f in frames] == events
