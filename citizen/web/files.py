"""The web page's files (objects: list, streamed upload and download, remove) and docs list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from citizen.errors import CitizenError, NotFoundError, UsageError
from citizen.web import views
from citizen.web.app import Web


def routes(web: Web) -> list[BaseRoute]:
    ctx = web.ctx

    async def files_values() -> dict[str, object]:
        objects = await ctx.objects().list()
        return {"objects": list(reversed(objects)), "protection": views.protection(objects)}

    async def files_page(request: Request) -> Response:
        return web.page(request, "files.html", values=await files_values())

    async def files_live(request: Request) -> Response:
        return web.page(request, "_files_live.html", values=await files_values())

    async def upload(request: Request) -> Response:
        """The body is the file itself, streamed into the put (no whole-file buffering)."""
        name = request.query_params.get("name", "").strip()
        stream = request.stream()
        if not name:
            raise UsageError("An upload needs a file name.", "Choose a file and upload again.")
        length = request.headers.get("content-length")
        size = int(length) if length is not None and length.isdigit() else None

        async def body() -> AsyncIterator[bytes]:
            async for chunk in stream:
                if chunk:
                    yield chunk

        try:
            ref = await ctx.objects().put(body(), name, size)
        except CitizenError:
            try:  # read what the browser still sends, or it never reads our answer
                async for _chunk in stream:
                    pass
            except ClientDisconnect:
                pass
            raise
        return Response(str(ref["object_id"]), status_code=201, media_type="text/plain")

    async def download(request: Request) -> Response:
        entry, chunks = await ctx.objects().open_read(request.path_params["object_id"])
        name = entry.name or entry.manifest.object_id
        ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
        return StreamingResponse(
            chunks,
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(entry.manifest.size),
                "Content-Disposition": disposition,
            },
        )

    async def remove(request: Request) -> Response:
        object_id = request.path_params["object_id"]
        entry = await ctx.objects().entry(object_id)
        if request.method == "GET":
            return web.page(request, "remove_file.html", entry=entry)
        await ctx.objects().remove(object_id)
        return RedirectResponse("/files", status_code=303)

    async def docs_page(request: Request) -> Response:
        try:
            docs = await ctx.docs().list_docs()
        except NotFoundError:
            docs = []
        return web.page(request, "docs.html", docs=docs)

    async def doc_page(request: Request) -> Response:
        shown = await ctx.docs().show(request.path_params["doc_id"])
        text = json.dumps(shown.get("value"), indent=2, ensure_ascii=False, default=str)
        return web.page(request, "doc.html", doc=shown, json_text=text)

    return [
        Route("/files", files_page),
        Route("/live/files", files_live),
        Route("/files/upload", upload, methods=["POST"]),
        Route("/files/{object_id}/download", download),
        Route("/files/{object_id}/remove", remove, methods=["GET", "POST"]),
        Route("/docs", docs_page),
        Route("/docs/{doc_id}", doc_page),
    ]
