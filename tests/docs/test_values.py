"""Tests for citizen.docs.values: JSON view, paths, mutations, history."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from automerge.core import ROOT, Document, ScalarType

from citizen.docs.values import (
    UNREADABLE_COUNTER,
    append_path,
    delete_path,
    format_path,
    history,
    is_automerge_panic,
    parse_path,
    set_path,
    to_json,
)
from citizen.errors import UsageError

# Saved by JS Automerge 3 (npm @automerge/automerge), because creating a counter
# in this process would crash it:
#   d = A.from({title: "x"})
#   d = A.change(d, {message: "add counter", time: 1700000000}, d => {
#     d.votes = new A.Counter(3); d.items = [{n: new A.Counter(1)}, "ok"];
#     d.when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
#     d.blob = new Uint8Array([1, 2, 3]); d.note = "hi" })
JS_DOC_WITH_COUNTERS = bytes.fromhex(
    "856f4a836a59335c0098020110de68ea1da188bf48542f7b417e4209290110b4f857279cb241842a4a8e8966"
    "2496fb88b970da67da66e3e462de62bf4e5b08010203021303230a350f4003430256020c0104020c110c130d"
    "15292102230e3404420c560e5710800102020002017e020c7ec1c091d806bfa1be5200017f0b61646420636f"
    "756e7465727e00017f0002070006080000067f0102047f050206020c00087f0000027f0000017f0000060200"
    "7f0500017c7b08780d7a04626c6f62056974656d73046e6f7465057469746c6505766f746573047768656e00"
    "037f016e00040e00780b7908750207780304017e0401060301047e0102020403017e000405017f3703007d18"
    "691602007f1804160102030388b183c1cc3178016f6b68690e0001"
)


def _doc(value: dict[str, object]) -> Document:
    doc = Document()
    set_path(doc, "", value)
    return doc


def _reload(doc: Document) -> Document:
    return Document.load(doc.save())


# -- paths -----------------------------------------------------------------------


def test_parse_path() -> None:
    assert parse_path("") == ()
    assert parse_path("items.0.done") == ("items", 0, "done")
    assert parse_path("a") == ("a",)
    assert parse_path("x.-1") == ("x", "-1")
    assert format_path(("items", 0, "done")) == "items.0.done"
    assert format_path(()) == "(root)"


@pytest.mark.parametrize("bad", [".", "a.", ".a", "a..b", ".".join(["k"] * 65)])
def test_parse_path_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_path(bad)


def test_sequence_paths_allow_dotted_keys() -> None:
    doc = _doc({})
    set_path(doc, ["a.b"], 1)
    assert to_json(doc) == {"a.b": 1}
    with pytest.raises(UsageError):
        set_path(doc, ["x", -1], 1)
    with pytest.raises(UsageError):
        set_path(doc, [True], 1)


# -- mutations -------------------------------------------------------------------


def test_set_nested_json_round_trips_through_save() -> None:
    value: dict[str, object] = {
        "title": "Shopping",
        "items": [{"name": "milk", "done": False, "qty": 2}, {"name": "eggs", "price": 2.5}],
        "empty": {},
        "none": None,
        "unicode": "caf\u00e9 \U0001f600",
    }
    doc = _doc(value)
    assert to_json(doc) == value
    assert to_json(_reload(doc)) == value


def test_set_path_edits_and_returns_exactly_the_new_change() -> None:
    doc = _doc({"items": [{"done": False}]})
    base = Document.load(doc.save())
    changes = set_path(doc, "items.0.done", True)
    assert len(changes) == 1
    replica = Document.load(base.save() + b"".join(changes))
    assert to_json(replica) == {"items": [{"done": True}]}
    assert replica.get_heads() == doc.get_heads()


def test_set_list_index_overwrites_and_end_appends() -> None:
    doc = _doc({"l": [1, 2]})
    set_path(doc, "l.0", {"a": 1})
    set_path(doc, "l.2", [3])
    assert to_json(doc) == {"l": [{"a": 1}, 2, [3]]}
    with pytest.raises(UsageError, match="out of range"):
        set_path(doc, "l.4", 0)


def test_set_root_replaces_the_whole_doc() -> None:
    doc = _doc({"a": 1, "b": 2})
    set_path(doc, "", {"b": 3, "c": [1]})
    assert to_json(doc) == {"b": 3, "c": [1]}
    with pytest.raises(UsageError, match="root"):
        set_path(doc, "", [1])


def test_digit_keys_address_maps_too() -> None:
    doc = _doc({"m": {}})
    set_path(doc, "m.7", "seven")
    assert to_json(doc) == {"m": {"7": "seven"}}
    assert to_json(doc, "m.7") == "seven"


def test_append_and_delete() -> None:
    doc = _doc({"l": [], "m": {"k": 1, "j": 2}})
    append_path(doc, "l", "a")
    append_path(doc, ["l"], {"x": [1]})
    assert to_json(doc, "l") == ["a", {"x": [1]}]
    delete_path(doc, "l.0")
    delete_path(doc, "m.k")
    assert to_json(doc) == {"l": [{"x": [1]}], "m": {"j": 2}}
    assert to_json(_reload(doc)) == {"l": [{"x": [1]}], "m": {"j": 2}}


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (lambda d: set_path(d, "missing.x", 1), "does not exist"),
        (lambda d: set_path(d, "s.x", 1), "plain value"),
        (lambda d: set_path(d, "l.x", 1), "must be an index"),
        (lambda d: set_path(d, "l.5.x", 1), "out of range"),
        (lambda d: append_path(d, "m", 1), "not a list"),
        (lambda d: append_path(d, "nope", 1), "does not exist"),
        (lambda d: delete_path(d, "m.nope"), "does not exist"),
        (lambda d: delete_path(d, "l.1"), "out of range"),
        (lambda d: delete_path(d, ""), "root"),
        (lambda d: set_path(d, "m.k", object()), "cannot be stored"),
        (lambda d: set_path(d, "m.k", 2**64), "64 bits"),
        (lambda d: set_path(d, "m.k", float("nan")), "not a JSON number"),
        (lambda d: set_path(d, "m.k", {1: 2}), "must be text"),
        (lambda d: set_path(d, "m.k", b"raw"), "cannot be stored"),
    ],
)
def test_bad_mutations_raise_usage_error_and_change_nothing(action: object, match: str) -> None:
    doc = _doc({"s": "text", "l": [0], "m": {}})
    heads = doc.get_heads()
    before = to_json(doc)
    assert callable(action)
    with pytest.raises(UsageError, match=match):
        action(doc)
    assert doc.get_heads() == heads
    assert to_json(doc) == before


def test_a_value_rejected_midway_leaves_no_partial_write() -> None:
    doc = _doc({"m": {}})
    heads = doc.get_heads()
    with pytest.raises(UsageError):
        set_path(doc, "m.k", {"ok": 1, "bad": [1, {2}]})
    assert doc.get_heads() == heads
    assert to_json(doc) == {"m": {}}


def test_strings_are_scalars_not_text_objects() -> None:
    doc = _doc({"s": "hello"})
    got = doc.get(ROOT, "s")
    assert got is not None
    assert got[0] == (ScalarType.Str, "hello")


def test_to_json_path_errors() -> None:
    doc = _doc({"l": [1]})
    assert to_json(doc, "l.0") == 1
    with pytest.raises(UsageError):
        to_json(doc, "l.1")
    with pytest.raises(UsageError):
        to_json(doc, "nope")


# -- values from other implementations ---------------------------------------------


def test_js_doc_counters_are_contained_and_other_types_converted() -> None:
    doc = Document.load(JS_DOC_WITH_COUNTERS)
    assert to_json(doc) == {
        "title": "x",
        "note": "hi",
        "votes": UNREADABLE_COUNTER,
        "items": [{"n": UNREADABLE_COUNTER}, "ok"],
        "when": {"$timestamp": "2024-01-02T03:04:05+00:00"},
        "blob": {"$bytes": "AQID"},
    }
    # the panic left the doc usable: it can still be written, read and saved
    set_path(doc, "note", "edited")
    assert to_json(_reload(doc), "note") == "edited"


def test_paths_through_a_counter_are_refused_cleanly() -> None:
    doc = Document.load(JS_DOC_WITH_COUNTERS)
    with pytest.raises(UsageError, match="cannot read"):
        set_path(doc, "votes.x", 1)
    assert to_json(doc, "votes") == UNREADABLE_COUNTER
    # overwriting a counter with a plain value is allowed and does not read it
    set_path(doc, "votes", 4)
    assert to_json(doc, "votes") == 4


def test_timestamps_are_utc_whatever_the_local_zone() -> None:
    code = (
        "import sys, json; from automerge.core import Document;"
        "from citizen.docs.values import to_json;"
        "print(json.dumps(to_json(Document.load(bytes.fromhex(sys.argv[1])), 'when')))"
    )
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        out = subprocess.run(
            [sys.executable, "-c", code, JS_DOC_WITH_COUNTERS.hex()],
            env={**os.environ, "TZ": zone},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == '{"$timestamp": "2024-01-02T03:04:05+00:00"}', zone


def test_is_automerge_panic_only_matches_pyo3_panics() -> None:
    assert not is_automerge_panic(ValueError())
    assert not is_automerge_panic(KeyboardInterrupt())
    panic = type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})
    assert is_automerge_panic(panic())


# -- history -----------------------------------------------------------------------


def test_history_of_local_changes() -> None:
    doc = _doc({"a": 1})
    set_path(doc, "a", 2)
    entries = history(doc)
    assert [e.seq for e in entries] == [1, 2]
    assert len({e.actor for e in entries}) == 1
    assert entries[-1].hash == doc.get_heads()[0].hex()
    assert all(e.time is None and e.message is None for e in entries)


def test_history_reads_js_change_time_and_message() -> None:
    entries = history(Document.load(JS_DOC_WITH_COUNTERS))
    assert entries[-1].message == "add counter"
    assert entries[-1].time == datetime.fromtimestamp(1_700_000_000, UTC)
