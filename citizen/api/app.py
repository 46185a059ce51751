"""The local API as a Starlette app: versioned routes, JSON errors, bearer token on TCP.

Every error a route raises becomes a JSON body ``{"error", "message", "hint"}``
with a status code that says who is at fault; an unexpected exception is a
500 with the same shape, logged, and the daemon keeps running.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from citizen import errors
from citizen.api.bodies import JSON
from citizen.api.context import ApiContext
from citizen.api.models import ErrorBody

log = logging.getLogger(__name__)

_STATUS: dict[type[errors.CitizenError], int] = {
    errors.UsageError: 400,
    errors.ConfigError: 400,
    errors.IdFormatError: 400,
    errors.PhraseError: 400,
    errors.InviteError: 400,
    errors.NotAuthorizedError: 403,
    errors.HouseholdKeyMissingError: 403,
    errors.PassphraseError: 403,
    errors.NotFoundError: 404,
    errors.QuotaError: 413,
    errors.UnreachableError: 409,
    errors.RemoteProtocolError: 502,
}


def status_for(exc: errors.CitizenError) -> int:
    for kind in type(exc).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 500 if not isinstance(exc, errors.IdentityError) else 409


def error_response(status: int, code: str, message: str, hint: str = "") -> Response:
    """The JSON error answer every failure gets (`ErrorBody`)."""
    body = ErrorBody(error=code, message=message, hint=hint)
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON)


class _Errors(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            return await call_next(request)
        except errors.CitizenError as exc:
            return error_response(status_for(exc), exc.code, exc.message, exc.hint)
        except Exception as exc:
            ours = errors.only_citizen_error(exc)  # from a nursery's exception group
            if ours is not None:
                return error_response(status_for(ours), ours.code, ours.message, ours.hint)
            log.exception("local API %s %s failed", request.method, request.url.path)
            return error_response(
                500, "internal", "The daemon hit an internal error.", "See its log."
            )


class _Token:
    """Requests over TCP need `Authorization: Bearer TOKEN`; the Unix socket does not.

    Pure ASGI rather than `BaseHTTPMiddleware`, which only sees HTTP requests:
    WebSocket handshakes must be checked too. It fails closed: only a
    connection whose scope has no server address counts as the Unix socket
    (hypercorn puts the listener's (host, port) there for TCP and None for a
    Unix socket); anything else needs the token.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("server") is not None:
            given = Headers(scope=scope).get("authorization", "")
            if not hmac.compare_digest(given.encode(), self._expected):
                refusal = error_response(
                    401,
                    "unauthorized",
                    "Missing or wrong bearer token.",
                    "Send `Authorization: Bearer <token>` with the token in DATA_DIR/api.token.",
                )
                # For a WebSocket, Starlette sends this as the handshake's HTTP response.
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


def build_app(
    ctx: ApiContext, token: str, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The app serving `extra_routes` (`citizen.api.routes.api_routes(ctx)`, /v1/status included).

    `ctx` is what the routes were made with; the app itself only adds the
    error bodies and the token check.
    """
    del ctx  # the routes carry it
    return Starlette(
        routes=list(extra_routes or []),
        middleware=[Middleware(_Errors), Middleware(_Token, token=token)],
    )
