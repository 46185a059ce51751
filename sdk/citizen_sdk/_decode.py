"""Decoding the daemon's JSON answers with the local API's own models (`citizen.api.models`).

The models refuse unknown fields, so an answer of a shape this SDK does not
know (a missing, extra or mistyped field, or no JSON at all) is a
`RemoteProtocolError`, never a half-read value. The SDK and the daemon ship
in one distribution, so their models are the same.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from citizen.errors import RemoteProtocolError

T = TypeVar("T")

HINT = "Update citizen_sdk or the daemon."


def decode(model: type[T], data: bytes | str, what: str = "the daemon's answer") -> T:
    """`data` (JSON) as `model`.

    Raises:
        RemoteProtocolError: not JSON, or not the shape of `model`.
    """
    try:
        return msgspec.json.decode(data, type=model)
    except msgspec.ValidationError as exc:
        raise RemoteProtocolError(f"In {what}: {exc}.", HINT) from exc
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(
            f"{what[:1].upper()}{what[1:]} is not JSON: {exc}.", HINT
        ) from exc
