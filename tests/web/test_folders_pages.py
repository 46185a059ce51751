"""The folder pages against a real (offline) node's page: list, add, pause, resume, remove,
the tree browser with versions and downloads, restore; and the pure rows they show."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import UsageError
from citizen.folders.records import Folder, Kind, Version
from citizen.web.app import templates
from citizen.web.folder_rows import (
    FolderProtection,
    all_protection,
    folder_protection,
    list_dir,
    path_link,
    path_of_link,
)
from tests.web.conftest import Page

ODD = b"caf\xe9 menu.txt"  # Latin-1, not UTF-8


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "2024").mkdir(parents=True)
    (root / "2024" / "cat.jpg").write_bytes(b"\xff\xd8 a cat " * 100)
    (root / "notes.txt").write_bytes(b"first notes")
    with open(os.path.join(os.fsencode(root), ODD), "wb") as f:
        f.write(b"soup of the day")
    return root


async def _added(page: Page, tmp_path: Path) -> tuple[str, Path]:
    csrf = await page.log_in()
    root = _tree(tmp_path)
    answer = await page.http.post("/folders/add", data={"csrf": csrf, "path": str(root)})
    assert answer.status_code == 303, answer.text
    await page.node.folders.scan("photos")
    return csrf, root


def _links(text: str, kind: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(rf'href="(/folders/[^"]*/{kind}\?[^"]*)"', text)]


async def test_a_folder_added_on_the_page_is_listed_with_its_protection(
    page: Page, tmp_path: Path
) -> None:
    await _added(page, tmp_path)
    listing = (await page.http.get("/folders")).text
    card = re.search(r'<li class="card folder" data-folder="photos">(.*?)</li>', listing, re.S)
    assert card, listing
    # watching, or scanning again (the watcher saw the writes): either way not paused
    assert re.search(r'folder-state">(watching|scanning)', card.group(1))
    assert "3 file(s)" in card.group(1)
    # offline, no friend: nothing has reached a friend yet
    assert "3 of 3 file(s) not protected yet" in card.group(1)
    assert 'action="/folders/photos/pause"' in card.group(1)
    live = (await page.http.get("/live/folders")).text
    assert 'data-folder="photos"' in live and "<html" not in live
    home = (await page.http.get("/")).text
    line = re.search(r'<p id="folders-protection">(.*?)</p>', home, re.S)
    assert line and "1 folder(s)" in line.group(1) and "3 not protected yet" in line.group(1)
    files = (await page.http.get("/files")).text
    assert "not built yet" not in home and "not built yet" not in files


async def test_the_add_form_shows_the_typed_error_and_stores_nothing(
    page: Page, tmp_path: Path
) -> None:
    csrf = await page.log_in()
    for path, message in (
        (str(tmp_path / "nope"), "is not a directory"),
        ("/proc", "is not household data"),
        (str(page.data_dir), "data dir"),
        ("relative/dir", "is not an absolute path"),
    ):
        answer = await page.http.post("/folders/add", data={"csrf": csrf, "path": path})
        assert answer.status_code == 400, path
        error = re.search(r'<div class="error" role="alert" id="add-error"[^>]*>(.*?)</div>',
                          answer.text, re.S)  # fmt: skip
        assert error and message in html.unescape(error.group(1)), answer.text
        assert 'class="hint"' in error.group(1)  # what to do
        assert f'value="{html.escape(path)}"' in answer.text  # the typed path is kept
    assert await page.node.folders.list() == []


async def test_the_tree_shows_a_name_that_is_not_utf8_and_downloads_every_version(
    page: Page, tmp_path: Path
) -> None:
    _csrf, root = await _added(page, tmp_path)
    top = (await page.http.get("/folders/photos")).text
    assert "caf\ufffd menu.txt" in top and "2024/" in top and "notes.txt" in top
    assert f'data-path="{path_link(ODD)}"' in top  # the link keeps the exact bytes
    sub = (await page.http.get(f"/folders/photos?dir={path_link(b'2024')}")).text
    assert "cat.jpg" in sub and "notes.txt" not in sub

    odd = os.path.join(os.fsencode(root), ODD)
    with open(odd, "wb") as f:
        f.write(b"soup of the day, and bread")
    os.utime(odd, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    await page.node.folders.scan("photos")
    versions = (await page.http.get(f"/folders/photos/versions?path={path_link(ODD)}")).text
    downloads = _links(versions, "download")
    assert len(downloads) == 2, versions
    assert versions.count("<td>Home-pi</td>") == 2  # the device that recorded each version
    got = [await page.http.get(link) for link in downloads]
    assert [g.content for g in got] == [b"soup of the day, and bread", b"soup of the day"]
    assert "filename*=UTF-8''caf%EF%BF%BD%20menu.txt" in got[0].headers["content-disposition"]

    # as it was before the second scan: the old size; before anything: nothing
    first = min(int(m) for m in re.findall(r'data-at="(\d+)"', versions))
    at = f"{first // 10**9}.{first % 10**9:09d}"
    old = (await page.http.get(f"/folders/photos?at={at}")).text
    row = re.search(rf'<tr data-path="{path_link(ODD)}".*?</tr>', old, re.S)
    assert row and "15 B" in row.group(0)
    assert 'id="no-entries"' in (await page.http.get("/folders/photos?at=1000")).text
    bad = await page.http.get("/folders/photos?at=yesterday-ish")
    assert bad.status_code == 400 and "is not a time" in html.unescape(bad.text)

    wrong = await page.http.get(f"/folders/photos/download?path={path_link(ODD)}&v=12")
    assert wrong.status_code == 404 and 'class="error"' in wrong.text
    garbled = await page.http.get("/folders/photos/versions?path=%21%21%21")
    assert garbled.status_code == 400 and 'class="error"' in garbled.text


async def test_restore_writes_into_a_directory_and_overwrites_only_when_ticked(
    page: Page, tmp_path: Path
) -> None:
    csrf, _root = await _added(page, tmp_path)
    back = tmp_path / "back"
    form = (await page.http.get("/folders/photos/restore")).text
    assert 'id="restore-form"' in form and "The whole folder" in form
    done = await page.http.post(
        "/folders/photos/restore", data={"csrf": csrf, "path": "", "to": str(back)}
    )
    assert done.status_code == 200 and 'id="restore-result"' in done.text, done.text
    assert "3 file(s)" in done.text
    assert (back / "2024" / "cat.jpg").read_bytes() == b"\xff\xd8 a cat " * 100
    with open(os.path.join(os.fsencode(back), ODD), "rb") as f:
        assert f.read() == b"soup of the day"

    (back / "notes.txt").write_bytes(b"mine, keep it")
    again = await page.http.post(
        "/folders/photos/restore",
        data={"csrf": csrf, "path": path_link(b"notes.txt"), "to": str(back)},
    )
    assert again.status_code == 400 and 'id="restore-error"' in again.text
    assert "there already" in again.text and 'class="hint"' in again.text
    assert (back / "notes.txt").read_bytes() == b"mine, keep it"
    forced = await page.http.post(
        "/folders/photos/restore",
        data={"csrf": csrf, "path": path_link(b"notes.txt"), "to": str(back), "force": "on"},
    )
    assert forced.status_code == 200 and "1 file(s)" in forced.text
    assert (back / "notes.txt").read_bytes() == b"first notes"
    for to, message in (("", "Type the directory"), (str(page.data_dir / "x"), "data dir")):
        refused = await page.http.post(
            "/folders/photos/restore", data={"csrf": csrf, "to": to, "force": "on"}
        )
        assert refused.status_code == 400 and message in html.unescape(refused.text), to
    assert not (page.data_dir / "x").exists()


async def test_pause_resume_and_a_resume_refused_while_the_marker_is_gone(
    page: Page, tmp_path: Path
) -> None:
    csrf, root = await _added(page, tmp_path)
    paused = await page.http.post("/folders/photos/pause", data={"csrf": csrf})
    assert paused.status_code == 303
    listing = (await page.http.get("/folders")).text
    assert "paused: paused by the user" in listing and 'data-resume="photos"' in listing
    assert (await page.http.post("/folders/photos/resume", data={"csrf": csrf})).status_code == 303
    listing = (await page.http.get("/folders")).text
    assert 'data-pause="photos"' in listing and "paused" not in listing  # watching or scanning

    (root / ".citizen-folder").unlink()
    try:
        await page.node.folders.scan("photos")  # finds the marker gone: pauses, with why
    except UsageError:
        pass  # the watcher's own scan found it first, and paused it
    listing = (await page.http.get("/folders")).text
    assert re.search(r"paused: [^<]*marker", listing), listing
    refused = await page.http.post("/folders/photos/resume", data={"csrf": csrf})
    assert refused.status_code == 400 and 'id="action-error"' in refused.text
    assert (await page.node.folders.info("photos"))["state"] == "paused"


async def test_remove_asks_first_and_keeps_the_history_unless_forget_is_ticked(
    page: Page, tmp_path: Path
) -> None:
    csrf, _root = await _added(page, tmp_path)
    confirm = await page.http.get("/folders/photos/remove")
    assert confirm.status_code == 200 and 'name="forget"' in confirm.text
    assert (await page.node.folders.info("photos"))["state"] == "active"  # a GET changes nothing
    kept = await page.http.post("/folders/photos/remove", data={"csrf": csrf})
    assert kept.status_code == 303
    assert (await page.node.folders.info("photos"))["state"] == "removed"
    assert len(await page.node.folders.history("photos", b"notes.txt")) == 1
    objects = len(await page.node.objects.list())
    gone = await page.http.post("/folders/photos/remove", data={"csrf": csrf, "forget": "on"})
    assert gone.status_code == 303
    assert await page.node.folders.list() == []
    assert len(await page.node.objects.list()) == objects - 3


async def test_forms_without_the_csrf_token_or_a_session_change_nothing(
    page: Page, tmp_path: Path
) -> None:
    csrf, root = await _added(page, tmp_path)
    back = tmp_path / "back"
    other = tmp_path / "other"
    other.mkdir()
    for path, data in (
        ("/folders/add", {"path": str(other)}),
        ("/folders/photos/pause", {}),
        ("/folders/photos/remove", {"forget": "on"}),
        ("/folders/photos/restore", {"to": str(back)}),
    ):
        for token in ({}, {"csrf": "forged"}):
            refused = await page.http.post(path, data={**data, **token})
            assert refused.status_code == 403, path
    info = await page.node.folders.info("photos")
    assert info["state"] == "active" and len(await page.node.folders.list()) == 1
    assert not back.exists()
    page.http.cookies.clear()
    for path in ("/folders", "/folders/photos", f"/folders/photos/download?path={path_link(ODD)}"):
        answer = await page.http.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    answer = await page.http.post("/folders/photos/pause", data={"csrf": csrf})
    assert answer.status_code == 401
    assert (await page.node.folders.info("photos"))["state"] == "active"
    assert root.exists()


async def test_a_folder_only_the_index_knows_shows_as_elsewhere(page: Page) -> None:
    await page.log_in()
    other = Folder("Album", b"/srv/album", "backup", "active", "", 0, None, "")
    seen = Version(b"a.txt", "file", None, 0, 1, 0o644, b"h" * 32, None, False, "laptop", 10**18)
    await page.node.folders.index.record(other, "laptop", [seen])
    listing = (await page.http.get("/folders")).text
    card = re.search(r'data-folder="Album">(.*?)</li>', listing, re.S)
    assert card and "on another device" in card.group(1)
    assert "/pause" not in card.group(1) and "/remove" not in card.group(1)
    assert "a.txt" in (await page.http.get("/folders/Album")).text


def test_a_running_scan_shows_what_it_is_doing() -> None:
    fragment = templates().get_template("_folders_live.html")
    guard = FolderProtection(files=0, unprotected=0, survive=None)
    folder = {
        "name": "Docs", "path": "/srv/docs", "state": "active", "error": "", "files": 0,
        "bytes": 0, "last_scan": None, "guard": guard,
        "scan": {"stage": "storing", "found": 9, "bytes": 2048, "stored_bytes": 1024},
    }  # fmt: skip
    shown = fragment.render(folders=[folder], csrf="t")
    assert "scanning (storing: 1.0 KiB of 2.0 KiB)" in shown


# -- the pure rows ----------------------------------------------------------------------


def _v(path: bytes, at: int, *, deleted: bool = False, kind: Kind = "file") -> Version:
    oid = None if deleted or kind != "file" else f"obj-{path.decode(errors='replace')}"
    return Version(path, kind, oid, 5, 0, 0o644, None, None, deleted, "d", at)


@given(st.binary(max_size=300))
def test_a_path_link_carries_the_exact_bytes(path: bytes) -> None:
    link = path_link(path)
    assert re.fullmatch(r"[A-Za-z0-9_-]*", link)
    assert path_of_link(link) == path.strip(b"/")


def test_a_directory_lists_dirs_files_then_what_was_deleted_at_each_time() -> None:
    versions = [
        _v(b"b.txt", 1),
        _v(b"old", 1, kind="dir"),
        _v(b"old/x", 1),
        _v(b"deep/er/file", 2),  # "deep" has no version of its own: still a directory
        _v(b"b.txt", 3, deleted=True),
        _v(b"old/x", 3, deleted=True),
        _v(b"old", 3, deleted=True, kind="dir"),
    ]
    now = list_dir(versions, None, b"")
    assert [(e.name, e.kind, e.deleted) for e in now] == [
        ("deep", "dir", False),
        ("old", "dir", True),
        ("b.txt", "file", True),
    ]
    then = list_dir(versions, 2, b"")
    assert [e.name for e in then] == ["deep", "old", "b.txt"]
    assert not any(e.deleted for e in then)
    assert [e.name for e in list_dir(versions, 2, b"old")] == ["x"]


def test_protection_counts_files_not_protected_and_the_fewest_friend_losses() -> None:
    versions = [_v(b"a", 1), _v(b"b", 1), _v(b"gone", 1), _v(b"gone", 2, deleted=True)]
    objects = [
        {"object_id": "obj-a", "protection": "protected", "survives": 2},
        {"object_id": "obj-b", "protection": "spreading", "survives": 1},
    ]
    p = folder_protection(versions, objects)
    assert p == FolderProtection(files=2, unprotected=1, survive=1)
    local = folder_protection([_v(b"c", 1)], [{"object_id": "obj-c", "protection": "local only"}])
    assert local == FolderProtection(files=1, unprotected=1, survive=None)
    assert all_protection([p, local]) == FolderProtection(files=3, unprotected=2, survive=None)
    assert all_protection([p]).survive == 1
