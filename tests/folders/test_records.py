"""Pure folder rules: ignore patterns, path safety, what a scan changed, the tree at a time."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import FolderPathError, UsageError
from citizen.folders.ignore import IgnoreRules
from citizen.folders.records import (
    MARKER,
    Seen,
    Version,
    changes,
    check_root,
    object_name,
    parse_time,
    safe_parts,
    select_at,
)

# -- ignore rules ----------------------------------------------------------------------


def test_gitignore_rules() -> None:
    rules = IgnoreRules("*.tmp\nbuild/\n!keep.tmp\n/top.txt\n")
    assert rules.ignored(b"a.tmp", False)
    assert rules.ignored(b"deep/er/a.tmp", False)
    assert not rules.ignored(b"keep.tmp", False)  # negation
    assert rules.ignored(b"build", True) and rules.ignored(b"x/build", True)
    assert not rules.ignored(b"build", False)  # build/ names directories only
    assert rules.ignored(b"top.txt", False) and not rules.ignored(b"x/top.txt", False)
    assert not rules.ignored(b"photo.jpg", False)


def test_names_that_are_not_utf8_match_too() -> None:
    rules = IgnoreRules("*.tmp\n")
    assert rules.ignored(b"\xff\xfe.tmp", False)
    assert not rules.ignored(b"\xff\xfe.jpg", False)


def test_the_marker_is_never_kept() -> None:
    assert IgnoreRules().ignored(MARKER, False)
    assert not IgnoreRules().ignored(b"sub/" + MARKER, False)


# -- path safety -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [b"", b"/etc/passwd", b"..", b"a/../../b", b"a//b", b"./a", b"a/.", b"a\x00b"]
)
def test_unsafe_paths_are_refused(path: bytes) -> None:
    with pytest.raises(FolderPathError):
        safe_parts(path)


components = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")
)


@given(st.lists(components, min_size=1, max_size=5))
def test_safe_paths_split_into_their_components(parts: list[bytes]) -> None:
    assert safe_parts(b"/".join(parts)) == parts


@given(st.binary(max_size=40))
def test_any_path_is_safe_or_refused_never_escapes(path: bytes) -> None:
    try:
        parts = safe_parts(path)
    except FolderPathError:
        return
    assert not path.startswith(b"/")
    assert all(p not in (b"", b".", b"..") and b"\x00" not in p for p in parts)


@given(st.binary(max_size=300))
def test_object_names_are_harmless(path: bytes) -> None:
    name = object_name(path)
    assert name and name not in (".", "..") and len(name) <= 255
    assert not any(ch in "/\\" or ord(ch) < 32 for ch in name)


# -- changes and versions -------------------------------------------------------------


def _v(path: bytes, at: int, *, h: bytes = b"h", deleted: bool = False, vid: int = 0) -> Version:
    return Version(path, "file", "obj", 1, 5, 0o644, h, None, deleted, "dev", at, vid)


def test_changes_finds_new_changed_and_deleted() -> None:
    latest = {b"same": _v(b"same", 1), b"edit": _v(b"edit", 1), b"gone": _v(b"gone", 1)}
    latest[b"dead"] = _v(b"dead", 2, deleted=True)
    scanned = {
        b"same": Seen("file", 1, 5, 0o644, b"h"),
        b"edit": Seen("file", 1, 5, 0o644, b"other"),
        b"new": Seen("dir", 0, 5, 0o755),
    }
    changed, deleted = changes(latest, scanned)
    assert set(changed) == {b"edit", b"new"}
    assert deleted == [b"gone"]  # a path deleted before is not deleted again


def test_select_at_gives_the_tree_at_that_time() -> None:
    versions = [
        _v(b"a", 10, h=b"a1"),
        _v(b"a", 20, h=b"a2"),
        _v(b"b", 10),
        _v(b"b", 30, deleted=True),
        _v(b"d/x", 25),
    ]
    assert select_at(versions, 5) == {}
    at15 = select_at(versions, 15)
    assert set(at15) == {b"a", b"b"} and at15[b"a"].content_hash == b"a1"
    at26 = select_at(versions, 26)
    assert at26[b"a"].content_hash == b"a2" and set(at26) == {b"a", b"b", b"d/x"}
    assert set(select_at(versions, None)) == {b"a", b"d/x"}  # b deleted at 30
    assert set(select_at(versions, None, [b"d"])) == {b"d/x"}
    assert set(select_at(versions, None, [b"a"])) == {b"a"}
    assert select_at(versions, None, [b"d/"]).keys() == {b"d/x"}


@given(st.lists(st.tuples(st.sampled_from([b"p", b"q"]), st.integers(0, 50), st.booleans())))
def test_select_at_is_the_newest_version_not_after(rows: list[tuple[bytes, int, bool]]) -> None:
    versions = [
        _v(p, at, h=bytes([i % 256]), deleted=d, vid=i) for i, (p, at, d) in enumerate(rows)
    ]
    for at in (0, 10, 25, 50):
        tree = select_at(versions, at)
        for path in (b"p", b"q"):
            before = [v for v in versions if v.path == path and v.at_ns <= at]
            newest = max(before, key=lambda v: (v.at_ns, v.id), default=None)
            if newest is None or newest.deleted:
                assert path not in tree
            else:
                assert tree[path] == newest


def test_parse_time() -> None:
    assert parse_time("1700000000") == 1700000000 * 10**9
    when = datetime.datetime(2026, 12, 3, 16, 0, tzinfo=datetime.UTC)
    assert parse_time("2026-12-03T16:00Z") == int(when.timestamp()) * 10**9
    with pytest.raises(UsageError):
        parse_time("yesterday")


@pytest.mark.parametrize(
    "root", [b"/", b"/proc", b"/sys/fs", b"/dev", b"/srv/citizen", b"/srv/citizen/objects", b"/srv"]
)
def test_roots_that_are_not_household_data_are_refused(root: bytes) -> None:
    with pytest.raises(FolderPathError):
        check_root(root.decode(), root, b"/srv/citizen")


def test_a_plain_directory_is_a_folder_root() -> None:
    check_root("/home/ada/Photos", b"/home/ada/Photos", b"/var/lib/citizen")
    check_root("/srv/citizen-photos", b"/srv/citizen-photos", b"/srv/citizen")
