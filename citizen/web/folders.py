"""The web page's folders: list, add, pause, resume, remove, the tree browser, versions, restore.

Paths in links are the exact bytes, base64url (`citizen.web.folder_rows`);
a version is named by its path and its time (``v``: Unix ns). A download
streams the version's object like the Files page does.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from citizen.api.context import ApiContext
from citizen.errors import CitizenError, NotFoundError, UsageError
from citizen.folders.records import check_root, display_path, object_name, parse_time
from citizen.folders.service import FolderService
from citizen.web.app import Web, form_fields, status_of
from citizen.web.folder_rows import (
    FolderProtection,
    all_protection,
    folder_protection,
    list_dir,
    parents,
    path_link,
    path_of_link,
    time_text,
)


def _service(ctx: ApiContext) -> FolderService:
    """Raises: NotFoundError, when the folders service does not run."""
    return ctx.need("folders", FolderService)


async def _objects(ctx: ApiContext) -> builtins.list[dict[str, object]]:
    try:
        return await ctx.objects().list()
    except NotFoundError:
        return []


async def device_names(ctx: ApiContext) -> dict[str, str]:
    """This household's devices by ID: their names (a version says which device recorded it)."""
    try:
        devices = await ctx.household().list_devices()
    except NotFoundError:
        return {}
    return {str(d["device"]): str(d["name"]) for d in devices}


def _restore_target(text: str, data_dir: Path | None) -> None:
    """Refuse a restore into the whole disk, a system tree or the daemon's own data dir.

    Raises:
        FolderPathError: such a target (it could overwrite the daemon's keys or the system).
        UsageError: no target typed.
    """
    if not text:
        raise UsageError(
            "Type the directory on this device to restore into.",
            "An absolute path, e.g. /home/pi/restored (made if missing).",
        )
    target = os.fsencode(text)
    if os.path.isabs(target):
        own = os.path.realpath(os.fsencode(data_dir)) if data_dir is not None else None
        check_root(text, os.path.realpath(target), own)


async def folders_values(ctx: ApiContext) -> dict[str, object]:
    """Every folder as the service lists it, each with its files' protection."""
    service = _service(ctx)
    folders = await service.list()
    objects = await _objects(ctx) if folders else []
    shown: list[dict[str, object]] = []
    for info in folders:
        versions = await service.index.versions(str(info["name"]))
        shown.append(info | {"guard": folder_protection(versions, objects)})
    return {"folders": shown}


async def home_summary(ctx: ApiContext) -> dict[str, object] | None:
    """The home page's folders line: how many folders and their files' protection together."""
    try:
        values = await folders_values(ctx)
    except NotFoundError:
        return None
    folders = values["folders"]
    assert isinstance(folders, list)
    each = [f["guard"] for f in folders if isinstance(f.get("guard"), FolderProtection)]
    return {"count": len(folders), "guard": all_protection(each)}


def _download_headers(path: bytes, size: int) -> dict[str, str]:
    name = object_name(path)  # U+FFFD where the name's bytes are not UTF-8
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return {
        "Content-Length": str(size),
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''"
        + quote(name),
    }


