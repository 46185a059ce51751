"""Local API: folders (add, list, status, pause, resume, remove, scan, history, restore)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.context import ApiContext
from citizen.api.models.folders import (
    AddFolder,
    FolderInfo,
    FolderName,
    FolderPathHex,
    FolderPathText,
    FolderScan,
    FolderVersion,
    RemovedFolder,
    RestoredFolder,
    RestoreFolder,
)
from citizen.api.operations import BAD_REQUEST, NOT_FOUND, BodyOperation, Operation, Param
from citizen.errors import UsageError

if TYPE_CHECKING:
    from citizen.folders.service import FolderService

NAME = Param("name", "path", FolderName)
_ERRORS = (BAD_REQUEST, NOT_FOUND)
_ONE = "/v1/folders/{name}"

LIST = Operation(
    method="GET",
    path="/v1/folders",
    operation_id="listFolders",
    tag="folders",
    summary="Every folder this device protects.",
    response=list[FolderInfo],
    ok="Every folder.",
)
ADD = BodyOperation(
    method="POST",
    path="/v1/folders",
    operation_id="addFolder",
    tag="folders",
    summary="Protect a directory: writes its marker file; the first scan starts at once.",
    request=AddFolder,
    response=FolderInfo,
    status=201,
    ok="Added.",
    errors=_ERRORS,
)
STATUS = Operation(
    method="GET",
    path=_ONE,
    operation_id="folderStatus",
    tag="folders",
    summary="One folder's state and what it holds.",
    params=(NAME,),
    response=FolderInfo,
    ok="The folder.",
    errors=_ERRORS,
)
PAUSE = Operation(
    method="POST",
    path=_ONE + "/pause",
    operation_id="pauseFolder",
    tag="folders",
    summary="Stop watching and scanning the folder.",
    params=(NAME,),
    response=FolderInfo,
    ok="Paused.",
    errors=_ERRORS,
)
RESUME = Operation(
    method="POST",
    path=_ONE + "/resume",
    operation_id="resumeFolder",
    tag="folders",
    summary="Watch and scan the folder again (refused while its root or marker is missing).",
    params=(NAME,),
    response=FolderInfo,
    ok="Active again.",
    errors=_ERRORS,
)
REMOVE = Operation(
    method="DELETE",
    path=_ONE,
    operation_id="removeFolder",
    tag="folders",
    summary="Stop protecting the folder; with forget=true also drop its history and objects.",
    params=(NAME, Param("forget", "query", bool, required=False)),
    response=RemovedFolder,
    ok="Removed.",
    errors=_ERRORS,
)
SCAN = Operation(
    method="POST",
    path=_ONE + "/scan",
    operation_id="scanFolder",
    tag="folders",
    summary="Scan the folder now and record what changed.",
    params=(NAME,),
    response=FolderScan,
    ok="What the scan found.",
    errors=_ERRORS,
)
HISTORY = Operation(
    method="GET",
    path=_ONE + "/history",
    operation_id="folderHistory",
    tag="folders",
    summary="Every version of one path, oldest first (give `path` or `path_hex`).",
    params=(
        NAME,
        Param("path", "query", FolderPathText, required=False),
        Param("path_hex", "query", FolderPathHex, required=False),
    ),
    response=list[FolderVersion],
    ok="The versions.",
    errors=_ERRORS,
)
RESTORE = BodyOperation(
    method="POST",
    path=_ONE + "/restore",
    operation_id="restoreFolder",
    tag="folders",
    summary="Write the folder (or paths of it) as of a time into a directory, never outside it.",
    params=(NAME,),
    request=RestoreFolder,
    request_required=False,
    response=RestoredFolder,
    ok="What was written.",
    errors=_ERRORS,
)

OPERATIONS: tuple[Operation, ...] = (
    LIST,
    ADD,
    STATUS,
    PAUSE,
    RESUME,
    REMOVE,
    SCAN,
    HISTORY,
    RESTORE,
)


def path_bytes(text: str | None, hexed: str | None) -> bytes:
    """A folder path from the API: hex of its bytes, else UTF-8 text.

    Raises:
        UsageError: neither given, or the hex is not hex.
    """
    if hexed:
        try:
            return bytes.fromhex(hexed)
        except ValueError as exc:
            raise UsageError(f"'{hexed[:80]}' is not hex.", "Give path_hex as hex bytes.") from exc
    if text is None:
        raise UsageError("Give the path (path or path_hex).", "E.g. ?path=photos/cat.jpg")
    return text.strip("/").encode("utf-8")


def routes(ctx: ApiContext) -> list[BaseRoute]:
    def folders() -> FolderService:
        from citizen.folders.service import FolderService

        return ctx.need("folders", FolderService)

    def name_of(request: Request) -> str:
        return str(request.path_params["name"])

    async def list_folders(_request: Request) -> Response:
        return LIST.respond(await folders().list())

    async def add(request: Request) -> Response:
        body = await ADD.read(request)
        return ADD.respond(await folders().add(body.path, body.name, body.mode))

    async def status(request: Request) -> Response:
        return STATUS.respond(await folders().info(name_of(request)))

    async def pause(request: Request) -> Response:
        return PAUSE.respond(await folders().pause(name_of(request)))

    async def resume(request: Request) -> Response:
        return RESUME.respond(await folders().resume(name_of(request)))

    async def remove(request: Request) -> Response:
        forget = request.query_params.get("forget", "false").lower() in ("1", "true", "yes")
        return REMOVE.respond(await folders().remove(name_of(request), forget=forget))

    async def scan(request: Request) -> Response:
        return SCAN.respond(await folders().scan(name_of(request)))

    async def history(request: Request) -> Response:
        q = request.query_params
        path = path_bytes(q.get("path"), q.get("path_hex"))
        return HISTORY.respond(await folders().history(name_of(request), path))

    async def restore(request: Request) -> Response:
        body = await RESTORE.read(request)
        paths = [path_bytes(None, h) for h in body.paths_hex]
        paths += [path_bytes(p, None) for p in body.paths]
        result = await folders().restore(
            name_of(request), to=body.to, at=body.at, paths=paths, force=body.force
        )
        return RESTORE.respond(result)

    return [
        LIST.route(list_folders),
        ADD.route(add),
        STATUS.route(status),
        PAUSE.route(pause),
        RESUME.route(resume),
        REMOVE.route(remove),
        SCAN.route(scan),
        HISTORY.route(history),
        RESTORE.route(restore),
    ]
