"""Local API: invites (create, accept) and friends (list, remove)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from citizen.api.app import read_json
from citizen.api.context import ApiContext
from citizen.errors import UsageError

MAX_INVITE_SECONDS = 7 * 24 * 3600


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def create_invite(request: Request) -> JSONResponse:
        body = await read_json(request)
        expires = body.get("expires_s", 600)
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise UsageError("expires_s must be a whole number of seconds.")
        if not 1 <= expires <= MAX_INVITE_SECONDS:
            raise UsageError(f"expires_s must be between 1 and {MAX_INVITE_SECONDS} (a week).")
        result = await ctx.service("friends").create_invite(expires)
        if body.get("qr_svg"):
            import io

            import segno

            out = io.BytesIO()
            segno.make(str(result["code"]), error="l").save(out, kind="svg", scale=4)
            result["qr_svg"] = out.getvalue().decode()
        return JSONResponse(result, status_code=201)

    async def invite_status(request: Request) -> JSONResponse:
        invite_id = request.path_params["invite_id"]
        return JSONResponse(await ctx.service("friends").invite_status(invite_id))

    async def accept_invite(request: Request) -> JSONResponse:
        body = await read_json(request)
        code = body.get("code")
        name = body.get("name")
        if not isinstance(code, str) or not code.strip():
            raise UsageError("Give the invite code as 'code'.")
        if name is not None and (not isinstance(name, str) or len(name) > 128):
            raise UsageError("'name' must be a short text.")
        result = await ctx.service("friends").accept(code, name)
        return JSONResponse(result, status_code=201)

    async def list_friends(_request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("friends").list_json())

    async def remove_friend(request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("friends").remove(request.path_params["friend"]))

    return [
        Route("/v1/invites", create_invite, methods=["POST"]),
        Route("/v1/invites/accept", accept_invite, methods=["POST"]),
        Route("/v1/invites/{invite_id}", invite_status, methods=["GET"]),
        Route("/v1/friends", list_friends, methods=["GET"]),
        Route("/v1/friends/{friend}", remove_friend, methods=["DELETE"]),
    ]
