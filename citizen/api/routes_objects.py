"""Local API: objects (streamed put and get, list, rm, evict, verify, repair) and storage."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from citizen.api.app import read_json
from citizen.api.context import ApiContext
from citizen.api.metrics import node_metrics
from citizen.errors import CitizenError, UsageError


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def put_object(request: Request) -> JSONResponse:
        name = request.query_params.get("name", "")
        length = request.headers.get("content-length")
        size = int(length) if length is not None and length.isdigit() else None

        stream = request.stream()

        async def body() -> AsyncIterator[bytes]:
            async for chunk in stream:
                if chunk:
                    yield chunk

        try:
            result = await ctx.service("objects").put(body(), name, size)
        except CitizenError:
            # read what the client is still sending, or it never reads our answer
            try:
                async for _chunk in stream:
                    pass
            except ClientDisconnect:
                pass
            raise
        node_metrics(ctx).bytes_put.inc(int(result.get("size", 0) or 0))
        return JSONResponse(result, status_code=201)

    async def list_objects(_request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("objects").list())

    async def get_object(request: Request) -> Response:
        entry, chunks = await ctx.service("objects").open_read(request.path_params["object_id"])
        got = node_metrics(ctx).bytes_got

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                got.inc(len(chunk))
                yield chunk

        return StreamingResponse(
            counted(),
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(entry.manifest.size),
                "X-Citizen-Object-Name": entry.name.encode("utf-8", "replace").hex(),
            },
        )

    async def remove_object(request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("objects").remove(request.path_params["object_id"]))

    async def evict_object(request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("objects").evict(request.path_params["object_id"]))

    async def restore_object(request: Request) -> JSONResponse:
        from citizen.objects.restore import keep_local

        return JSONResponse(
            await keep_local(ctx.service("objects"), request.path_params["object_id"])
        )

    async def verify(request: Request) -> JSONResponse:
        from citizen.objects.repair import verify as run_verify

        body = await read_json(request)
        object_id = body.get("object_id")
        if object_id is not None and not isinstance(object_id, str):
            raise UsageError("'object_id' must be an object ID.")
        return JSONResponse(await run_verify(ctx.service("objects"), object_id))

    async def repair(request: Request) -> JSONResponse:
        from citizen.objects.repair import repair as run_repair

        body = await read_json(request)
        object_id = body.get("object_id")
        if object_id is not None and not isinstance(object_id, str):
            raise UsageError("'object_id' must be an object ID.")
        return JSONResponse(
            await run_repair(ctx.service("objects"), check=True, object_id=object_id)
        )

    async def storage(_request: Request) -> JSONResponse:
        return JSONResponse(await ctx.service("objects").storage())

    return [
        Route("/v1/objects", put_object, methods=["POST"]),
        Route("/v1/objects", list_objects, methods=["GET"]),
        Route("/v1/objects/verify", verify, methods=["POST"]),
        Route("/v1/objects/repair", repair, methods=["POST"]),
        Route("/v1/objects/{object_id}", get_object, methods=["GET"]),
        Route("/v1/objects/{object_id}", remove_object, methods=["DELETE"]),
        Route("/v1/objects/{object_id}/evict", evict_object, methods=["POST"]),
        Route("/v1/objects/{object_id}/restore", restore_object, methods=["POST"]),
        Route("/v1/storage", storage, methods=["GET"]),
    ]


def _op(summary: str, op_id: str, ok: str, *, body: bool = False) -> dict[str, object]:
    out: dict[str, object] = {
        "tags": ["objects"],
        "summary": summary,
        "operationId": op_id,
        "responses": {
            "200": {"description": ok, "content": {"application/json": {"schema": {}}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "409": {"$ref": "#/components/responses/Unavailable"},
        },
    }
    if body:
        out["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"object_id": {"type": "string"}}}
                }
            },
        }
    return out


_OBJECT_ID = {"name": "object_id", "in": "path", "required": True, "schema": {"type": "string"}}

#: OpenAPI 3.1 path items of the routes above (merged by `citizen.api.routes_meta`).
OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/v1/objects": {
        "post": {
            **_op("Put a file: stream its bytes as the body.", "putObject", "Stored."),
            "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            },
        },
        "get": _op("List this household's objects.", "listObjects", "Every object."),
    },
    "/v1/objects/verify": {
        "post": _op(
            "Challenge holders to prove their shares.", "verifyObjects", "Report.", body=True
        )
    },
    "/v1/objects/repair": {
        "post": _op("Rebuild and re-place missing shares.", "repairObjects", "Report.", body=True)
    },
    "/v1/objects/{object_id}": {
        "get": {
            **_op("Get an object's bytes (streamed).", "getObject", "The bytes."),
            "parameters": [_OBJECT_ID],
        },
        "delete": {
            **_op("Delete an object here and at its holders.", "removeObject", "Removed."),
            "parameters": [_OBJECT_ID],
        },
    },
    "/v1/objects/{object_id}/restore": {
        "post": {
            **_op("Fetch the object from friends into a local copy.", "restoreObject", "Done."),
            "parameters": [_OBJECT_ID],
        }
    },
    "/v1/objects/{object_id}/evict": {
        "post": {
            **_op("Drop the local copy (kept while under-replicated).", "evictObject", "Evicted."),
            "parameters": [_OBJECT_ID],
        }
    },
    "/v1/storage": {
        "get": _op("What we hold for friends and they hold for us.", "getStorage", "Usage.")
    },
}
