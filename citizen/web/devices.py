"""The web page's devices: this household's devices, adding one (a join code), revoking one."""

from __future__ import annotations

import time
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from citizen.web.app import Web
from citizen.web.pages import qr_svg

#: a join code must reach the new device's console: as long as the CLI's default
JOIN_SECONDS = 600


def routes(web: Web) -> list[BaseRoute]:
    ctx = web.ctx

    async def devices_page(request: Request) -> Response:
        devices = await ctx.household().list_devices()
        return web.page(request, "devices.html", devices=devices, join=None)

    async def add_device(request: Request) -> Response:
        made = await ctx.household().create_enrollment(JOIN_SECONDS)
        code = str(made["code"])
        devices = await ctx.household().list_devices()
        until = time.strftime("%H:%M", time.localtime(int(str(made["expires"]))))
        return web.page(
            request,
            "devices.html",
            devices=devices,
            join={"code": code, "until": until, "qr": qr_svg(code)},
        )

    async def revoke(request: Request) -> Response:
        wanted = unquote(request.path_params["device"])
        devices = await ctx.household().list_devices()
        device = next((d for d in devices if d["device"] == wanted), None)
        if request.method == "GET" or device is None:
            if device is None:
                from citizen.errors import NotFoundError

                raise NotFoundError(f"No device {wanted} in this household.", "See Devices.")
            return web.page(request, "revoke_device.html", device=device)
        await ctx.household().remove_device(wanted)
        return RedirectResponse("/devices", status_code=303)

    return [
        Route("/devices", devices_page),
        Route("/devices/add", add_device, methods=["POST"]),
        Route("/devices/{device}/revoke", revoke, methods=["GET", "POST"]),
    ]
