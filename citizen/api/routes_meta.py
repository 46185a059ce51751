"""Local API about the API itself: the OpenAPI document and the Prometheus metrics.

The OpenAPI 3.1 document is assembled from the `OPENAPI_PATHS` dict each route
module exports (listed in `OPENAPI_SOURCES`), plus the shared components
defined here: the error body, one response per error status, the bearer
scheme. A route module names those with "#/components/responses/NotFound" and
the like. Every operation gets the 401 (TCP without the token) and 500
responses added, since any request can meet them. tests/api/test_meta.py
checks that every HTTP route of the app is documented.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from citizen.api import (
    routes_backup,
    routes_devices,
    routes_docs,
    routes_friends,
    routes_objects,
)
from citizen.api.context import ApiContext
from citizen.api.metrics import CONTENT_TYPE, Metrics, ScrapeHook, node_metrics

OpenApiPaths = Mapping[str, Mapping[str, object]]

_ERROR_SCHEMA: dict[str, object] = {
    "type": "object",
    "description": "Every error the local API returns. `error` is a stable machine code.",
    "required": ["error", "message", "hint"],
    "properties": {
        "error": {"type": "string", "examples": ["not_found", "usage", "unauthorized"]},
        "message": {"type": "string", "description": "What happened, for a person."},
        "hint": {"type": "string", "description": "What to do about it (may be empty)."},
    },
}

#: component name -> (status code, description); route modules refer to these names
ERROR_RESPONSES: dict[str, tuple[int, str]] = {
    "BadRequest": (400, "The request is malformed (bad JSON, bad ID, bad value)."),
    "Unauthorized": (401, "Over TCP: missing or wrong bearer token."),
    "Forbidden": (403, "Not allowed (no grant, not a friend, key missing)."),
    "NotFound": (404, "No such thing here, or its service is not running."),
    "Conflict": (409, "The household identity does not allow this."),
    "InternalError": (500, "The daemon hit an internal error; see its log."),
    "BadGateway": (502, "A friend's device answered with something malformed."),
    "Unavailable": (409, "Not enough friends could be reached now."),
    "InsufficientStorage": (413, "A storage quota would be exceeded."),
}

_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}

_META_PATHS: dict[str, dict[str, object]] = {
    "/v1/status": {
        "get": {
            "tags": ["meta"],
            "summary": "This device: household, device, listen addresses, uptime.",
            "operationId": "getStatus",
            "responses": {
                "200": {
                    "description": "The daemon's status.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": [
                                    "household",
                                    "household_name",
                                    "device",
                                    "device_name",
                                    "listen",
                                    "uptime_s",
                                    "friends",
                                    "offline",
                                    "pid",
                                ],
                                "properties": {
                                    "household": {"type": "string"},
                                    "household_name": {"type": "string"},
                                    "device": {"type": "string"},
                                    "device_name": {"type": "string"},
                                    "listen": {"type": "array", "items": {"type": "string"}},
                                    "uptime_s": {"type": "number"},
                                    "friends": {"type": "integer"},
                                    "offline": {"type": "boolean"},
                                    "pid": {"type": "integer"},
                                },
                            }
                        }
                    },
                }
            },
        }
    },
    "/v1/openapi.json": {
        "get": {
            "tags": ["meta"],
            "summary": "This document.",
            "operationId": "getOpenApi",
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": _JSON_OBJECT}},
        }
    },
    "/metrics": {
        "get": {
            "tags": ["meta"],
            "summary": "Prometheus metrics (text format 0.0.4).",
            "operationId": "getMetrics",
            "responses": {
                "200": {
                    "description": "Metrics for a Prometheus scrape.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
}

#: every route module's path items; a new route module adds its OPENAPI_PATHS here
OPENAPI_SOURCES: tuple[OpenApiPaths, ...] = (
    _META_PATHS,
    routes_friends.OPENAPI_PATHS,
    routes_docs.OPENAPI_PATHS,
    routes_backup.OPENAPI_PATHS,
    routes_devices.OPENAPI_PATHS,
    routes_objects.OPENAPI_PATHS,
)

_ALWAYS = {"401": "Unauthorized", "500": "InternalError"}


def _error_response(description: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(sources: tuple[OpenApiPaths, ...] = OPENAPI_SOURCES) -> dict[str, object]:
    """The OpenAPI 3.1 document of the local API, as JSON-ready data.

    Raises:
        ValueError: two sources describe the same path and method.
    """
    paths: dict[str, dict[str, object]] = {}
    for source in sources:
        for path, item in source.items():
            merged = paths.setdefault(path, {})
            for method, operation in item.items():
                if method in merged:
                    raise ValueError(f"OpenAPI: {method.upper()} {path} is described twice")
                op = copy.deepcopy(operation)
                if isinstance(op, dict):
                    responses = op.setdefault("responses", {})
                    if isinstance(responses, dict):
                        for status, name in _ALWAYS.items():
                            responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})
                merged[method] = op
    try:
        api_version = version("citizen-cloud")
    except PackageNotFoundError:
        api_version = "0"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Citizen Cloud local API",
            "version": api_version,
            "description": (
                "The household daemon's local API, on the Unix socket DATA_DIR/api.sock "
                "(no token) and, when `[api] tcp_port` is set, on 127.0.0.1 with "
                "`Authorization: Bearer <DATA_DIR/api.token>`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"bearerToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": _ERROR_SCHEMA},
            "responses": {
                name: _error_response(description)
                for name, (_status, description) in ERROR_RESPONSES.items()
            },
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token in DATA_DIR/api.token; TCP listener only.",
                }
            },
        },
    }


def _friends_hook(ctx: ApiContext) -> ScrapeHook:
    async def refresh(metrics: Metrics) -> None:
        service = ctx.services.get("friends")
        if service is None:  # offline: the count still comes from the store
            count = ctx.status().get("friends", 0)
            metrics.friends.set(count if isinstance(count, int) else 0)
            metrics.friends_online.set(0)
            return
        friends = await service.list_json()
        metrics.friends.set(len(friends))
        metrics.friends_online.set(sum(1 for f in friends if f.get("online") is True))

    return refresh


def _services_hook(ctx: ApiContext) -> ScrapeHook:
    seen = {"sent": 0, "received": 0}

    async def refresh(metrics: Metrics) -> None:
        docs = ctx.services.get("docs")
        if docs is not None:
            metrics.docs.set(len(await docs.store.list_docs()))
            for direction, total in docs.replicator.messages.items():
                metrics.sync_messages.labels(direction=direction).inc(total - seen[direction])
                seen[direction] = total
        objects = ctx.services.get("objects")
        if objects is not None:
            storage = await objects.storage()
            for held in storage["held_for_friends"]:
                metrics.shares_held_bytes.labels(friend=held["household"]).set(held["used"])
            under = storage["under_replicated"]
            metrics.under_replicated_objects.set(len(under))
            metrics.repair_backlog.set(len(under))

    return refresh


def routes(ctx: ApiContext) -> list[BaseRoute]:
    metrics = node_metrics(ctx)
    metrics.on_scrape(_friends_hook(ctx))
    metrics.on_scrape(_services_hook(ctx))
    document = openapi_document()

    async def get_openapi(_request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def get_metrics(_request: Request) -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return [
        Route("/v1/openapi.json", get_openapi, methods=["GET"]),
        Route("/metrics", get_metrics, methods=["GET"]),
    ]