def routes(web: Web) -> list[BaseRoute]:
    ctx = web.ctx

    def name_of(request: Request) -> str:
        return str(request.path_params["name"])

    async def listing(request: Request, status: int = 200, **more: object) -> Response:
        values = await folders_values(ctx)
        defaults: dict[str, object] = {"form": {"path": "", "name": ""}, "error": None}
        return web.page(request, "folders.html", status, values=values | defaults | more)

    async def folders_page(request: Request) -> Response:
        return await listing(request)

    async def folders_live(request: Request) -> Response:
        return web.page(request, "_folders_live.html", values=await folders_values(ctx))

    async def add(request: Request) -> Response:
        fields = form_fields(await request.body())
        path = fields.get("path", "").strip()
        name = fields.get("name", "").strip() or None
        form = {"path": path, "name": name or ""}
        try:
            if not path:
                raise UsageError(
                    "Type the path of a directory on this device.", "E.g. /home/pi/Photos."
                )
            await _service(ctx).add(path, name)
        except CitizenError as exc:  # not a directory, refused, overlapping, a bad name
            return await listing(request, status_of(exc), form=form, error=exc)
        return RedirectResponse("/folders", status_code=303)

    async def pause_or_resume(request: Request) -> Response:
        service = _service(ctx)
        name = name_of(request)
        try:
            if request.url.path.endswith("/pause"):
                await service.pause(name)
            else:
                await service.resume(name)
        except CitizenError as exc:  # its root or marker is still missing
            return await listing(request, status_of(exc), action_error=exc)
        return RedirectResponse("/folders", status_code=303)

    async def remove(request: Request) -> Response:
        service = _service(ctx)
        info = await service.info(name_of(request))
        if request.method == "GET":
            return web.page(request, "remove_folder.html", folder=info)
        fields = form_fields(await request.body())
        await service.remove(str(info["name"]), forget=fields.get("forget") == "on")
        return RedirectResponse("/folders", status_code=303)

    def at_of(text: str) -> int | None:
        """Raises: UsageError, for text that is not a time."""
        return parse_time(text) if text else None

    async def tree(request: Request) -> Response:
        service = _service(ctx)
        info = await service.info(name_of(request))
        where = path_of_link(request.query_params.get("dir", ""))
        at_text = request.query_params.get("at", "").strip()
        at_error: CitizenError | None = None
        try:
            at_ns = at_of(at_text)
        except CitizenError as exc:
            at_ns, at_error = None, exc
        versions = await service.index.versions(str(info["name"]))
        return web.page(
            request,
            "folder.html",
            400 if at_error else 200,
            folder=info,
            entries=list_dir(versions, at_ns, where),
            crumbs=parents(where),
            here=path_link(where),
            here_text=display_path(where),
            at=at_text,
            at_shown=time_text(at_ns) if at_ns is not None else "",
            at_error=at_error,
        )

    async def versions_page(request: Request) -> Response:
        service = _service(ctx)
        name = name_of(request)
        path = path_of_link(request.query_params.get("path", ""))
        history = await service.history(name, path)
        parent = path.rsplit(b"/", 1)[0] if b"/" in path else b""
        return web.page(
            request,
            "folder_file.html",
            folder=await service.info(name),
            path_text=display_path(path),
            link=path_link(path),
            parent=path_link(parent),
            versions=list(reversed(history)),
            devices=await device_names(ctx),
        )

    async def download(request: Request) -> Response:
        service = _service(ctx)
        name = name_of(request)
        path = path_of_link(request.query_params.get("path", ""))
        wanted = request.query_params.get("v", "")
        chosen: Mapping[str, object] | None = None
        for v in await service.history(name, path):
            if str(v["at_ns"]) == wanted and not v["deleted"] and v["kind"] == "file":
                chosen = v
        if chosen is None:
            raise NotFoundError(
                f"The folder '{name}' has no such version of '{display_path(path)}'.",
                "Open the file's versions and download one from there.",
            )
        object_id = chosen["object_id"]
        if not isinstance(object_id, str):  # an empty file: no object holds it
            return Response(b"", media_type="application/octet-stream",
                            headers=_download_headers(path, 0))  # fmt: skip
        entry, chunks = await ctx.objects().open_read(object_id)
        return StreamingResponse(
            chunks,
            media_type="application/octet-stream",
            headers=_download_headers(path, entry.manifest.size),
        )

    async def restore(request: Request) -> Response:
        service = _service(ctx)
        info = await service.info(name_of(request))
        if request.method == "GET":
            q = request.query_params
            form = {"path": q.get("path", ""), "at": q.get("at", ""), "to": "", "force": False}
        else:
            fields = form_fields(await request.body())
            form = {
                "path": fields.get("path", ""),
                "at": fields.get("at", "").strip(),
                "to": fields.get("to", "").strip(),
                "force": fields.get("force") == "on",
            }
        path = path_of_link(str(form["path"]))
        values: dict[str, object] = {
            "folder": info,
            "form": form,
            "path_text": display_path(path),
            "result": None,
            "error": None,
        }
        if request.method == "GET":
            return web.page(request, "folder_restore.html", values=values)
        try:
            _restore_target(str(form["to"]), web.settings.data_dir)
            result = await service.restore(
                str(info["name"]),
                to=str(form["to"]),
                at=str(form["at"]) or None,
                paths=[path] if path else None,
                force=bool(form["force"]),
            )
        except CitizenError as exc:  # there already, not absolute, nothing at that time
            return web.page(
                request, "folder_restore.html", status_of(exc), values=values | {"error": exc}
            )
        return web.page(request, "folder_restore.html", values=values | {"result": result})

    return [
        Route("/folders", folders_page),
        Route("/live/folders", folders_live),
        Route("/folders/add", add, methods=["POST"]),
        Route("/folders/{name}", tree),
        Route("/folders/{name}/versions", versions_page),
        Route("/folders/{name}/download", download),
        Route("/folders/{name}/restore", restore, methods=["GET", "POST"]),
        Route("/folders/{name}/pause", pause_or_resume, methods=["POST"]),
        Route("/folders/{name}/resume", pause_or_resume, methods=["POST"]),
        Route("/folders/{name}/remove", remove, methods=["GET", "POST"]),
    ]
