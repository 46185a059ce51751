"""The one place that calls cbor2: canonical encoding and bounded, typed decoding.

Every codec module builds on these two functions, so that anything signed is
encoded canonically and anything decoded from a peer or a file can only fail
with our own error types.
"""

from __future__ import annotations

from typing import Any

import cbor2

from citizen.errors import RemoteProtocolError

MAX_DEFAULT = 4 * 1024 * 1024


def dumps(value: object) -> bytes:
    """Encode canonically (RFC 8949 core deterministic encoding)."""
    return cbor2.dumps(value, canonical=True)


def loads(data: bytes, *, max_size: int = MAX_DEFAULT, what: str = "message") -> object:
    """Decode exactly one CBOR item.

    Tags are refused (nothing we exchange uses them), so a hostile input cannot
    make the decoder build arbitrary objects.

    Raises:
        RemoteProtocolError: too large, not CBOR, trailing bytes, or tagged.
    """
    if len(data) > max_size:
        raise RemoteProtocolError(f"{what} is {len(data)} bytes, more than {max_size}.")

    def _no_tags(_decoder: Any, tag: Any) -> Any:
        raise RemoteProtocolError(f"{what} contains a CBOR tag ({tag.tag}), which we never use.")

    try:
        decoded, rest = _decode_one(bytes(data), _no_tags)
    except RemoteProtocolError:
        raise
    except Exception as exc:  # cbor2 raises many types (ValueError, OverflowError, ...)
        raise RemoteProtocolError(f"{what} is not valid CBOR: {exc}") from exc
    if rest:
        raise RemoteProtocolError(f"{what} has {rest} trailing bytes after the CBOR item.")
    return decoded


def _decode_one(data: bytes, tag_hook: Any) -> tuple[object, int]:
    import io

    stream = io.BytesIO(data)
    value = cbor2.CBORDecoder(stream, tag_hook=tag_hook).decode()
    return value, len(data) - stream.tell()


# -- narrowing helpers: turn `object` from `loads` into typed values -----------------


def as_map(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise RemoteProtocolError(f"{what} must be a CBOR map with text keys.")
    return value


def field_bytes(m: dict[str, object], key: str, what: str, *, size: int | None = None) -> bytes:
    v = m.get(key)
    if not isinstance(v, bytes):
        raise RemoteProtocolError(f"{what}: field {key!r} must be bytes.")
    if size is not None and len(v) != size:
        raise RemoteProtocolError(f"{what}: field {key!r} must be {size} bytes, not {len(v)}.")
    return v


def field_str(m: dict[str, object], key: str, what: str, *, max_len: int = 1024) -> str:
    v = m.get(key)
    if not isinstance(v, str):
        raise RemoteProtocolError(f"{what}: field {key!r} must be text.")
    if len(v) > max_len:
        raise RemoteProtocolError(f"{what}: field {key!r} is longer than {max_len}.")
    return v


def field_int(m: dict[str, object], key: str, what: str) -> int:
    v = m.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise RemoteProtocolError(f"{what}: field {key!r} must be an integer.")
    return v


def field_opt_int(m: dict[str, object], key: str, what: str) -> int | None:
    if m.get(key) is None:
        return None
    return field_int(m, key, what)


def field_list(m: dict[str, object], key: str, what: str, *, max_len: int = 4096) -> list[object]:
    v = m.get(key)
    if not isinstance(v, list):
        raise RemoteProtocolError(f"{what}: field {key!r} must be a list.")
    if len(v) > max_len:
        raise RemoteProtocolError(f"{what}: field {key!r} has more than {max_len} items.")
    return v
