"""Text from outside the daemon must be valid Unicode: refuse a lone surrogate at the boundary.

A Python `str` can hold what UTF-8 cannot: a lone surrogate, which is how
Python carries a stray byte of a command-line argument (``$'k\\xff'`` arrives as
``'k\\udcff'``) and how JSON spells half of a UTF-16 pair (``"\\ud800"``). The
Automerge bindings panic on such a key and cannot store it as a value, SQLite
and the wire codecs cannot encode it, so every string that reaches a doc, a
title or an object name passes `check_utf8` first and is refused with a
`TextEncodingError` that says so.
"""

from __future__ import annotations

from citizen.errors import TextEncodingError

HINT = (
    "Use text that is valid UTF-8: a shell argument with a stray byte (such as \\xff)"
    " or a JSON string with half of a surrogate pair cannot be stored."
)


def utf8_problem(text: str) -> int | None:
    """The index of the first character of `text` that UTF-8 cannot encode, or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_utf8(text: str, what: str) -> str:
    """`text` itself if it is valid Unicode (encodes as UTF-8).

    Args:
        text: the string to check.
        what: what it is, for the message ("The doc path", "A map key").

    Raises:
        TextEncodingError: `text` holds a lone surrogate.
    """
    at = utf8_problem(text)
    if at is not None:
        shown = text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise TextEncodingError(
            f"{what} '{shown[:80]}' is not valid UTF-8 text (a lone surrogate at position {at}).",
            HINT,
        )
    return text
