"""Naming one thing by its ID, name, or a unique prefix of either (`citizen.ids.pick_one`)."""

from __future__ import annotations

import pytest

from citizen.errors import AmbiguousError, NotFoundError
from citizen.ids import pick_one

DOCS = [
    ("7bXqA1", "Shopping"),
    ("7bZk22", "Shop notes"),
    ("Q9ee31", "Calendar"),
    ("Hx0001", "Calendar"),
]


def test_an_exact_id_or_name_or_unique_prefix_names_one() -> None:
    assert pick_one("7bXqA1", DOCS, "doc", "") == "7bXqA1"
    assert pick_one("Shopping", DOCS, "doc", "") == "7bXqA1"  # exact name over a prefix
    assert pick_one("7bZk", DOCS, "doc", "") == "7bZk22"
    assert pick_one(" Shop n", DOCS, "doc", "") == "7bZk22"  # a name prefix, as typed
    assert pick_one("q9EE", DOCS, "doc", "") == "Q9ee31"  # ID prefixes ignore case


def test_household_ids_match_with_or_without_dashes() -> None:
    friends = [("N73OCVJRG-4EYNWSGSI", "beta"), ("AB2CD3EFG-HIJKLMNOP", "gamma")]
    assert pick_one("n73ocvjrg4ey", friends, "friend", "") == "N73OCVJRG-4EYNWSGSI"
    assert pick_one("AB2CD3EFG-HI", friends, "friend", "") == "AB2CD3EFG-HIJKLMNOP"


def test_several_fits_list_the_candidates() -> None:
    with pytest.raises(AmbiguousError) as caught:
        pick_one("Calendar", DOCS, "doc", "")
    assert "Q9ee31" in caught.value.message and "Hx0001" in caught.value.message
    with pytest.raises(AmbiguousError, match="2 docs"):
        pick_one("Shop", DOCS, "doc", "")
    with pytest.raises(AmbiguousError, match="2 docs"):
        pick_one("7bxq", [("7bXqA1", "a"), ("7bXqB2", "b")], "doc", "")


def test_nothing_fits() -> None:
    with pytest.raises(NotFoundError) as caught:
        pick_one("Recipes", DOCS, "doc", "See `citizen doc list`.")
    assert caught.value.hint == "See `citizen doc list`."
    with pytest.raises(NotFoundError):
        pick_one("7bX", DOCS, "doc", "")  # an ID prefix needs 4 characters
