"""Local API: docs (create, list, show, edit by path, history, share/unshare, delete)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.context import ApiContext
from citizen.api.models import (
    ChangeDoc,
    CreatedDoc,
    CreateDoc,
    DeletedDoc,
    DocChange,
    DocHeads,
    DocInfo,
    DocView,
    SharedDoc,
    ShareDoc,
    UnsharedDoc,
    UnshareDoc,
)
from citizen.api.models.base import Text
from citizen.api.models.docs import DocIdText
from citizen.api.operations import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    UNAVAILABLE,
    BodyOperation,
    Operation,
    Param,
)
from citizen.api.routes_automerge_repo import automerge_url
from citizen.errors import UsageError
from citizen.ids import DocId

DOC = Param("doc", "path", DocIdText)
_CHANGE_ERRORS = (BAD_REQUEST, FORBIDDEN, NOT_FOUND)
_SHARE_ERRORS = (BAD_REQUEST, FORBIDDEN, NOT_FOUND, UNAVAILABLE)

CREATE = BodyOperation(
    method="POST",
    path="/v1/docs",
    operation_id="createDoc",
    tag="docs",
    summary="Create a doc owned by this household.",
    request=CreateDoc,
    response=CreatedDoc,
    status=201,
    ok="The new doc's ID.",
    errors=(BAD_REQUEST,),
)
LIST = Operation(
    method="GET",
    path="/v1/docs",
    operation_id="listDocs",
    tag="docs",
    summary="List docs: ours and those friends shared with us.",
    response=list[DocInfo],
    ok="The docs.",
)
SHOW = Operation(
    method="GET",
    path="/v1/docs/{doc}",
    operation_id="showDoc",
    tag="docs",
    summary="The doc as JSON, its heads and its peers' sync state.",
    params=(DOC, Param("path", "query", Text, required=False)),
    response=DocView,
    ok="The doc.",
    errors=(BAD_REQUEST, NOT_FOUND),
)
DELETE = Operation(
    method="DELETE",
    path="/v1/docs/{doc}",
    operation_id="deleteDoc",
    tag="docs",
    summary="Delete a doc this household owns.",
    params=(DOC,),
    response=DeletedDoc,
    ok="Deleted.",
    errors=_CHANGE_ERRORS,
)
CHANGE = BodyOperation(
    method="POST",
    path="/v1/docs/{doc}/change",
    operation_id="changeDoc",
    tag="docs",
    summary="One edit: set, delete or append at a dotted path; committed before the answer.",
    params=(DOC,),
    request=ChangeDoc,
    response=DocHeads,
    ok="The doc's new heads.",
    errors=_CHANGE_ERRORS,
)
HISTORY = Operation(
    method="GET",
    path="/v1/docs/{doc}/history",
    operation_id="docHistory",
    tag="docs",
    summary="The doc's changes, oldest first.",
    params=(DOC,),
    response=list[DocChange],
    ok="The changes.",
    errors=(BAD_REQUEST, NOT_FOUND),
)
SHARE = BodyOperation(
    method="POST",
    path="/v1/docs/{doc}/share",
    operation_id="shareDoc",
    tag="docs",
    summary="Share a doc with a friend as reader or writer (signs a grant).",
    params=(DOC,),
    request=ShareDoc,
    response=SharedDoc,
    ok="The grant.",
    errors=_SHARE_ERRORS,
)
UNSHARE = BodyOperation(
    method="POST",
    path="/v1/docs/{doc}/unshare",
    operation_id="unshareDoc",
    tag="docs",
    summary="Stop sharing a doc with a friend (signs a revocation).",
    params=(DOC,),
    request=UnshareDoc,
    response=UnsharedDoc,
    ok="Unshared.",
    errors=_SHARE_ERRORS,
)

OPERATIONS: tuple[Operation, ...] = (CREATE, LIST, SHOW, DELETE, CHANGE, HISTORY, SHARE, UNSHARE)


def _with_url(doc: dict[str, object]) -> dict[str, object]:
    """`doc` with its automerge-repo URL, for web and Node apps (`repo.find(url)`)."""
    return doc | {"url": automerge_url(DocId(str(doc["doc_id"])))}


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def create(request: Request) -> Response:
        body = await CREATE.read(request)
        return CREATE.respond(_with_url(await ctx.docs().create(body.title)))

    async def list_docs(_request: Request) -> Response:
        return LIST.respond([_with_url(d) for d in await ctx.docs().list_docs()])

    async def show(request: Request) -> Response:
        path = request.query_params.get("path", "")
        return SHOW.respond(_with_url(await ctx.docs().show(request.path_params["doc"], path)))

    async def change(request: Request) -> Response:
        body = await CHANGE.read(request)
        doc = request.path_params["doc"]
        service = ctx.docs()
        if body.op != "del" and isinstance(body.value, msgspec.UnsetType):
            raise UsageError(f"'{body.op}' needs a 'value'.")
        match body.op:
            case "set":
                result = await service.set(doc, body.path, body.value)
            case "append":
                result = await service.append(doc, body.path, body.value)
            case "del":
                result = await service.delete_path(doc, body.path)
        return CHANGE.respond(result)

    async def history(request: Request) -> Response:
        return HISTORY.respond(await ctx.docs().history(request.path_params["doc"]))

    async def share(request: Request) -> Response:
        body = await SHARE.read(request)
        result = await ctx.docs().share(request.path_params["doc"], body.friend, body.role)
        return SHARE.respond(result)

    async def unshare(request: Request) -> Response:
        body = await UNSHARE.read(request)
        return UNSHARE.respond(await ctx.docs().unshare(request.path_params["doc"], body.friend))

    async def delete(request: Request) -> Response:
        return DELETE.respond(await ctx.docs().delete(request.path_params["doc"]))

    return [
        CREATE.route(create),
        LIST.route(list_docs),
        SHOW.route(show),
        DELETE.route(delete),
        CHANGE.route(change),
        HISTORY.route(history),
        SHARE.route(share),
        UNSHARE.route(unshare),
    ]
