"""Local API: this household's devices (enroll a new one, list, revoke)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.context import ApiContext
from citizen.api.models import EnrollDevice, Enrollment, HouseholdDevice, RevokedDevice
from citizen.api.models.devices import DeviceRef
from citizen.api.operations import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    BodyOperation,
    Operation,
    Param,
)

LIST = Operation(
    method="GET",
    path="/v1/devices",
    operation_id="listDevices",
    tag="devices",
    summary="This household's devices, and which holds the household key.",
    response=list[HouseholdDevice],
    ok="The devices.",
)
ENROLL = BodyOperation(
    method="POST",
    path="/v1/devices/enroll",
    operation_id="enrollDevice",
    tag="devices",
    summary="Make a one-time code for a new device of this household.",
    request=EnrollDevice,
    request_required=False,
    response=Enrollment,
    status=201,
    ok="The code for `citizen init --join`.",
    errors=(BAD_REQUEST, FORBIDDEN),
)
REVOKE = Operation(
    method="DELETE",
    path="/v1/devices/{device}",
    operation_id="revokeDevice",
    tag="devices",
    summary="Revoke a device of this household for good.",
    params=(Param("device", "path", DeviceRef),),
    response=RevokedDevice,
    ok="Revoked.",
    errors=(FORBIDDEN, NOT_FOUND),
)

OPERATIONS: tuple[Operation, ...] = (LIST, ENROLL, REVOKE)


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def enroll(request: Request) -> Response:
        body = await ENROLL.read(request)
        return ENROLL.respond(await ctx.household().create_enrollment(body.expires_s))

    async def list_devices(_request: Request) -> Response:
        return LIST.respond(await ctx.household().list_devices())

    async def remove(request: Request) -> Response:
        return REVOKE.respond(await ctx.household().remove_device(request.path_params["device"]))

    return [LIST.route(list_devices), ENROLL.route(enroll), REVOKE.route(remove)]
