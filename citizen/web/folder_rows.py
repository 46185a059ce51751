"""What the folder pages show, from a folder's versions: a directory's entries, protection (pure).

A path in a folder is bytes (a name need not be UTF-8). A page shows it as
text with U+FFFD where bytes were, and a link carries the exact bytes as
base64url without padding (``""`` is the folder's root), so a file whose name
is not UTF-8 still opens, downloads and restores.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from citizen.errors import UsageError
from citizen.folders.records import Version, display_path, latest_of

MAX_PATH_TEXT = 8192
_LINK = re.compile(r"[A-Za-z0-9_-]*")


def path_link(path: bytes) -> str:
    """`path` as a link parameter: base64url of its bytes, no padding."""
    return base64.urlsafe_b64encode(path).rstrip(b"=").decode()


def path_of_link(text: str) -> bytes:
    """The path bytes a link carries (see `path_link`); ``""`` is the folder root.

    Raises:
        UsageError: not base64url (a link edited by hand).
    """
    if len(text) > MAX_PATH_TEXT:
        raise UsageError("That path is too long.", "Open the folder from the Folders page.")
    bad = UsageError(
        "That link does not name a path in the folder.",
        "Open the folder from the Folders page and follow its links.",
    )
    if not _LINK.fullmatch(text):
        raise bad
    try:
        path = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    return path.strip(b"/")


def time_text(at_ns: int | None) -> str:
    """A version's time for people, in the Pi's local time."""
    if at_ns is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at_ns // 1_000_000_000))


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a directory as the tree browser lists it.

    `version` is the path's own latest version (None: a directory known only
    from the paths under it).
    """

    name: str
    link: str
    kind: str
    version: Version | None

    @property
    def deleted(self) -> bool:
        return self.version is not None and self.version.deleted


def list_dir(versions: Iterable[Version], at_ns: int | None, folder_dir: bytes) -> list[Entry]:
    """The entries directly in `folder_dir` at `at_ns` (None: now): directories, files, then
    what was deleted by then, each group by name."""
    prefix = folder_dir.strip(b"/") + b"/" if folder_dir.strip(b"/") else b""
    latest = latest_of(v for v in versions if at_ns is None or v.at_ns <= at_ns)
    found: dict[bytes, Entry] = {}
    for path, v in latest.items():
        if not path.startswith(prefix) or path == prefix.rstrip(b"/"):
            continue
        first = path[len(prefix) :].split(b"/", 1)[0]
        child = prefix + first
        if child == path:
            if v.deleted and child in found:
                continue  # a directory deleted once, with live paths under it again
            found[child] = Entry(display_path(first), path_link(child), v.kind, v)
        elif not v.deleted and (child not in found or found[child].deleted):
            # a live path under `child`: a directory there, whatever its own version says
            own = latest.get(child)
            found[child] = Entry(
                display_path(first),
                path_link(child),
                "dir",
                own if own is not None and not own.deleted else None,
            )
    order = {"dir": 0, "link": 1, "file": 1}
    return sorted(
        found.values(),
        key=lambda e: (e.deleted, order.get(e.kind, 1), e.name.casefold(), e.link),
    )


def parents(folder_dir: bytes) -> list[tuple[str, str]]:
    """The breadcrumb to `folder_dir`: each directory's name and link, the root excluded."""
    out: list[tuple[str, str]] = []
    parts = [p for p in folder_dir.split(b"/") if p]
    for i, part in enumerate(parts):
        out.append((display_path(part), path_link(b"/".join(parts[: i + 1]))))
    return out


@dataclass(frozen=True, slots=True)
class FolderProtection:
    """A folder's files now at a glance.

    `survive`: how many friend households every file can lose at once and
    still be rebuilt (None: some file is on this device only, or there is no
    file); `unprotected`: files whose object is not protected yet.
    """

    files: int
    unprotected: int
    survive: int | None


def folder_protection(
    versions: Iterable[Version], objects: Iterable[Mapping[str, object]]
) -> FolderProtection:
    """The protection of the files there now, from the objects service's listing."""
    by_id = {str(o.get("object_id")): o for o in objects}
    files = 0
    unprotected = 0
    worst: int | None = None
    for v in latest_of(versions).values():
        if v.deleted or v.kind != "file":
            continue
        files += 1
        if v.object_id is None:  # an empty file: nothing to lose
            continue
        o = by_id.get(v.object_id, {})
        if o.get("protection") != "protected":
            unprotected += 1
        survives = o.get("survives")
        n = survives if isinstance(survives, int) else -1
        worst = n if worst is None else min(worst, n)
    return FolderProtection(files, unprotected, None if worst is None or worst < 0 else worst)


def all_protection(each: Iterable[FolderProtection]) -> FolderProtection:
    """Every folder's files together (for the home page)."""
    files = unprotected = 0
    worst: int | None = None
    none_at_all = False
    for p in each:
        files += p.files
        unprotected += p.unprotected
        if p.survive is None and p.unprotected:
            none_at_all = True
        elif p.survive is not None:
            worst = p.survive if worst is None else min(worst, p.survive)
    return FolderProtection(files, unprotected, None if none_at_all else worst)


def at_param(at_ns: int) -> str:
    """A version's time as an ``at`` parameter: exact Unix seconds, to the nanosecond."""
    return f"{at_ns // 1_000_000_000}.{at_ns % 1_000_000_000:09d}"
