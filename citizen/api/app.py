"""The local API as a Starlette app: versioned routes, JSON errors, bearer token on TCP.

Every error a route raises becomes a JSON body ``{"error", "message", "hint"}``
with a status code that says who is at fault; an unexpected exception is a
500 with the same shape, logged, and the daemon keeps running. That includes
what derives from `BaseException` only (the Automerge bindings' Rust panics):
`_Contain` stops everything but cancellation, KeyboardInterrupt and
SystemExit at each request or WebSocket, so no route can take the daemon down.
A full disk is a 507 `disk_full`, whichever write hit it.
"""

from __future__ import annotations

import hmac
import logging
import sys
from collections.abc import Awaitable, Callable

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citizen import errors
from citizen.api.bodies import JSON
from citizen.api.context import ApiContext
from citizen.api.models import ErrorBody
from citizen.docs.values import is_automerge_panic
from citizen.net.tasks import must_propagate
from citizen.store.disk import disk_full, find_disk_full

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
    errors.BodyTooLargeError: 413,
    errors.QuotaError: 413,
    errors.DiskFullError: 507,
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
            if find_disk_full(exc) is not None:
                full = disk_full(f"{request.method} {request.url.path}")
                log.warning("local API %s", full)
                return error_response(507, full.code, full.message, full.hint)
            log.exception("local API %s %s failed", request.method, request.url.path)
            return error_response(
                500, "internal", "The daemon hit an internal error.", "See its log."
            )


#: a browser cannot set headers on a WebSocket: it offers the token as a subprotocol
TOKEN_SUBPROTOCOL = "citizen.token."
#: the subprotocol a browser offers next to the token one, and the daemon answers with
SUBPROTOCOL = "citizen"


def websocket_subprotocol(scope: Scope) -> str | None:
    """The subprotocol to accept a WebSocket with: `citizen` if offered, else the offered
    token one (a browser fails a handshake whose answer names none of those it offered)."""
    offered = [str(p) for p in scope.get("subprotocols", ())]
    if SUBPROTOCOL in offered:
        return SUBPROTOCOL
    return next((p for p in offered if p.startswith(TOKEN_SUBPROTOCOL)), None)


class _Token:
    """Requests over TCP need `Authorization: Bearer TOKEN`; the Unix socket does not.

    A WebSocket handshake may carry the token as a subprotocol instead,
    `Sec-WebSocket-Protocol: citizen, citizen.token.TOKEN`, which is what a
    browser can send (`new WebSocket(url, ["citizen", "citizen.token." + TOKEN])`).

    Pure ASGI rather than `BaseHTTPMiddleware`, which only sees HTTP requests:
    WebSocket handshakes must be checked too. It fails closed: only a
    connection whose scope has no server address counts as the Unix socket
    (hypercorn puts the listener's (host, port) there for TCP and None for a
    Unix socket); anything else needs the token.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._expected_protocol = f"{TOKEN_SUBPROTOCOL}{token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("server") is not None:
            given = Headers(scope=scope).get("authorization", "")
            if not hmac.compare_digest(given.encode(), self._expected) and not (
                scope["type"] == "websocket" and self._token_offered(scope)
            ):
                refusal = error_response(
                    401,
                    "unauthorized",
                    "Missing or wrong bearer token.",
                    "Send `Authorization: Bearer <token>` with the token in DATA_DIR/api.token"
                    " (a browser's WebSocket: offer the subprotocol `citizen.token.<token>`).",
                )
                # For a WebSocket, Starlette sends this as the handshake's HTTP response.
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _token_offered(self, scope: Scope) -> bool:
        offered = [str(p).encode() for p in scope.get("subprotocols", ())]
        # compare each in constant time, and all of them, whatever matched
        return sum(hmac.compare_digest(p, self._expected_protocol) for p in offered) > 0


class ContainedPanic(Exception):
    """A `BaseException` from a route (a Rust panic in the bindings), now an ordinary error."""


class _Contain:
    """Innermost: what a route raises beyond `Exception` becomes an `Exception`; a WebSocket's
    failure closes that socket.

    pyo3's `PanicException` derives from `BaseException`, which `BaseHTTPMiddleware` and
    hypercorn let through to the daemon's root nursery. Here it becomes `ContainedPanic`,
    which `_Errors` answers as any bug (logged, 500). A WebSocket handler's failure of any
    kind is logged and the socket closed with 1011; the daemon carries on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self._app(scope, receive, send)
            except Exception:
                raise
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                log.error(
                    "local API %s: the Automerge bindings or a library panicked",
                    scope["path"],
                    exc_info=True,
                )
                if is_automerge_panic(exc):
                    raise errors.AutomergePanicError(
                        f"The Automerge bindings panicked: {exc}.",
                        "Nothing was stored; if it happens again, report it with the daemon's log.",
                    ) from exc
                raise ContainedPanic(f"{type(exc).__name__}: {exc}") from exc
            return
        if scope["type"] != "websocket":
            await self._app(scope, receive, send)
            return
        done = False

        async def tracked(message: Message) -> None:
            nonlocal done
            if message["type"] in ("websocket.close", "websocket.http.response.start"):
                done = True
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except BaseException as exc:
            if must_propagate(exc):
                raise
            log.error(
                "local API WebSocket %s failed", scope.get("path", "?"), exc_info=sys.exc_info()
            )
            if not done:
                try:
                    await send({"type": "websocket.close", "code": 1011, "reason": "internal"})
                except Exception as close_exc:  # the socket is already gone
                    log.debug("closing the failed WebSocket: %s", close_exc)


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
        middleware=[Middleware(_Errors), Middleware(_Token, token=token), Middleware(_Contain)],
    )
