"""The one config every wire model shares, and the small types the areas reuse.

`Model` is frozen, refuses unknown fields (a route that returns a field its
model lacks fails, and so does the SDK reading one), and leaves a field out
of the JSON while it has its default, so "absent" stays absent on the wire.
Subclasses repeat ``frozen=True`` (for mypy) and ``kw_only=True`` (msgspec
does not inherit it).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: any JSON value (a doc's content, a change's value); `object`, never `Any`
JsonValue = Annotated[object, msgspec.Meta(description="Any JSON value.")]

#: Unix time in seconds
UnixTime = Annotated[int, msgspec.Meta(description="Unix time (s).")]

#: a short text a user or app typed (a friend's name, a dotted path)
Text = Annotated[str, msgspec.Meta(max_length=1024)]


class Model(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    omit_defaults=True,
    kw_only=True,
):
    """Base of every request and response body of the local API."""
