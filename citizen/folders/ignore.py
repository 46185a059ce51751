"""`.citizenignore`: gitignore rules (pathspec) saying which paths of a folder are not kept.

Pure. Names that are not UTF-8 are matched through `os.fsdecode`
(surrogate escapes), so a pattern of plain text still matches around them.
The marker file is never kept (it is the folder's own bookkeeping).
"""

from __future__ import annotations

import os

import pathspec

from citizen.folders.records import MARKER


class IgnoreRules:
    """The folder's ignore patterns; `ignored(path, is_dir)` for a path relative to the root."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self._spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())

    @classmethod
    def from_bytes(cls, data: bytes) -> IgnoreRules:
        return cls(data.decode("utf-8", "surrogateescape"))

    def ignored(self, path: bytes, is_dir: bool) -> bool:
        if path == MARKER:
            return True
        if not self.text.strip():
            return False
        name = os.fsdecode(path)
        return bool(self._spec.match_file(name + "/" if is_dir else name))
