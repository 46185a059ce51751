"""The web page's routes: login, home, friends, invite by QR code, accepting an invite (pair)."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from citizen.api.models.friends import MAX_OFFER_MIB
from citizen.errors import CitizenError, InviteError, LoginError, NotFoundError, UsageError
from citizen.web import views
from citizen.web.app import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Web,
    error_page,
    form_fields,
    is_loopback,
    is_secure,
    status_of,
)
from citizen.web.auth import SESSION_SECONDS, same_token
from citizen.web.folders import home_summary

#: a web-made invite lives long enough to reach a phone at home, and still works once
WEB_INVITE_SECONDS = 24 * 3600
HEALTH_EVERY_S = 60.0
_NEXT = re.compile(r"^/[A-Za-z0-9/_.\-?=&%]*$")
_FRAGMENT = re.compile(r"^[A-Za-z0-9_\-]{1,4096}$")

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)


def _safe_next(text: str | None) -> str:
    """Only a path of this site: never `//evil`, never a scheme."""
    if not text or not _NEXT.match(text) or text.startswith("//"):
        return "/"
    return text


def _log_in_response(request: Request, token: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def qr_svg(text: str) -> str:
    """`text` as an SVG QR code that scales to its box (no fixed size)."""
    import segno

    out = io.BytesIO()
    segno.make(text, error="l").save(out, kind="svg", border=4, xmldecl=False, omitsize=True)
    return out.getvalue().decode()


def pair_url(request: Request, mdns_name: str, code: str) -> str:
    """``http://citizen.local:PORT/pair#CODE``: every household's device answers to that name.

    A phone at the friend's home that scans the QR code opens the friend's own
    page; the code travels in the fragment, which a browser never sends.
    """
    port = request.url.port
    host = f"{mdns_name or 'citizen'}.local"
    return f"http://{host}{'' if port in (None, 80) else f':{port}'}/pair#{code}"


async def _maybe(call: Callable[[], Awaitable[object]], default: object) -> object:
    try:
        return await call()
    except NotFoundError:  # a service that does not run (offline)
        return default


def routes(web: Web) -> list[BaseRoute]:
    ctx = web.ctx

    async def login_page(request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        # a reverse proxy on this machine makes every visitor look local: they log in
        proxied = any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip"))
        if request.method == "GET":
            if web.auth.session(request.cookies.get(SESSION_COOKIE)) is not None:
                return RedirectResponse(target, status_code=303)
            if web.settings.localhost_skips_login and is_loopback(request.scope) and not proxied:
                token, _session = web.auth.new_session()
                return _log_in_response(request, token, target)
            import secrets

            # kept across renders: a second GET (another tab, a favicon redirected here)
            # must not invalidate the form already on screen
            form_token = request.cookies.get(LOGIN_COOKIE) or ""
            if not _FRAGMENT.match(form_token) or len(form_token) < 32:
                form_token = secrets.token_urlsafe(24)
            response = web.page(request, "login.html", next=target, login_csrf=form_token)
            response.set_cookie(
                LOGIN_COOKIE,
                form_token,
                httponly=True,
                samesite="strict",
                secure=is_secure(request),
                path="/login",
            )
            return response
        body = await request.body()
        fields = form_fields(body[:65536])
        if not same_token(fields.get("login_csrf"), request.cookies.get(LOGIN_COOKIE) or "-"):
            exc = LoginError(
                "This login form was refused: it is stale or was not sent from this page.",
                "Reload the login page and try again.",
            )
            return error_page(web, request, 403, exc)
        address = request.client.host if request.client else "?"
        try:
            token, _session = await web.auth.log_in(address, fields.get("secret", ""))
        except CitizenError as exc:
            status = status_of(exc)
            return web.page(
                request,
                "login.html",
                status,
                next=target,
                login_csrf=request.cookies.get(LOGIN_COOKIE, ""),
                error=exc,
            )
        fragment = fields.get("fragment", "").lstrip("#")
        if fragment and _FRAGMENT.match(fragment):
            target += f"#{fragment}"
        return _log_in_response(request, token, target)

    async def logout(request: Request) -> Response:
        web.auth.log_out(request.scope.get("citizen_token"))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    cached: list[tuple[float, list[views.Problem]]] = []

    async def health_problems() -> list[views.Problem] | None:
        """The doctor's warnings and failures (`GET /v1/health`), re-checked once a minute."""
        now = time.monotonic()
        if cached and now - cached[0][0] < HEALTH_EVERY_S:
            return cached[0][1]
        from citizen.api.routes_health import health

        try:
            result = await health(ctx)
        except Exception as exc:  # the home page shows its own findings instead
            log.warning("web page: the health checks failed: %s", exc)
            return None
        order = {"fail": 0, "warn": 1}
        found = [
            views.Problem(c.message, c.hint)
            for c in sorted(result.checks, key=lambda c: order.get(c.level, 2))
            if c.level != "ok"
        ]
        cached[:] = [(now, found)]
        return found

    async def home_values() -> dict[str, object]:
        status = msgspec.to_builtins(ctx.status())
        assert isinstance(status, dict)
        friends = await _maybe(lambda: ctx.friends().list_json(), [])
        objects = await _maybe(lambda: ctx.objects().list(), [])
        assert isinstance(friends, list) and isinstance(objects, list)
        prot = views.protection(objects)
        return {
            "status": status,
            "friends": friends,
            "online": sum(1 for f in friends if f.get("online")),
            "protection": prot,
            "folders": await home_summary(ctx),
            "problems": await health_problems() or views.problems(status, friends, prot),
        }

    async def home(request: Request) -> Response:
        return web.page(request, "home.html", values=await home_values())

    async def home_live(request: Request) -> Response:
        return web.page(request, "_home_live.html", values=await home_values())

    async def friends_values() -> dict[str, object]:
        friends = await _maybe(lambda: ctx.friends().list_json(), None)
        storage = await _maybe(lambda: ctx.objects().storage(), {})
        assert isinstance(storage, dict)
        held = {h["household"]: h for h in storage.get("held_for_friends", [])}
        theirs = {h["household"]: h["bytes"] for h in storage.get("held_by_friends", [])}
        return {"friends": friends, "held": held, "theirs": theirs}

    async def friends_page(request: Request) -> Response:
        return web.page(request, "friends.html", values=await friends_values())

    async def friends_live(request: Request) -> Response:
        return web.page(request, "_friends_live.html", values=await friends_values())

    async def remove_friend(request: Request) -> Response:
        friend = await ctx.friends().resolve(unquote(request.path_params["household"]))
        if request.method == "GET":
            return web.page(request, "remove_friend.html", friend=friend)
        await ctx.friends().remove(friend.household)
        return RedirectResponse("/friends", status_code=303)

    async def set_offer(request: Request) -> Response:
        fields = form_fields(await request.body())
        store = ctx.friends().store
        friend = await store.resolve(unquote(request.path_params["household"]))
        text = fields.get("offer_mib", "").strip()
        if text and (not text.isdigit() or int(text) > MAX_OFFER_MIB):
            raise UsageError(
                f"{text!r} is not a number of MiB.", "Type a whole number, or leave it empty."
            )
        offer = int(text) * 1024 * 1024 if text else None
        await store.set_offer(friend.household, offer)
        return RedirectResponse("/friends", status_code=303)

    async def invite_page(request: Request) -> Response:
        if request.method == "GET":
            return web.page(request, "invite.html", invite=None)
        made = await ctx.friends().create_invite(WEB_INVITE_SECONDS)
        code = str(made["code"])
        url = pair_url(request, web.settings.mdns_name, code)
        return web.page(
            request,
            "invite.html",
            invite=made,
            code=code,
            url=url,
            qr=qr_svg(url),
            until=time.strftime("%Y-%m-%d %H:%M", time.localtime(int(str(made["expires"])))),
        )

    async def invite_state(request: Request) -> Response:
        state = await ctx.friends().invite_status(request.path_params["invite_id"])
        return web.page(request, "_invite_state.html", state=state)

    async def pair_page(request: Request) -> Response:
        if request.method == "GET":
            return web.page(request, "pair.html", paired=None, error=None, code="")
        fields = form_fields(await request.body())
        code = "".join(fields.get("code", "").split())
        if not code:
            exc: CitizenError = InviteError("Paste the invite code first.", "It starts with CC1.")
            return web.page(request, "pair.html", 400, paired=None, error=exc, code="")
        try:
            paired = await ctx.friends().accept(code, fields.get("name") or None)
        except CitizenError as exc:  # garbled, used, expired, refused, or inviter unreachable
            own = isinstance(exc, InviteError) and "own household" in exc.message
            return web.page(
                request, "pair.html", status_of(exc), paired=None, error=exc, code=code, own=own
            )
        return web.page(request, "pair.html", paired=paired, error=None, code="")

    return [
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", home),
        Route("/live/home", home_live),
        Route("/friends", friends_page),
        Route("/live/friends", friends_live),
        Route("/friends/{household}/remove", remove_friend, methods=["GET", "POST"]),
        Route("/friends/{household}/offer", set_offer, methods=["POST"]),
        Route("/invite", invite_page, methods=["GET", "POST"]),
        Route("/invite/{invite_id:str}/state", invite_state),
        Route("/pair", pair_page, methods=["GET", "POST"]),
    ]
