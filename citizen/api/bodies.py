"""Request and response bodies: decode a request into its model; convert an answer into its model.

A service answers with dicts or records; `encode_as` converts that with
`msgspec.convert` into the route's declared model, which validates it (an
unknown field raises, since every model refuses unknown fields) and encodes
it. A mismatch is the daemon's own bug, so it is a `ResponseShapeError`
(500, logged), never a half-checked answer.

A request body is bounded while it is read: a ``Content-Length`` above
`MAX_JSON_BODY` is refused before a byte is read, and a body without one is
counted chunk by chunk, so a large body never sits in memory (413
`too_large`). Nesting deeper than the decoder's stack allows is a 400, not a
`RecursionError`.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from citizen.errors import BodyTooLargeError, TextEncodingError, UsageError
from citizen.text import HINT as UTF8_HINT

Q = TypeVar("Q", bound=msgspec.Struct)
T = TypeVar("T")

MAX_JSON_BODY = 1024 * 1024
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
JSON = "application/json"


class ResponseShapeError(Exception):
    """A route's answer does not fit the model it declares (a bug here, not the caller's)."""


def convert_as(value: object, model: type[T]) -> T:
    """`value` (a service's dict, list or record) converted into `model`, checked.

    Dict keys may be text where the model has numbers (``{"0": ...}`` for a
    ``dict[int, ...]``), as JSON has them.

    Raises:
        ResponseShapeError: `value` lacks a field, has one the model lacks, or a wrong type.
    """
    try:
        return msgspec.convert(value, model, str_keys=True)
    except msgspec.ValidationError as exc:
        raise ResponseShapeError(f"answer does not fit {_name(model)}: {exc}") from exc


def encode_as(value: object, model: type[object]) -> bytes:
    """`value` as JSON, converted into `model` first (see `convert_as`).

    `model` is any msgspec type: a Struct, ``list[Struct]``, ``dict[str, JsonValue]``.

    Raises:
        ResponseShapeError: `value` does not fit `model`.
    """
    return msgspec.json.encode(convert_as(value, model))


def respond(value: object, model: type[object], status: int = 200) -> Response:
    """The HTTP answer: `value` as `model` (see `encode_as`)."""
    return Response(encode_as(value, model), status_code=status, media_type=JSON)


def decode_as(body: bytes, model: type[Q]) -> Q:
    """A request body as `model`; an empty body counts as ``{}``.

    Raises:
        BodyTooLargeError: larger than `MAX_JSON_BODY`.
        TextEncodingError: a string in it is not valid UTF-8 (half a surrogate pair).
        UsageError: not JSON, nested too deeply, or not what `model` takes.
    """
    if len(body) > MAX_JSON_BODY:
        raise _too_large(len(body))
    try:
        return msgspec.json.decode(body or b"{}", type=model)
    except RecursionError as exc:
        raise UsageError(
            "The request body is nested too deeply.", "Send a flatter JSON value."
        ) from exc
    except msgspec.ValidationError as exc:
        raise UsageError(
            f"The request body does not fit {model.__name__}: {exc}.",
            "See /v1/openapi.json for what this request takes.",
        ) from exc
    except msgspec.DecodeError as exc:
        text = str(exc)
        if "surrogate" in text or ("truncated" in text and _surrogate_escape(body)):
            raise TextEncodingError(
                f"The request body holds a string that is not valid UTF-8 text: {exc}.",
                UTF8_HINT,
            ) from exc
        raise UsageError(f"Request body is not valid JSON: {exc}.") from exc


def _surrogate_escape(body: bytes) -> bool:
    # msgspec reports a high surrogate escape with no low one after it as "truncated"
    return _SURROGATE_ESCAPE.search(body) is not None


def _too_large(size: int | None) -> BodyTooLargeError:
    got = f" ({size} bytes)" if size is not None else ""
    return BodyTooLargeError(
        f"The request body is larger than {MAX_JSON_BODY} bytes{got}.",
        "Send less at once (large data goes in objects: citizen put).",
    )


async def read_limited(request: Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The request body, refused as soon as it is known to pass `limit` bytes.

    Raises:
        BodyTooLargeError: ``Content-Length`` or the bytes read so far pass `limit`.
        UsageError: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError as exc:
            raise UsageError(f"Content-Length {declared[:40]!r} is not a number.") from exc
        if size > limit:
            raise _too_large(size)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(None)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, model: type[Q]) -> Q:
    """The request's JSON body as `model`, read within `MAX_JSON_BODY` (see `decode_as`)."""
    return decode_as(await read_limited(request), model)


def _name(model: type[object]) -> str:
    return model.__name__ if isinstance(model, type) else repr(model)
