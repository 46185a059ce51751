"""The one size formatter."""

from __future__ import annotations

from citizen.units import size_text


def test_sizes_in_the_largest_binary_unit_below_them() -> None:
    assert size_text(0) == "0 B"
    assert size_text(1023) == "1023 B"
    assert size_text(1536) == "1.5 KiB"
    assert size_text(5 * 1024**3) == "5.0 GiB"
    assert size_text(3 * 1024**4) == "3.0 TiB"
    assert size_text(5000 * 1024**4) == "5000.0 TiB"
    assert size_text(-2048) == "-2.0 KiB"
