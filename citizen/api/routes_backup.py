"""Local API: the household backup on friends (status, back up now)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.context import ApiContext
from citizen.api.models import BackupStatus
from citizen.api.operations import FORBIDDEN, Operation

_OK = "Backup version and which friends hold it."

STATUS = Operation(
    method="GET",
    path="/v1/backup",
    operation_id="backupStatus",
    tag="backup",
    summary="The household backup on friends.",
    response=BackupStatus,
    ok=_OK,
)
NOW = Operation(
    method="POST",
    path="/v1/backup",
    operation_id="backupNow",
    tag="backup",
    summary="Seal and push a backup to online friends now.",
    response=BackupStatus,
    ok=_OK,
    errors=(FORBIDDEN,),
)

OPERATIONS: tuple[Operation, ...] = (STATUS, NOW)


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def status(_request: Request) -> Response:
        return STATUS.respond(await ctx.backup().status())

    async def now(_request: Request) -> Response:
        return NOW.respond(await ctx.backup().backup_now())

    return [STATUS.route(status), NOW.route(now)]
