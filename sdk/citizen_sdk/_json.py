"""Narrowing the daemon's decoded JSON answers field by field, for the SDK's result types.

Every helper takes any decoded JSON value and returns the narrowed value or
raises `RemoteProtocolError` (the daemon answered with a shape this SDK does
not know).
"""

from __future__ import annotations

from collections.abc import Mapping

from citizen.errors import RemoteProtocolError

WHAT = "the daemon's answer"


def as_map(value: object, what: str = WHAT) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise RemoteProtocolError(
            f"{what} is not a JSON object.", "Update citizen_sdk or the daemon."
        )
    return value


def field(m: Mapping[str, object], key: str) -> object:
    try:
        return m[key]
    except KeyError:
        raise RemoteProtocolError(
            f"{WHAT} lacks the field {key!r}.", "Update citizen_sdk or the daemon."
        ) from None


def wrong(key: str, kind: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"In {WHAT}, {key!r} is not {kind}.", "Update citizen_sdk or the daemon."
    )


def text(m: Mapping[str, object], key: str) -> str:
    value = field(m, key)
    if not isinstance(value, str):
        raise wrong(key, "a string")
    return value


def integer(m: Mapping[str, object], key: str) -> int:
    value = field(m, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise wrong(key, "an integer")
    return value


def opt_integer(m: Mapping[str, object], key: str) -> int | None:
    value = m.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise wrong(key, "an integer or null")
    return value


def number(m: Mapping[str, object], key: str) -> float:
    value = field(m, key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise wrong(key, "a number")
    return float(value)


def flag(m: Mapping[str, object], key: str) -> bool:
    value = field(m, key)
    if not isinstance(value, bool):
        raise wrong(key, "true or false")
    return value


def texts(
    m: Mapping[str, object], key: str, default: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    if default is not None and key not in m:
        return default
    value = field(m, key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong(key, "a list of strings")
    return tuple(value)


def as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise RemoteProtocolError(
            f"{WHAT} is not a JSON list.", "Update citizen_sdk or the daemon."
        )
    return value
