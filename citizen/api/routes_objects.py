"""Local API: objects (streamed put and get, list, rm, evict, verify, repair) and storage."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from citizen.api.bodies import convert_as
from citizen.api.context import ApiContext
from citizen.api.metrics import node_metrics
from citizen.api.models import (
    EvictedObject,
    ObjectCheck,
    ObjectRef,
    ObjectSelector,
    ProtectionWait,
    RemovedObject,
    RepairReport,
    RestoredObject,
    Storage,
)
from citizen.api.models.objects import ObjectIdText, ObjectName
from citizen.api.operations import (
    BAD_REQUEST,
    BINARY,
    NOT_FOUND,
    UNAVAILABLE,
    BodyOperation,
    Operation,
    Param,
)
from citizen.errors import CitizenError

OBJECT = Param("object_id", "path", ObjectIdText)
_ERRORS = (BAD_REQUEST, NOT_FOUND, UNAVAILABLE)

PUT = Operation(
    method="POST",
    path="/v1/objects",
    operation_id="putObject",
    tag="objects",
    summary="Put a file: stream its bytes as the body.",
    params=(Param("name", "query", ObjectName, required=False),),
    raw_request=BINARY,
    response=ObjectRef,
    status=201,
    ok="Stored.",
    errors=_ERRORS,
)
LIST = Operation(
    method="GET",
    path="/v1/objects",
    operation_id="listObjects",
    tag="objects",
    summary="List this household's objects.",
    response=list[ObjectRef],
    ok="Every object.",
    errors=_ERRORS,
)
VERIFY = BodyOperation(
    method="POST",
    path="/v1/objects/verify",
    operation_id="verifyObjects",
    tag="objects",
    summary="Challenge holders to prove their shares.",
    request=ObjectSelector,
    request_required=False,
    response=list[ObjectCheck],
    ok="Report.",
    errors=_ERRORS,
)
REPAIR = BodyOperation(
    method="POST",
    path="/v1/objects/repair",
    operation_id="repairObjects",
    tag="objects",
    summary="Rebuild and re-place missing shares.",
    request=ObjectSelector,
    request_required=False,
    response=RepairReport,
    ok="Report.",
    errors=_ERRORS,
)
GET = Operation(
    method="GET",
    path="/v1/objects/{object_id}",
    operation_id="getObject",
    tag="objects",
    summary="Get an object's bytes (streamed).",
    params=(OBJECT,),
    response=BINARY,
    ok="The bytes; X-Citizen-Object-Name has its name (UTF-8, hex).",
    errors=_ERRORS,
)
REMOVE = Operation(
    method="DELETE",
    path="/v1/objects/{object_id}",
    operation_id="removeObject",
    tag="objects",
    summary="Delete an object here and at its holders.",
    params=(OBJECT,),
    response=RemovedObject,
    ok="Removed.",
    errors=_ERRORS,
)
EVICT = Operation(
    method="POST",
    path="/v1/objects/{object_id}/evict",
    operation_id="evictObject",
    tag="objects",
    summary="Drop the local copy (refused, not_protected, until the object is protected).",
    params=(OBJECT,),
    response=EvictedObject,
    ok="Evicted.",
    errors=_ERRORS,
)
RESTORE = Operation(
    method="POST",
    path="/v1/objects/{object_id}/restore",
    operation_id="restoreObject",
    tag="objects",
    summary="Fetch the object from friends into a local copy.",
    params=(OBJECT,),
    response=RestoredObject,
    ok="Done.",
    errors=_ERRORS,
)
WAIT = BodyOperation(
    method="POST",
    path="/v1/objects/{object_id}/wait",
    operation_id="waitForProtection",
    tag="objects",
    summary="Wait until the object is protected, or the timeout; the object as it is then.",
    params=(OBJECT,),
    request=ProtectionWait,
    request_required=False,
    response=ObjectRef,
    ok='The object; `protection` is "protected" unless the timeout passed first.',
    errors=_ERRORS,
)
STORAGE = Operation(
    method="GET",
    path="/v1/storage",
    operation_id="getStorage",
    tag="objects",
    summary="What we hold for friends and they hold for us.",
    response=Storage,
    ok="Usage.",
    errors=_ERRORS,
)

OPERATIONS: tuple[Operation, ...] = (
    PUT,
    LIST,
    VERIFY,
    REPAIR,
    GET,
    REMOVE,
    EVICT,
    RESTORE,
    WAIT,
    STORAGE,
)


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def put_object(request: Request) -> Response:
        name = request.query_params.get("name", "")
        length = request.headers.get("content-length")
        size = int(length) if length is not None and length.isdigit() else None

        stream = request.stream()

        async def body() -> AsyncIterator[bytes]:
            async for chunk in stream:
                if chunk:
                    yield chunk

        try:
            result = await ctx.objects().put(body(), name, size)
        except CitizenError:
            # read what the client is still sending, or it never reads our answer
            try:
                async for _chunk in stream:
                    pass
            except ClientDisconnect:
                pass
            raise
        ref = convert_as(result, ObjectRef)
        node_metrics(ctx).bytes_put.inc(ref.size)
        return PUT.respond(ref)

    async def list_objects(_request: Request) -> Response:
        return LIST.respond(await ctx.objects().list())

    async def get_object(request: Request) -> Response:
        entry, chunks = await ctx.objects().open_read(request.path_params["object_id"])
        got = node_metrics(ctx).bytes_got

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                got.inc(len(chunk))
                yield chunk

        return StreamingResponse(
            counted(),
            media_type=BINARY.media_type,
            headers={
                "Content-Length": str(entry.manifest.size),
                "X-Citizen-Object-Name": entry.name.encode("utf-8", "replace").hex(),
            },
        )

    async def remove_object(request: Request) -> Response:
        return REMOVE.respond(await ctx.objects().remove(request.path_params["object_id"]))

    async def evict_object(request: Request) -> Response:
        return EVICT.respond(await ctx.objects().evict(request.path_params["object_id"]))

    async def restore_object(request: Request) -> Response:
        result = await ctx.objects().keep_local(request.path_params["object_id"])
        return RESTORE.respond(result)

    async def wait_for_protection(request: Request) -> Response:
        body = await WAIT.read(request)
        object_id = request.path_params["object_id"]
        return WAIT.respond(await ctx.objects().wait_protected(object_id, body.timeout))

    async def verify(request: Request) -> Response:
        body = await VERIFY.read(request)
        return VERIFY.respond(await ctx.objects().verify(body.object_id))

    async def repair(request: Request) -> Response:
        body = await REPAIR.read(request)
        return REPAIR.respond(await ctx.objects().repair(body.object_id, check=True))

    async def storage(_request: Request) -> Response:
        return STORAGE.respond(await ctx.objects().storage())

    return [
        PUT.route(put_object),
        LIST.route(list_objects),
        VERIFY.route(verify),
        REPAIR.route(repair),
        GET.route(get_object),
        REMOVE.route(remove_object),
        EVICT.route(evict_object),
        RESTORE.route(restore_object),
        WAIT.route(wait_for_protection),
        STORAGE.route(storage),
    ]
