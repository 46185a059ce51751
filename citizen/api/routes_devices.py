"""Local API: this household's devices (enroll a new one, list, revoke)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from citizen.api.app import read_json
from citizen.api.context import ApiContext
from citizen.errors import UsageError
from citizen.household.service import HouseholdService

MAX_CODE_SECONDS = 24 * 3600


def routes(ctx: ApiContext) -> list[BaseRoute]:
    def household() -> HouseholdService:
        service: HouseholdService = ctx.service("household")
        return service

    async def enroll(request: Request) -> JSONResponse:
        body = await read_json(request)
        expires = body.get("expires_s", 600)
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise UsageError("expires_s must be a whole number of seconds.")
        if not 1 <= expires <= MAX_CODE_SECONDS:
            raise UsageError(f"expires_s must be between 1 and {MAX_CODE_SECONDS}.")
        return JSONResponse(await household().create_enrollment(expires), status_code=201)

    async def list_devices(_request: Request) -> JSONResponse:
        return JSONResponse(await household().list_devices())

    async def remove(request: Request) -> JSONResponse:
        return JSONResponse(await household().remove_device(request.path_params["device"]))

    return [
        Route("/v1/devices", list_devices, methods=["GET"]),
        Route("/v1/devices/enroll", enroll, methods=["POST"]),
        Route("/v1/devices/{device}", remove, methods=["DELETE"]),
    ]


_OK = {"content": {"application/json": {"schema": {"type": "object"}}}}

#: OpenAPI 3.1 path items, merged into /v1/openapi.json by citizen.api.routes_meta
OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/v1/devices": {
        "get": {
            "tags": ["devices"],
            "summary": "This household's devices, and which holds the household key.",
            "operationId": "listDevices",
            "responses": {
                "200": {
                    "description": "The devices.",
                    "content": {"application/json": {"schema": {"type": "array"}}},
                }
            },
        }
    },
    "/v1/devices/enroll": {
        "post": {
            "tags": ["devices"],
            "summary": "Make a one-time code for a new device of this household.",
            "operationId": "enrollDevice",
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "expires_s": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": MAX_CODE_SECONDS,
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {"description": "The code for `citizen init --join`.", **_OK},
                "400": {"$ref": "#/components/responses/BadRequest"},
                "403": {"$ref": "#/components/responses/Forbidden"},
            },
        }
    },
    "/v1/devices/{device}": {
        "delete": {
            "tags": ["devices"],
            "summary": "Revoke a device of this household for good.",
            "operationId": "revokeDevice",
            "parameters": [
                {
                    "name": "device",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[^/.][^/]*$"},
                }
            ],
            "responses": {
                "200": {"description": "Revoked.", **_OK},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
}
