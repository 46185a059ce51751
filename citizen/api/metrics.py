"""The daemon's Prometheus metrics: one registry per node, counters services increment.

`citizen.node` makes one `Metrics` per daemon and hands it to the services
that count things (doc sync, object put/get, repair) and to the local API,
which serves `render()` at `/metrics`. Gauges that are cheaper to read than to
keep up to date (friends online, docs) are refreshed just before a scrape by
hooks registered with `on_scrape`.

The registry is private to the node (not prometheus_client's global one), so
two nodes in one process (tests, embedded mode) never mix their numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from citizen.api.context import ApiContext

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
    ctx.services["metrics"] = metrics
    return metrics
