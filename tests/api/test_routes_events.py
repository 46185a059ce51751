"""`object_events`: the object events between two listings of the household's objects."""

from __future__ import annotations

from citizen.api.routes_events import Listing, object_events


def _entry(object_id: str, *, state: str = "complete", local: bool = True) -> dict[str, object]:
    return {
        "object_id": object_id,
        "name": f"{object_id}.txt",
        "size": 7,
        "created": 1,
        "state": state,
        "local": local,
        "placement": {"0": "h"},
        "bad": {},
    }


def test_added_changed_removed() -> None:
    before: Listing = {"kept": _entry("kept"), "gone": _entry("gone"), "same": _entry("same")}
    after: Listing = {
        "kept": _entry("kept", local=False),
        "same": _entry("same") | {"placement": {"0": "other"}},  # not reported
        "new": _entry("new", state="under-replicated"),
    }
    assert object_events(before, after) == [
        {"type": "object_changed", "object_id": "kept", "state": "complete", "local": False},
        {"type": "object_added", "object_id": "new", "name": "new.txt", "size": 7},
        {"type": "object_removed", "object_id": "gone"},
    ]


def test_state_change_and_nothing() -> None:
    before: Listing = {"o": _entry("o")}
    assert object_events(before, before) == []
    assert object_events(before, {"o": _entry("o", state="under-replicated")}) == [
        {"type": "object_changed", "object_id": "o", "state": "under-replicated", "local": True}
    ]
    assert object_events({}, {}) == []
