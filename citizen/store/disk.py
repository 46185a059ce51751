"""Recognise a full disk wherever it surfaces (a write, an fsync, SQLite) as one `DiskFullError`.

The data dir's disk filling up is the household's problem to fix, not a bug:
a write that fails with ENOSPC (or EDQUOT, a user's disk quota) and SQLite's
"database or disk is full" are the same event, reported with one code and
one hint, at warning level, and never as an "internal error".
"""

from __future__ import annotations

import errno
import sqlite3

from citizen.errors import DiskFullError

HINT = (
    "Free space on the disk that holds the daemon's data dir (citizen storage shows what is"
    " stored there), or move the data dir to a bigger disk; nothing was half-stored."
)
_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(what: str) -> DiskFullError:
    """The error for `what` (e.g. "Storing a share for beta") failing on a full disk."""
    return DiskFullError(f"{what} failed: the disk is full.", HINT)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` itself says the disk is full."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return True
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc)
    return False


def find_disk_full(exc: BaseException, _depth: int = 0) -> BaseException | None:
    """The disk-full error in `exc`, its causes or (inside a group) its members, else None."""
    if _depth > 8:
        return None
    if is_disk_full(exc):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_disk_full(inner, _depth + 1)
            if found is not None:
                return found
    cause = exc.__cause__  # an error raised *from* a full disk (a StoreError over SQLite's)
    return None if cause is None else find_disk_full(cause, _depth + 1)
