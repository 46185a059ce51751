"""Object names are display names: the one rule that keeps a name a single, harmless file name.

A name is shown in `citizen ls` and is what `citizen get`, a restore or a
folder may one day write a file as, so it must never reach outside the
directory it is written into. `name_problem` is the rule: a name is refused
when it holds a path separator (``/`` or ``\\``), NUL or another control
character, text that is not UTF-8, or is ``.`` or ``..``. A put refuses such a
name (`check_object_name`); a writer that meets one anyway (stored by an older
version, or carried in a friend's backup) writes `neutral_name` instead.
"""

from __future__ import annotations

import unicodedata

from citizen.errors import ObjectNameError
from citizen.text import utf8_problem

MAX_NAME = 255
_SEPARATORS = frozenset("/\\")
_HINT = "Name it like a file, without folders: e.g. photo.jpg, not holiday/photo.jpg."


def _bad_char(ch: str) -> bool:
    return ch in _SEPARATORS or unicodedata.category(ch) in ("Cc", "Cs")


def name_problem(name: str) -> str | None:
    """What makes `name` unsafe as a file name, or None if it is a safe display name.

    The empty name is safe: the object simply has no name.
    """
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if utf8_problem(name) is not None:
        return "is not valid UTF-8 text"
    if name in (".", ".."):
        return f"is {name!r}, which names a folder"
    for ch in name:
        if ch == "\x00":
            return "holds a NUL character"
        if ch in _SEPARATORS:
            return f"holds {ch!r}, a folder separator"
        if _bad_char(ch):
            return f"holds the control character U+{ord(ch):04X}"
    return None


def check_object_name(name: str) -> str:
    """`name` itself when it is a safe display name.

    Raises:
        ObjectNameError: see `name_problem`.
    """
    problem = name_problem(name)
    if problem is not None:
        shown = neutral_name(name)[:80]
        raise ObjectNameError(f"The object name '{shown}' {problem}.", _HINT)
    return name


def neutral_name(name: str) -> str:
    """`name` made safe: each unsafe character becomes ``_``; ``.``/``..`` become ``_``.

    For writers that meet a name no put would accept today. The result always
    passes `name_problem` (a name too long is cut).
    """
    out = "".join("_" if _bad_char(ch) else ch for ch in name[:MAX_NAME])
    return "_" if out in (".", "..") else out
