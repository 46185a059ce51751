"""Local API: the household backup on friends (status, back up now)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from citizen.api.context import ApiContext
from citizen.backup.service import BackupService


def routes(ctx: ApiContext) -> list[BaseRoute]:
    def backup() -> BackupService:
        service: BackupService = ctx.service("backup")
        return service

    async def status(_request: Request) -> JSONResponse:
        return JSONResponse(await backup().status())

    async def now(_request: Request) -> JSONResponse:
        return JSONResponse(await backup().backup_now())

    return [
        Route("/v1/backup", status, methods=["GET"]),
        Route("/v1/backup", now, methods=["POST"]),
    ]


_STATUS = {
    "description": "Backup version and which friends hold it.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}

#: OpenAPI 3.1 path items, merged into /v1/openapi.json by citizen.api.routes_meta
OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/v1/backup": {
        "get": {
            "tags": ["backup"],
            "summary": "The household backup on friends.",
            "operationId": "backupStatus",
            "responses": {"200": _STATUS},
        },
        "post": {
            "tags": ["backup"],
            "summary": "Seal and push a backup to online friends now.",
            "operationId": "backupNow",
            "responses": {"200": _STATUS, "403": {"$ref": "#/components/responses/Forbidden"}},
        },
    }
}
