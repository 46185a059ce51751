"""Metrics: a private registry per node, scrape hooks, and a hook that fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from citizen.api.metrics import Metrics
from tests.daemons import Daemon


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


async def test_counters_and_labels_render() -> None:
    m = Metrics()
    m.bytes_put.inc(1000)
    m.sync_messages.labels(direction="sent").inc(3)
    m.shares_held_bytes.labels(friend="HH-1").set(4096)
    m.repair_backlog.set(2)
    out = _samples(await m.render())
    assert out[("citizen_bytes_put_total", ())] == 1000
    assert out[("citizen_bytes_got_total", ())] == 0
    assert out[("citizen_sync_messages_total", (("direction", "sent"),))] == 3
    assert out[("citizen_sync_messages_total", (("direction", "received"),))] == 0
    assert out[("citizen_shares_held_bytes", (("friend", "HH-1"),))] == 4096
    assert out[("citizen_repair_backlog", ())] == 2


async def test_two_nodes_do_not_share_numbers() -> None:
    one, two = Metrics(), Metrics()
    one.docs.set(5)
    assert _samples(await two.render())[("citizen_docs", ())] == 0
    assert _samples(await one.render())[("citizen_docs", ())] == 5


async def test_scrape_hooks_refresh_and_a_failing_hook_hides_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = Metrics()
    calls: list[int] = []

    async def friends(metrics: Metrics) -> None:
        calls.append(1)
        metrics.friends.set(len(calls))

    async def broken(_metrics: Metrics) -> None:
        raise RuntimeError("store is gone")

    m.on_scrape(broken)
    m.on_scrape(friends)
    assert _samples(await m.render())[("citizen_friends", ())] == 1
    assert _samples(await m.render())[("citizen_friends", ())] == 2
    assert "metrics hook" in caplog.text


def test_doc_and_object_figures_appear(make_daemon: Callable[[str], Daemon]) -> None:
    """Docs, sync messages and object bytes show up in /metrics once they happen."""
    import re

    from citizen.api.client import LocalClient

    a = make_daemon("alpha")
    a.init()
    a.start()
    doc = a.json("doc", "new", "counted")["doc_id"]
    a.json("doc", "set", doc, "x", "1")
    conn = LocalClient(a.data_dir)._open()
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    docs = re.search(r"^citizen_docs (\S+)$", text, re.M)
    assert docs is not None and float(docs.group(1)) >= 1  # ours + the household index
    assert "citizen_under_replicated_objects 0.0" in text
