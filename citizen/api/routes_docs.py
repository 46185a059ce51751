"""Local API: docs (create, list, show, edit by path, history, share/unshare, delete)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from citizen.api.app import read_json
from citizen.api.context import ApiContext
from citizen.docs.service import DocsService
from citizen.errors import UsageError


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


# -- OpenAPI 3.1 path items, merged into /v1/openapi.json by citizen.api.routes_meta --

_DOC_PARAM = {
    "name": "doc",
    "in": "path",
    "required": True,
    "description": "Doc ID (base58 of 16 bytes).",
    "schema": {"type": "string", "pattern": "^[1-9A-HJ-NP-Za-km-z]{1,40}$"},
}
_OBJECT: dict[str, object] = {"type": "object"}


def _json(schema: dict[str, object], description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(
    op_id: str,
    summary: str,
    ok: str,
    *,
    body: dict[str, object] | None = None,
    path: bool = True,
    status: str = "200",
    extra: tuple[str, ...] = ("400", "404"),
) -> dict[str, object]:
    refs = {"400": "BadRequest", "403": "Forbidden", "404": "NotFound", "409": "Unavailable"}
    op: dict[str, object] = {
        "tags": ["docs"],
        "summary": summary,
        "operationId": op_id,
        "responses": {
            status: _json(_OBJECT, ok),
            **{code: {"$ref": f"#/components/responses/{refs[code]}"} for code in extra},
        },
    }
    if path:
        op["parameters"] = [_DOC_PARAM]
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return op


def _body(required: list[str], **props: dict[str, object]) -> dict[str, object]:
    return {"type": "object", "required": required, "properties": props}


_TEXT = {"type": "string", "maxLength": 1024}

OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/v1/docs": {
        "post": _op(
            "createDoc",
            "Create a doc owned by this household.",
            "The new doc's ID.",
            body=_body(["title"], title={"type": "string", "maxLength": 200}),
            path=False,
            status="201",
            extra=("400",),
        ),
        "get": {
            "tags": ["docs"],
            "summary": "List docs: ours and those friends shared with us.",
            "operationId": "listDocs",
            "responses": {"200": _json({"type": "array", "items": _OBJECT}, "The docs.")},
        },
    },
    "/v1/docs/{doc}": {
        "get": {
            **_op("showDoc", "The doc as JSON, its heads and its peers' sync state.", "The doc."),
            "parameters": [
                _DOC_PARAM,
                {"name": "path", "in": "query", "required": False, "schema": _TEXT},
            ],
        },
        "delete": _op(
            "deleteDoc",
            "Delete a doc this household owns.",
            "Deleted.",
            extra=("400", "403", "404"),
        ),
    },
    "/v1/docs/{doc}/change": {
        "post": _op(
            "changeDoc",
            "One edit: set, delete or append at a dotted path; committed before the answer.",
            "The doc's new heads.",
            body=_body(
                ["op"],
                op={"type": "string", "enum": ["set", "del", "append"]},
                path=_TEXT,
                value={},
            ),
            extra=("400", "403", "404"),
        )
    },
    "/v1/docs/{doc}/history": {
        "get": {
            **_op("docHistory", "The doc's changes, oldest first.", "The changes."),
            "responses": {
                "200": _json({"type": "array", "items": _OBJECT}, "The changes."),
                "400": {"$ref": "#/components/responses/BadRequest"},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    },
    "/v1/docs/{doc}/share": {
        "post": _op(
            "shareDoc",
            "Share a doc with a friend as reader or writer (signs a grant).",
            "The grant.",
            body=_body(["friend", "role"], friend=_TEXT, role={"enum": ["reader", "writer"]}),
            extra=("400", "403", "404", "409"),
        )
    },
    "/v1/docs/{doc}/unshare": {
        "post": _op(
            "unshareDoc",
            "Stop sharing a doc with a friend (signs a revocation).",
            "Unshared.",
            body=_body(["friend"], friend=_TEXT),
            extra=("400", "403", "404", "409"),
        )
    },
}
