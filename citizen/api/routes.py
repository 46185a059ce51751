"""All route modules of the local API, in one list for the app."""

from __future__ import annotations

from starlette.routing import BaseRoute

from citizen.api import routes_friends
from citizen.api.context import ApiContext


def api_routes(ctx: ApiContext) -> list[BaseRoute]:
    return [*routes_friends.routes(ctx)]
