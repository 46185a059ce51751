"""What each HTTP route of the local API is, declared once next to it: path, models, errors.

An `Operation` makes its Starlette route (`route`) and encodes the route's
answer with its response model (`respond`); a `BodyOperation` also decodes
the request body with its request model (`read`). `citizen.api.openapi`
turns the same declarations into /v1/openapi.json, so a route and its
documentation cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from citizen.api.bodies import read_body, respond

Q = TypeVar("Q", bound=msgspec.Struct)
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """An error answer an operation may give, as a named OpenAPI response component."""

    name: str
    status: int
    description: str


BAD_REQUEST = ErrorResponse(
    "BadRequest", 400, "The request is malformed (bad JSON, bad ID, bad value)."
)
UNAUTHORIZED = ErrorResponse("Unauthorized", 401, "Over TCP: missing or wrong bearer token.")
FORBIDDEN = ErrorResponse("Forbidden", 403, "Not allowed (no grant, not a friend, key missing).")
NOT_FOUND = ErrorResponse("NotFound", 404, "No such thing here, or its service is not running.")
CONFLICT = ErrorResponse("Conflict", 409, "The household identity does not allow this.")
UNAVAILABLE = ErrorResponse("Unavailable", 409, "Not enough friends could be reached now.")
INSUFFICIENT_STORAGE = ErrorResponse(
    "InsufficientStorage", 413, "A storage quota would be exceeded."
)
INTERNAL_ERROR = ErrorResponse(
    "InternalError", 500, "The daemon hit an internal error; see its log."
)
BAD_GATEWAY = ErrorResponse(
    "BadGateway", 502, "A friend's device answered with something malformed."
)

#: every error response component, in the document's order
ERROR_RESPONSES = (
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    CONFLICT,
    INTERNAL_ERROR,
    BAD_GATEWAY,
    UNAVAILABLE,
    INSUFFICIENT_STORAGE,
)
#: any request can meet these: TCP without the token, a bug
ALWAYS = (UNAUTHORIZED, INTERNAL_ERROR)


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter; `schema` is a msgspec type (``Annotated[str, Meta(...)]``)."""

    name: str
    location: Literal["path", "query"]
    schema: object
    required: bool = True


@dataclass(frozen=True, slots=True)
class Raw:
    """A body that is not JSON (file bytes, metrics text): its media type and JSON schema."""

    media_type: str
    schema: Mapping[str, object]


BINARY = Raw("application/octet-stream", {"type": "string"})


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One HTTP operation without a JSON request body.

    Attributes:
        response: the msgspec type of the JSON answer (``Friend``, ``list[Friend]``),
            or `Raw` for an answer the route streams itself.
        ok: what the success answer means, for the document.
        status: the success status.
        errors: the error answers it may give besides `ALWAYS`.
    """

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str = ""
    response: type[object] | Raw
    ok: str
    status: int = 200
    errors: tuple[ErrorResponse, ...] = ()
    params: tuple[Param, ...] = ()
    raw_request: Raw | None = None

    def route(self, endpoint: Endpoint) -> Route:
        """The Starlette route serving this operation with `endpoint`."""
        return Route(self.path, endpoint, methods=[self.method])

    def respond(self, value: object) -> Response:
        """`value` (a service's dict, list or record) as this operation's answer.

        Raises:
            ResponseShapeError: `value` does not fit `response`.
        """
        if isinstance(self.response, Raw):
            raise TypeError(f"{self.operation_id} answers {self.response.media_type}, not JSON")
        return respond(value, self.response, self.status)


@dataclass(frozen=True, kw_only=True)
class BodyOperation(Operation, Generic[Q]):
    """An operation with a JSON request body, decoded with `request`.

    Attributes:
        request_required: False when an empty body stands for ``{}`` in the document too.
    """

    request: type[Q]
    request_required: bool = True

    async def read(self, request: Request) -> Q:
        """The request body as `request`.

        Raises:
            UsageError: too large, not JSON, or not what `request` takes.
        """
        return await read_body(request, self.request)
