"""A command-line argument with a stray byte is refused with a hint, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from citizen.api.client import quote_path
from citizen.errors import TextEncodingError


def test_quote_path_refuses_a_lone_surrogate() -> None:
    assert quote_path("a b/ü") == "a%20b%2F%C3%BC"
    with pytest.raises(TextEncodingError):
        quote_path("k\udcff")


@pytest.mark.parametrize(
    "args",
    [
        ("doc", "show", "k\udcff"),
        ("friends", "remove", "k\udcff"),
        ("put", "/etc/hostname", "--name", "k\udcff"),
    ],
)
def test_a_stray_byte_in_an_argument_is_a_clear_error(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    env = dict(os.environ, CITIZEN_HOME=str(tmp_path))  # no daemon needed: refused before
    done = subprocess.run(
        [sys.executable, "-m", "citizen", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "not valid UTF-8" in done.stderr and "Traceback" not in done.stderr
