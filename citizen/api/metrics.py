"""The daemon's Prometheus metrics: one registry per node, counters services increment.

`citizen.node` makes one `Metrics` per daemon and hands it to the services
that count things (doc sync, object put/get, repair) and to the local API,
which serves `render()` at `/metrics`. Gauges that are cheaper to read than to
keep up to date (friends online, docs) are refreshed just before a scrape by
hooks registered with `on_scrape`.

The registry is private to the node (not prometheus_client's global one), so
two nodes in one process (tests, embedded mode) never mix their numbers. It
also carries the process series (`process_resident_memory_bytes`,
`process_open_fds`, ... from /proc) and disk series read at each scrape.

A LAN Prometheus scrapes `serve_metrics` (config `[metrics] listen`): a
listener that serves /metrics and nothing else, to the read-only token in
DATA_DIR/metrics.token (or the admin token). The admin API never accepts
the metrics token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from citizen.api.app import error_response
from citizen.api.context import ApiContext

if TYPE_CHECKING:
    from trio_typing import TaskStatus

#: the Content-Type of `Metrics.render()` (Prometheus text format 0.0.4)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger(__name__)

ScrapeHook = Callable[["Metrics"], Awaitable[None]]


class Metrics:
    """Every metric the daemon exports, under the `citizen_` prefix.

    Attributes:
        friends: friend households (gauge).
        friends_online: friend households with at least one device connected now (gauge).
        sync_messages: doc sync messages, labelled `direction` = "sent" | "received".
        bytes_put: object bytes stored by this household (plaintext, counter).
        bytes_got: object bytes read back by this household (plaintext, counter).
        docs: docs stored here, our own and friends' (gauge).
        shares_held_bytes: bytes of friends' shares held here, labelled `friend` (household ID).
        repair_backlog: segments waiting for repair (gauge).
        under_replicated_objects: objects with fewer healthy shares than wanted (gauge).
        disk_free: free bytes where the data dir and the share store live, labelled `place`.
        disk_size: size in bytes of those file systems, labelled `place`.
        share_store_bytes: bytes of friends' shares held on this device (gauge).
        share_store_offered_bytes: bytes offered to all friends together (gauge).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.friends = Gauge("citizen_friends", "Friend households.", registry=reg)
        self.friends_online = Gauge(
            "citizen_friends_online",
            "Friend households with at least one device connected now.",
            registry=reg,
        )
        self.sync_messages = Counter(
            "citizen_sync_messages",
            "Doc sync messages exchanged with friends.",
            ["direction"],
            registry=reg,
        )
        self.bytes_put = Counter(
            "citizen_bytes_put", "Object bytes stored by this household.", registry=reg
        )
        self.bytes_got = Counter(
            "citizen_bytes_got", "Object bytes read back by this household.", registry=reg
        )
        self.docs = Gauge("citizen_docs", "Docs stored on this device.", registry=reg)
        self.shares_held_bytes = Gauge(
            "citizen_shares_held_bytes",
            "Bytes of a friend's shares held on this device.",
            ["friend"],
            registry=reg,
        )
        self.repair_backlog = Gauge(
            "citizen_repair_backlog", "Segments waiting for repair.", registry=reg
        )
        self.under_replicated_objects = Gauge(
            "citizen_under_replicated_objects",
            "Objects with fewer healthy shares than the storage settings want.",
            registry=reg,
        )
        self.disk_free = Gauge(
            "citizen_disk_free_bytes",
            "Free bytes (for the daemon's user) where its data lives.",
            ["place"],
            registry=reg,
        )
        self.disk_size = Gauge(
            "citizen_disk_size_bytes", "Size of the file system.", ["place"], registry=reg
        )
        self.share_store_bytes = Gauge(
            "citizen_share_store_bytes", "Bytes of friends' shares held here.", registry=reg
        )
        self.share_store_offered_bytes = Gauge(
            "citizen_share_store_offered_bytes",
            "Bytes offered to all friends together for their shares.",
            registry=reg,
        )
        # RSS, open files, CPU, start time: the standard process_* series (Linux /proc)
        ProcessCollector(registry=reg)
        # Both directions exist from the start, so a dashboard sees 0 rather than nothing.
        for direction in ("sent", "received"):
            self.sync_messages.labels(direction=direction)
        self._hooks: list[ScrapeHook] = []

    def on_scrape(self, hook: ScrapeHook) -> None:
        """Run `await hook(self)` before each scrape, to refresh gauges read on demand."""
        self._hooks.append(hook)

    async def render(self) -> bytes:
        """Refresh the on-demand gauges, then the registry in Prometheus text format.

        A hook that fails is logged and leaves its gauges at their last value:
        one broken service must not hide every other metric.
        """
        for hook in self._hooks:
            try:
                await hook(self)
            except Exception:
                log.exception("metrics hook %r failed", hook)
        return generate_latest(self.registry)


