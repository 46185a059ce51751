"""Request and response bodies: decode a request into its model; convert an answer into its model.

A service answers with dicts or records; `encode_as` converts that with
`msgspec.convert` into the route's declared model, which validates it (an
unknown field raises, since every model refuses unknown fields) and encodes
it. A mismatch is the daemon's own bug, so it is a `ResponseShapeError`
(500, logged), never a half-checked answer.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from citizen.errors import UsageError

Q = TypeVar("Q", bound=msgspec.Struct)
T = TypeVar("T")

MAX_JSON_BODY = 1024 * 1024
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
        UsageError: too large, not JSON, or not what `model` takes.
    """
    if len(body) > MAX_JSON_BODY:
        raise UsageError(f"Request body is larger than {MAX_JSON_BODY} bytes.")
    try:
        return msgspec.json.decode(body or b"{}", type=model)
    except msgspec.ValidationError as exc:
        raise UsageError(
            f"The request body does not fit {model.__name__}: {exc}.",
            "See /v1/openapi.json for what this request takes.",
        ) from exc
    except msgspec.DecodeError as exc:
        raise UsageError(f"Request body is not valid JSON: {exc}.") from exc


async def read_body(request: Request, model: type[Q]) -> Q:
    """The request's JSON body as `model` (see `decode_as`)."""
    return decode_as(await request.body(), model)


def _name(model: type[object]) -> str:
    return model.__name__ if isinstance(model, type) else repr(model)
