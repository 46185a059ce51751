"""The web page as a Starlette app: the session guard, CSRF checks, HTML error pages.

Only ``/login`` and ``/static/*`` answer without a session; any other GET
redirects to the login page, anything else gets 401. Every request that is
not a GET or HEAD must carry the session's CSRF token, as the ``csrf`` field
of a urlencoded form or as an ``X-CSRF-Token`` header (uploads), or it is
refused with 403 before any route runs. The API's bearer token is never
read, sent or rendered here: the pages call the services directly.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citizen import errors
from citizen.api.app import status_for
from citizen.api.context import ApiContext
from citizen.web.auth import Session, WebAuth, same_token

log = logging.getLogger(__name__)

SESSION_COOKIE = "citizen_session"
LOGIN_COOKIE = "citizen_login"  # the login form's CSRF token (double-submit: no session yet)
MAX_FORM = 64 * 1024
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        b" frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


@dataclass(frozen=True, slots=True)
class WebSettings:
    """What the pages need from config.toml."""

    mdns_name: str = "citizen"
    localhost_skips_login: bool = False
    data_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Web:
    """Everything a page handler reaches: the services, the logins, the templates."""

    ctx: ApiContext
    auth: WebAuth
    settings: WebSettings
    templates: jinja2.Environment

    def page(
        self,
        request: Request,
        name: str,
        status: int = 200,
        values: Mapping[str, object] | None = None,
        **more: object,
    ) -> Response:
        """Template `name` rendered with `values` and `more` (and the page's CSRF token)."""
        session = request.scope.get("citizen_session")
        html = self.templates.get_template(name).render(
            request=request,
            csrf=session.csrf if isinstance(session, Session) else "",
            path=request.url.path,
            **(values or {}),
            **more,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("citizen.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    from citizen.folders.records import display_path
    from citizen.web import folder_rows, views

    env.filters["size"] = views.size_text
    env.filters["when"] = folder_rows.time_text
    env.filters["at_param"] = folder_rows.at_param
    env.filters["path_text"] = display_path
    env.filters["ago"] = views.ago_text
    env.filters["connection"] = views.connection_text
    return env


def is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


def is_secure(request: Request) -> bool:
    """Behind TLS: served over https, or a TLS proxy in front says so (then cookies are Secure)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.lower() == "https"


def form_fields(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class _Guard:
    """Pure ASGI: session or redirect, CSRF on every unsafe method, security headers."""

    def __init__(self, app: ASGIApp, web: Web) -> None:
        self._app = app
        self._web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        path: str = scope["path"]
        if path == "/login" or path.startswith("/static/"):
            await self._app(scope, receive, send_with_headers)
            return
        request = Request(scope)
        token = request.cookies.get(SESSION_COOKIE)
        session = self._web.auth.session(token)
        if session is None:
            if scope["method"] in ("GET", "HEAD"):
                query = scope["query_string"].decode()
                target = path + (f"?{query}" if query else "")
                refusal: Response = RedirectResponse(
                    f"/login?next={quote(target, safe='')}", status_code=303
                )
            else:
                refusal = error_page(
                    self._web, request, 401, errors.LoginError("Log in first.", "Open the page.")
                )
            await refusal(scope, receive, send_with_headers)
            return
        scope["citizen_session"] = session
        scope["citizen_token"] = token
        if scope["method"] not in ("GET", "HEAD"):
            checked = await self._check_csrf(scope, receive, send_with_headers, session)
            if checked is None:
                return
            receive = checked
        await self._app(scope, receive, send_with_headers)

    async def _check_csrf(
        self, scope: Scope, receive: Receive, send: Send, session: Session
    ) -> Receive | None:
        request = Request(scope, receive)
        given = request.headers.get("x-csrf-token")
        replay = receive
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if given is None and kind == "application/x-www-form-urlencoded":
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FORM:
                    break
            given = form_fields(body).get("csrf") if len(body) <= MAX_FORM else None
            sent = False

            async def replayed() -> Message:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            replay = replayed
        if same_token(given, session.csrf):
            return replay
        refusal = error_page(
            self._web,
            request,
            403,
            errors.LoginError(
                "This form was refused: it does not carry this page's security token.",
                "Reload the page and submit it again from there.",
            ),
        )
        await refusal(scope, receive, send)
        return None


def error_page(web: Web, request: Request, status: int, exc: errors.CitizenError) -> Response:
    return web.page(request, "error.html", status, status_code=status, error=exc)


def status_of(exc: errors.CitizenError) -> int:
    if isinstance(exc, errors.RateLimitedError):
        return 429
    return status_for(exc)


def _error_handler(web: Web) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        ours = exc if isinstance(exc, errors.CitizenError) else errors.only_citizen_error(exc)
        if ours is None:
            log.exception("web page %s %s failed", request.method, request.url.path, exc_info=exc)
            ours = errors.CitizenError("The daemon hit an internal error.", "See its log.")
            return error_page(web, request, 500, ours)
        return error_page(web, request, status_of(ours), ours)

    return handle


def build_web_app(web: Web, routes: list[BaseRoute]) -> ASGIApp:
    """The page's routes behind the guard, with the static files and HTML error pages."""
    static = resources.files("citizen.web").joinpath("static")
    handler = _error_handler(web)
    app = Starlette(
        routes=[*routes, Mount("/static", StaticFiles(directory=str(static)), name="static")],
        exception_handlers={errors.CitizenError: handler, Exception: handler},
    )
    return _Guard(app, web)
