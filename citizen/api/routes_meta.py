"""Local API about the daemon and the API itself: status, the OpenAPI document, metrics."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from citizen.api.bodies import JSON, convert_as, encode_as
from citizen.api.context import ApiContext
from citizen.api.metrics import CONTENT_TYPE, Metrics, ScrapeHook, node_metrics
from citizen.api.models import JsonValue, Status, Storage
from citizen.api.operations import Operation, Raw

STATUS = Operation(
    method="GET",
    path="/v1/status",
    operation_id="getStatus",
    tag="meta",
    summary="This device: household, device, listen addresses, uptime, reachability.",
    response=Status,
    ok="The daemon's status.",
)
OPENAPI = Operation(
    method="GET",
    path="/v1/openapi.json",
    operation_id="getOpenApi",
    tag="meta",
    summary="This document.",
    response=dict[str, JsonValue],
    ok="OpenAPI 3.1.",
)
METRICS = Operation(
    method="GET",
    path="/metrics",
    operation_id="getMetrics",
    tag="meta",
    summary="Prometheus metrics (text format 0.0.4).",
    response=Raw("text/plain", {"type": "string"}),
    ok="Metrics for a Prometheus scrape.",
)

OPERATIONS: tuple[Operation, ...] = (STATUS, OPENAPI, METRICS)


def _friends_hook(ctx: ApiContext) -> ScrapeHook:
    from citizen.friends.service import FriendsService

    async def refresh(metrics: Metrics) -> None:
        service = ctx.find("friends", FriendsService)
        if service is None:  # offline: the count still comes from the store
            metrics.friends.set(ctx.status().friends)
            metrics.friends_online.set(0)
            return
        friends = await service.list_json()
        metrics.friends.set(len(friends))
        metrics.friends_online.set(sum(1 for f in friends if f.get("online") is True))

    return refresh


def _services_hook(ctx: ApiContext) -> ScrapeHook:
    from citizen.docs.service import DocsService
    from citizen.objects.service import ObjectsService

    seen = {"sent": 0, "received": 0}

    async def refresh(metrics: Metrics) -> None:
        docs = ctx.find("docs", DocsService)
        if docs is not None:
            metrics.docs.set(len(await docs.store.list_docs()))
            for direction, total in docs.replicator.messages.items():
                metrics.sync_messages.labels(direction=direction).inc(total - seen[direction])
                seen[direction] = total
        objects = ctx.find("objects", ObjectsService)
        if objects is not None:
            storage = convert_as(await objects.storage(), Storage)
            for held in storage.held_for_friends:
                metrics.shares_held_bytes.labels(friend=held.household).set(held.used)
            metrics.under_replicated_objects.set(len(storage.under_replicated))
            metrics.repair_backlog.set(len(storage.under_replicated))

    return refresh


def routes(ctx: ApiContext, document: Mapping[str, object]) -> list[BaseRoute]:
    """The meta routes; `document` is the OpenAPI document they serve (every operation's)."""
    metrics = node_metrics(ctx)
    metrics.on_scrape(_friends_hook(ctx))
    metrics.on_scrape(_services_hook(ctx))
    served = encode_as(document, dict[str, JsonValue])

    async def get_status(_request: Request) -> Response:
        return STATUS.respond(ctx.status())

    async def get_openapi(_request: Request) -> Response:
        return Response(served, media_type=JSON)

    async def get_metrics(_request: Request) -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return [STATUS.route(get_status), OPENAPI.route(get_openapi), METRICS.route(get_metrics)]
