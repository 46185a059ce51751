"""Object names are display names: no separator, NUL, control character, `..` or bad UTF-8."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citizen.errors import ObjectNameError
from citizen.objects.names import MAX_NAME, check_object_name, name_problem, neutral_name
from citizen.testing.grid import open_grid

UNSAFE = [
    "../escape",
    "..",
    ".",
    "a/b.txt",
    "/etc/passwd",
    "a\\b",
    "nul\x00here",
    "new\nline",
    "bell\x07",
    "del\x7f",
    "k\udcff",
    "x" * (MAX_NAME + 1),
]


@pytest.mark.parametrize("name", UNSAFE)
def test_an_unsafe_name_is_refused_with_a_hint(name: str) -> None:
    assert name_problem(name) is not None
    with pytest.raises(ObjectNameError) as caught:
        check_object_name(name)
    assert caught.value.hint


@pytest.mark.parametrize("name", ["photo.jpg", "", "..hidden", "a..b", "Grüße 📷.png", ".bashrc"])
def test_a_file_name_is_kept_as_it_is(name: str) -> None:
    assert check_object_name(name) == name
    assert neutral_name(name) == name


@given(st.text(max_size=300))
def test_a_neutral_name_is_always_one_harmless_component(name: str) -> None:
    safe = neutral_name(name)
    assert name_problem(safe) is None
    assert Path(safe).name == safe or safe == ""
    assert (Path("/target") / safe).resolve().parent == Path("/target") or safe == ""


async def test_a_put_refuses_a_name_that_is_a_path(tmp_path: Path) -> None:
    async with open_grid(1, tmp_path, pairing="none") as grid:
        with pytest.raises(ObjectNameError):
            await grid.nodes[0].put_bytes(b"hello", name="../../outside")
