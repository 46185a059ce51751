"""Local API: docs (create, list, show, edit by path, history, share/unshare, delete)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from citizen.api.app import read_json
from citizen.api.context import ApiContext
from citizen.errors import UsageError
from citizen.sync.docs_service import DocsService


def _text(body: dict[str, object], key: str, *, required: bool = True, max_len: int = 1024) -> str:
    value = body.get(key, None if required else "")
    if not isinstance(value, str):
        raise UsageError(f"'{key}' must be given as text.")
    if len(value) > max_len:
        raise UsageError(f"'{key}' is longer than {max_len} characters.")
    return value


def routes(ctx: ApiContext) -> list[BaseRoute]:
    def docs() -> DocsService:
        service: DocsService = ctx.service("docs")
        return service

    async def create(request: Request) -> JSONResponse:
        body = await read_json(request)
        title = _text(body, "title", max_len=200)
        return JSONResponse(await docs().create(title), status_code=201)

    async def list_docs(_request: Request) -> JSONResponse:
        return JSONResponse(await docs().list_docs())

    async def show(request: Request) -> JSONResponse:
        path = request.query_params.get("path", "")
        return JSONResponse(await docs().show(request.path_params["doc"], path))

    async def change(request: Request) -> JSONResponse:
        """One edit: {"op": "set"|"del"|"append", "path": "items.0.done", "value": JSON}."""
        body = await read_json(request)
        op = _text(body, "op", max_len=16)
        path = _text(body, "path", required=False)
        doc = request.path_params["doc"]
        service = docs()
        match op:
            case "set":
                if "value" not in body:
                    raise UsageError("'set' needs a 'value'.")
                result = await service.set(doc, path, body["value"])
            case "append":
                if "value" not in body:
                    raise UsageError("'append' needs a 'value'.")
                result = await service.append(doc, path, body["value"])
            case "del":
                result = await service.delete_path(doc, path)
            case _:
                raise UsageError(f"Unknown op {op!r}: use set, del or append.")
        return JSONResponse(result)

    async def history(request: Request) -> JSONResponse:
        return JSONResponse(await docs().history(request.path_params["doc"]))

    async def share(request: Request) -> JSONResponse:
        body = await read_json(request)
        result = await docs().share(
            request.path_params["doc"], _text(body, "friend"), _text(body, "role", max_len=16)
        )
        return JSONResponse(result)

    async def unshare(request: Request) -> JSONResponse:
        body = await read_json(request)
        result = await docs().unshare(request.path_params["doc"], _text(body, "friend"))
        return JSONResponse(result)

    async def delete(request: Request) -> JSONResponse:
        return JSONResponse(await docs().delete(request.path_params["doc"]))

    return [
        Route("/v1/docs", create, methods=["POST"]),
        Route("/v1/docs", list_docs, methods=["GET"]),
        Route("/v1/docs/{doc}", show, methods=["GET"]),
        Route("/v1/docs/{doc}", delete, methods=["DELETE"]),
        Route("/v1/docs/{doc}/change", change, methods=["POST"]),
        Route("/v1/docs/{doc}/history", history, methods=["GET"]),
        Route("/v1/docs/{doc}/share", share, methods=["POST"]),
        Route("/v1/docs/{doc}/unshare", unshare, methods=["POST"]),
    ]
