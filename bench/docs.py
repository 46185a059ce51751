"""Section: doc replication between two paired daemons A and B, through the local API.

A creates docs and shares them with B as a writer. Edits go to A's local API
in-process (`LocalClient`, the same socket and routes `citizen doc set` uses,
without a CLI process start per edit, as an app on the SDK would); visibility
on B is polled on B's API every millisecond. Measured:

- `doc_10k_changes_replicated`: from the first of 10,000 `set`s on A until B's
  heads equal A's (2,000 with --quick); how long B lags after A's last ack; and
  A's local commit rate alone (one request and one commit per change).
- `doc_change_latency_p50/p99`: one `set` on A until B shows the new value,
  over 1,000 edits (200 with --quick), one at a time.
- `doc_1000_docs_first_sync`: B stopped, A creates and shares 1,000 docs (200
  with --quick); from B's launch until B lists every doc with A's heads; B's
  RSS right after.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.figures import Context, Figure, SectionResult, failed
from bench.procs import BenchDaemon, init_all, kill_all, start_all
from citizen.api.client import LocalClient, quote_path

SYNC_TIMEOUT = 300.0


def docs(ctx: Context) -> SectionResult:
    many, edits, ndocs = (2000, 200, 200) if ctx.quick else (10_000, 1000, 1000)
    root = ctx.workdir / "docs"
    root.mkdir(parents=True, exist_ok=True)
    a = BenchDaemon(root, "alpha", pin=ctx.pi)
    b = BenchDaemon(root, "beta", pin=ctx.pi)
    figures: list[Figure] = []
    try:
        init_all([a, b])
        start_all([a, b])
        code = a.json("invite")
        assert isinstance(code, dict)
        b.json("accept", str(code["code"]))
        _wait(lambda: _online(a, "beta") and _online(b, "alpha"), "alpha and beta online")
        doc = str(_api(a, "POST", "/v1/docs", {"title": "bench"})["doc_id"])
        _api(a, "POST", f"/v1/docs/{quote_path(doc)}/share", {"friend": "beta", "role": "writer"})
        _wait(lambda: _heads(b, doc) == _heads(a, doc), "beta to open the shared doc")

        # Each part keeps its figures when a later one fails.
        parts = [
            (f"{many} changes on alpha", f"doc_{many // 1000}k_changes_replicated", "s"),
            (f"{edits} single edits, latency to beta", "doc_change_latency_p50", "ms"),
            (f"{ndocs} docs shared while beta is stopped", f"doc_{ndocs}_docs_first_sync", "s"),
        ]
        runs: list[Callable[[], list[Figure]]] = [
            lambda: _many_changes(a, b, doc, many),
            lambda: _latency(a, b, doc, edits),
            lambda: _many_docs(a, b, doc, ndocs),
        ]
        for (what, name, unit), run in zip(parts, runs, strict=True):
            ctx.log(f"docs: {what}")
            try:
                figures += run()
            except Exception as exc:
                ctx.log(f"docs: {what} FAILED: {type(exc).__name__}: {exc}")
                figures.append(failed(name, unit, f"{type(exc).__name__}: {exc}"))
    finally:
        kill_all([a, b])
    return SectionResult(figures, {"docs": {"changes": many, "edits": edits, "docs": ndocs}})


def _many_changes(a: BenchDaemon, b: BenchDaemon, doc: str, many: int) -> list[Figure]:
    began = time.perf_counter()
    for i in range(many):
        _set(a, doc, f"k{i % 100}", i)
    written = time.perf_counter() - began
    final = _heads(a, doc)
    _wait(lambda: _heads(b, doc) == final, f"{many} changes on beta", poll=0.005)
    replicated = time.perf_counter() - began
    return [
        Figure(
            f"doc_{many // 1000}k_changes_replicated",
            "s",
            [replicated],
            note=f"{many} sets on A, first to B's heads equal; 10k target scales",
            target=("<=", 2.0 * many / 10_000),
        ),
        Figure(
            "doc_changes_catch_up",
            "s",
            [replicated - written],
            note=f"from A's last ack of the {many} until B's heads equal",
        ),
        Figure(
            "doc_local_changes",
            "changes/s",
            [many / written],
            note="A's own commit rate through the local API, one request per change",
        ),
    ]


def _latency(a: BenchDaemon, b: BenchDaemon, doc: str, edits: int) -> list[Figure]:
    latency, ack = [], []
    for i in range(edits):
        t0 = time.perf_counter()
        _set(a, doc, "lat", i)
        ack.append((time.perf_counter() - t0) * 1000)
        _wait(lambda i=i: _value(b, doc, "lat") == i, "an edit on beta", poll=0.001)
        latency.append((time.perf_counter() - t0) * 1000)
    return [
        Figure(
            "doc_change_latency_p50",
            "ms",
            latency,
            note=f"set on A until visible on B, {edits} edits",
            target=("<=", 20.0),
        ),
        Figure(
            "doc_change_latency_p99",
            "ms",
            [_percentile(latency, 99)],
            note=f"of the same {edits} edits",
        ),
        Figure("doc_change_ack", "ms", ack, note="set on A until acknowledged"),
    ]


def _many_docs(a: BenchDaemon, b: BenchDaemon, doc: str, ndocs: int) -> list[Figure]:
    b.stop()
    ids = []
    for i in range(ndocs):
        new = str(_api(a, "POST", "/v1/docs", {"title": f"d{i}"})["doc_id"])
        _set(a, new, "n", i)
        _api(a, "POST", f"/v1/docs/{quote_path(new)}/share", {"friend": "beta", "role": "reader"})
        ids.append(new)
    want = {d: _heads(a, d) for d in [doc, *ids]}
    b.launch()
    b.wait_ready()
    _wait(_synced_check(b, want), f"{ndocs} docs on beta", poll=0.05)
    first_sync = time.perf_counter() - b.launched_at
    rss_b = b.process.memory_info().rss / 1e6
    return [
        Figure(
            f"doc_{ndocs}_docs_first_sync",
            "s",
            [first_sync],
            note=f"B launched until it holds all {ndocs + 1} docs at A's heads",
        ),
        Figure(f"doc_{ndocs}_docs_rss", "MB", [rss_b], note="B right after that sync"),
    ]


def _api(d: BenchDaemon, method: str, path: str, body: object | None = None) -> dict[str, Any]:
    data = LocalClient(d.data_dir, timeout=120).request(method, path, body)
    if not isinstance(data, dict):
        raise RuntimeError(f"{method} {path} returned {data!r}")
    return data


def _set(d: BenchDaemon, doc: str, path: str, value: object) -> None:
    _api(
        d, "POST", f"/v1/docs/{quote_path(doc)}/change", {"op": "set", "path": path, "value": value}
    )


def _heads(d: BenchDaemon, doc: str) -> list[str] | None:
    try:
        heads = _api(d, "GET", f"/v1/docs/{quote_path(doc)}").get("heads")
    except Exception:
        return None  # not there yet
    return heads if isinstance(heads, list) else None


def _value(d: BenchDaemon, doc: str, path: str) -> object:
    try:
        return _api(d, "GET", f"/v1/docs/{quote_path(doc)}?path={quote_path(path)}").get("value")
    except Exception:
        return None


def _synced_check(b: BenchDaemon, want: dict[str, list[str] | None]) -> Any:
    """A poll function: True once B holds every doc in `want` at the wanted heads.

    Asks per doc and stops at the first one not there yet, so that polling does
    not load B (listing all docs is slow while a thousand are arriving).
    """
    pending = list(want)

    def check() -> bool:
        while pending and _heads(b, pending[0]) == want[pending[0]]:
            pending.pop(0)
        return not pending

    return check


def _online(d: BenchDaemon, name: str) -> bool:
    data = d.json("friends")
    return isinstance(data, list) and any(
        isinstance(f, dict) and f.get("name") == name and f.get("online") for f in data
    )


def _wait(check: Any, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {SYNC_TIMEOUT:.0f} s waiting for {what}")
        time.sleep(poll)


def _percentile(xs: list[float], pct: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(pct) - 1]