def node_metrics(ctx: ApiContext) -> Metrics:
    """The node's `Metrics` from `ctx.services["metrics"]`, made and stored there if absent."""
    found = ctx.services.get("metrics")
    if isinstance(found, Metrics):
        return found
    metrics = Metrics()
    metrics.on_scrape(_disk_hook(ctx))
    ctx.services["metrics"] = metrics
    return metrics


def _disk_hook(ctx: ApiContext) -> ScrapeHook:
    from citizen.health.system import DaemonInfo, place
    from citizen.objects.service import ObjectsService

    async def refresh(metrics: Metrics) -> None:
        info = ctx.find("daemon", DaemonInfo)
        if info is not None:
            places = await trio.to_thread.run_sync(
                lambda: [
                    place("data dir", info.data_dir),
                    place("share store", info.data_dir / "shares"),
                ]
            )
            for p in places:
                metrics.disk_free.labels(place=p.label).set(p.free)
                metrics.disk_size.labels(place=p.label).set(p.total)
        objects = ctx.find("objects", ObjectsService)
        if objects is not None:
            held = (await objects.storage()).get("held_for_friends")
            rows = [h for h in held if isinstance(h, dict)] if isinstance(held, list) else []
            metrics.share_store_bytes.set(sum(int(h["used"]) for h in rows))
            metrics.share_store_offered_bytes.set(sum(int(h["quota"]) for h in rows))

    return refresh


# -- the LAN scrape listener ----------------------------------------------------------------


METRICS_TOKEN_NAME = "metrics.token"


def metrics_app(metrics: Metrics, tokens: tuple[str, ...]) -> Starlette:
    """An app serving GET /metrics only, to a request bearing one of `tokens`."""
    expected = [f"Bearer {t}".encode() for t in tokens]

    async def get_metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        # compare with every token, so the time taken does not tell which one nearly matched
        if not any([hmac.compare_digest(given, e) for e in expected]):
            return error_response(
                401,
                "unauthorized",
                "Missing or wrong bearer token.",
                "Scrape with `Authorization: Bearer <token>`, the token in"
                f" DATA_DIR/{METRICS_TOKEN_NAME} (Prometheus: authorization.credentials_file).",
            )
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/metrics", get_metrics, methods=["GET"])])


async def serve_metrics(
    ctx: ApiContext,
    data_dir: Path,
    listen: str,
    admin_token: str,
    *,
    task_status: TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve /metrics on `listen` ("host:port") until cancelled; started with its URLs.

    The read-only token is DATA_DIR/metrics.token, made 0600 on first use (give
    it to Prometheus); the admin token works too.
    """
    from citizen.api.serve import load_or_create_token
    from citizen.config import parse_web_listen

    host, port = parse_web_listen(listen)
    token = load_or_create_token(data_dir / METRICS_TOKEN_NAME)
    app = metrics_app(node_metrics(ctx), (token, admin_token))
    config = HyperConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("citizen.metrics.server")
    config.graceful_timeout = 1.0

    async def run(*, task_status: TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(app, config, task_status=task_status)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(run)
        log.info("metrics at %s (token in %s)", ", ".join(urls), METRICS_TOKEN_NAME)
        task_status.started(urls)
