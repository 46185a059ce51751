"""All route modules of the local API, in one list for the app."""

from __future__ import annotations

from starlette.routing import BaseRoute

from citizen.api import (
    routes_automerge_repo,
    routes_backup,
    routes_devices,
    routes_docs,
    routes_docsync,
    routes_events,
    routes_friends,
    routes_meta,
    routes_objects,
)
from citizen.api.context import ApiContext


def api_routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        *routes_friends.routes(ctx),
        *routes_docs.routes(ctx),
        *routes_docsync.routes(ctx),
        *routes_automerge_repo.routes(ctx),
        *routes_backup.routes(ctx),
        *routes_devices.routes(ctx),
        *routes_meta.routes(ctx),
        *routes_objects.routes(ctx),
        *routes_events.routes(ctx),
    ]
