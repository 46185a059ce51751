"""All route modules of the local API, in one list for the app, and their one OpenAPI document."""

from __future__ import annotations

from starlette.routing import BaseRoute

from citizen.api import (
    openapi,
    routes_automerge_repo,
    routes_backup,
    routes_devices,
    routes_docs,
    routes_docsync,
    routes_events,
    routes_folders,
    routes_friends,
    routes_health,
    routes_meta,
    routes_objects,
)
from citizen.api.context import ApiContext
from citizen.api.operations import Operation

#: every HTTP operation the app serves; a new route module adds its OPERATIONS here
OPERATIONS: tuple[Operation, ...] = (
    *routes_meta.OPERATIONS,
    *routes_health.OPERATIONS,
    *routes_friends.OPERATIONS,
    *routes_docs.OPERATIONS,
    *routes_backup.OPERATIONS,
    *routes_devices.OPERATIONS,
    *routes_objects.OPERATIONS,
    *routes_folders.OPERATIONS,
)


def openapi_document() -> dict[str, object]:
    """/v1/openapi.json: the OpenAPI 3.1 document of `OPERATIONS`."""
    return openapi.openapi_document(OPERATIONS)


def api_routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        *routes_friends.routes(ctx),
        *routes_docs.routes(ctx),
        *routes_docsync.routes(ctx),
        *routes_automerge_repo.routes(ctx),
        *routes_backup.routes(ctx),
        *routes_devices.routes(ctx),
        *routes_meta.routes(ctx, openapi_document()),
        *routes_health.routes(ctx),
        *routes_objects.routes(ctx),
        *routes_folders.routes(ctx),
        *routes_events.routes(ctx),
    ]
