"""Section: households behind home NATs: hole punching, objects direct vs relayed, the relay's cost.

The scene of the NAT tests (issue 8), built with their own helpers
(`bench/nat_homes.py`): network namespaces from `tests/e2e/netns.py` (homes A
and C each behind a MASQUERADE router, a public network between them) and
daemons from `tests/e2e/nat_daemons.py`: alpha in home A, beta public, gamma
in home C. Beta relays for the two homes (circuit relay v2); alpha and gamma
pair through it and upgrade to a direct connection by hole punching (DCUtR)
where router C allows, which `Topology.make_symmetric("c")` prevents.

Alpha stores objects with `[storage] k = 1, n = 1, happiness = 1`, so each
object's single share goes to one friend; beta offers no storage
(`offer_mib = 0`): a first small put that hashing places at beta is refused
for quota, after which alpha places every share at gamma. So every byte of a
measured put or get travels between alpha and gamma, through beta's relay or
not. Measured, each case with fresh daemons in fresh namespaces:

- `nat_hole_punch_to_direct`: from `pair(alpha, gamma)` returning (relayed)
  until both list each other `direct` (their local APIs polled every 50 ms),
  median over 3 topologies (1 with --quick).
- `nat_put/get_<size>_<case>`: MB/s (10^6 B) of plaintext through alpha's
  local API in-process (as in the `objects` section); a get reads the first
  object of its size after `evict`. Cases: `direct` (after the hole punch),
  `relayed` (router C symmetric, beta's default relay limits), `resetting`
  (the same with beta's `[relay] circuit_mib = 4`, so transfers resume across
  circuit resets). 16 and 64 MiB (16 only with --quick; `resetting` 16 MiB
  only, once: each reset costs seconds). `*_vs_direct` is a relayed median
  over the direct one of the same run.
- `nat_<case>_resends`: requests alpha sent again after a break (its log's
  "is back; sending ... again"); `nat_<case>_reconnects`: how often alpha
  logged gamma online again during the transfers.
- `nat_relay_cpu_per_mib`: beta's CPU time (utime + stime, /proc/PID/stat)
  per MiB of plaintext relayed in the `relayed` case; `nat_relay_rss_peak`:
  beta's VmHWM over that case (reset before it through /proc/PID/clear_refs).
  The JSON `details.nat.ops` has every op's seconds, each daemon's CPU, the
  bytes beta's namespace received (it also routes between the two ISPs, so
  direct traffic counts there too, but costs beta's process nothing).

Skipped, with the reason, where the NAT tests skip (not root, no iptables,
no namespaces). The figures come from one shared, noisy 2-core machine.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from bench.figures import Context, Figure, SectionResult, failed
from bench.nat_homes import (
    MIB,
    CaseRuns,
    hwm_mb,
    kind,
    pair_homes,
    reset_hwm,
    start_homes,
    status,
    transfers,
    wait_direct,
    wait_relayed,
)

SIZES_MIB = (16, 64)
CIRCUIT_MIB = 4  # beta's relay limit per circuit in the `resetting` case
CASES = ("direct", "relayed", "resetting")
NOISY = "shared, noisy 2-core VM"
SKIPPED = "skipped"


def _repeats(case: str, quick: bool) -> dict[int, int]:
    """Size in MiB -> puts (and gets) of it, for one case."""
    if case == "resetting":
        return {16: 1}
    return {16: 2, 64: 0} if quick else {16: 3, 64: 1}


def nat(ctx: Context) -> SectionResult:
    """Hole punching time, object throughput direct / relayed / across resets, the relay's cost."""
    why = _why_impossible()
    if why is not None:
        ctx.log(f"nat: skipped: {why}")
        return SectionResult(_skipped_figures(ctx.quick, why), {"nat": {"skipped": why}})
    import pytest

    from tests.e2e.netns import two_homes_and_public

    # what a NAT test would skip on (e.g. iptables without --random-fully) or fail on
    trouble = (Exception, pytest.skip.Exception)
    ctx.log(f"nat: figures from a {NOISY}; other work running alongside changes them")
    root = ctx.workdir / "nat"
    root.mkdir(parents=True, exist_ok=True)
    files: dict[int, Path] = {}
    for mib in sorted({m for case in CASES for m in _sizes(case, ctx.quick)}):
        files[mib] = root / f"in-{mib}MiB.bin"
        with open(files[mib], "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(MIB))

    details: dict[str, Any] = {
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "setup_seconds": {},
        "relayed_wait_seconds": {},
    }
    punch: list[float] = []
    punch_seen: list[dict[str, object]] = []
    cases: dict[str, CaseRuns] = {}
    errors: dict[str, str] = {}
    relay: dict[str, float] = {}

    def run_case(case: str, h: Any) -> None:
        plan = {m: n for m, n in _repeats(case, ctx.quick).items() if n}
        runs = cases[case] = CaseRuns()
        (root / case).mkdir(exist_ok=True)
        chosen = {m: files[m] for m in plan}
        transfers(ctx, h, root / case, chosen, lambda m: plan[m], runs)

    topologies = 1 if ctx.quick else 3
    for i in range(topologies):
        ctx.log(f"nat: hole punch {i + 1}/{topologies}" + (" + direct transfers" if i == 0 else ""))
        try:
            with two_homes_and_public() as topo:
                h = start_homes(ctx, topo, root / f"punch{i}", symmetric=False, beta={})
                try:
                    details["setup_seconds"][f"punch{i}"] = round(h.setup_s, 1)
                    returned, seen = pair_homes(h)
                    punch.append(wait_direct(h, returned))
                    counts = [status(d)["hole_punch"] for d in (h.a, h.c)]
                    punch_seen.append({"at_pair": seen, "alpha": counts[0], "gamma": counts[1]})
                    ctx.log(f"nat:   direct {punch[-1]:.1f} s after pairing returned")
                    if i == 0:
                        run_case("direct", h)
                finally:
                    h.kill()
        except trouble as exc:
            errors[f"punch{i}"] = _why(exc)
            ctx.log(f"nat: hole punch {i + 1} FAILED: {errors[f'punch{i}']}")

    for case, beta in (("relayed", {}), ("resetting", {"circuit_mib": CIRCUIT_MIB})):
        ctx.log(f"nat: {case}: router C symmetric, beta {beta or 'default relay limits'}")
        try:
            with two_homes_and_public() as topo:
                h = start_homes(ctx, topo, root / case, symmetric=True, beta=beta)
                try:
                    details["setup_seconds"][case] = round(h.setup_s, 1)
                    pair_homes(h)
                    details["relayed_wait_seconds"][case] = round(wait_relayed(h), 1)
                    beta_pid = h.b.proc.pid
                    rss_before = hwm_mb(beta_pid)
                    reset_hwm(beta_pid)
                    run_case(case, h)
                    if case == "relayed":
                        relay = {"rss_peak": hwm_mb(beta_pid), "rss_before": rss_before}
                    still = [kind(h.a, "gamma"), kind(h.c, "alpha")]
                    details[f"{case}_connection_after"] = still
                finally:
                    h.kill()
        except trouble as exc:
            errors[case] = _why(exc)
            ctx.log(f"nat: {case} FAILED: {errors[case]}")

    details["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    details["hole_punch"] = punch_seen
    details["errors"] = errors
    details["ops"] = {case: [o.to_json() for o in r.ops] for case, r in cases.items()}
    details["steer_puts"] = {case: r.steer_puts for case, r in cases.items()}
    figures = _figures(ctx.quick, punch, topologies, cases, relay, errors)
    return SectionResult(figures, {"nat": details})


def _why(exc: BaseException) -> str:
    if type(exc).__name__ == "Skipped":  # pytest.skip.Exception
        return f"{SKIPPED}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _missing(name: str, unit: str, why: str) -> Figure:
    if why.startswith(SKIPPED):
        return Figure(name, unit, status=SKIPPED, note=why.removeprefix(f"{SKIPPED}: "))
    return failed(name, unit, why)


def _why_impossible() -> str | None:
    """Why the NAT scene cannot be built here, in the NAT tests' own words; None if it can."""
    try:
        import pytest

        from tests.e2e.netns import skip_unless_possible
    except ImportError as exc:
        return f"the NAT test helpers need pytest: {exc} (pip install -e '.[test]')"
    try:
        skip_unless_possible()
    except pytest.skip.Exception as exc:
        return str(exc.msg)
    return None


def _sizes(case: str, quick: bool) -> list[int]:
    return [mib for mib, n in _repeats(case, quick).items() if n]


def _figures(
    quick: bool,
    punch: list[float],
    topologies: int,
    cases: dict[str, CaseRuns],
    relay: dict[str, float],
    errors: dict[str, str],
) -> list[Figure]:
    figures: list[Figure] = []
    if punch:
        figures.append(
            Figure(
                "nat_hole_punch_to_direct",
                "s",
                punch,
                note=f"pair(alpha, gamma) returned, relayed, until both list each other direct;"
                f" {len(punch)} of {topologies} fresh topologies; {NOISY}",
            )
        )
    else:
        figures.append(_missing("nat_hole_punch_to_direct", "s", errors.get("punch0", "no run")))

    medians: dict[tuple[str, str, int], float] = {}
    for case in CASES:
        runs = cases.get(case)
        for what in ("put", "get"):
            for mib in _sizes(case, quick):
                name = f"nat_{what}_{mib}MiB_{case}"
                if runs is None:
                    figures.append(
                        _missing(name, "MB/s", errors.get(case, errors.get("punch0", "")))
                    )
                    continue
                rates = runs.rates(what, mib)
                medians[(case, what, mib)] = statistics.median(rates)
                note = _case_note(case, what, len(rates))
                figures.append(Figure(name, "MB/s", rates, note=note))
    for case in ("relayed", "resetting"):
        for what in ("put", "get"):
            for mib in _sizes(case, quick):
                name = f"nat_{what}_{mib}MiB_{case}_vs_direct"
                slow, fast = medians.get((case, what, mib)), medians.get(("direct", what, mib))
                if slow is None or not fast:
                    figures.append(failed(name, "ratio", "a case is missing"))
                    continue
                figures.append(Figure(name, "ratio", median=slow / fast, note="medians, same run"))
    for case in CASES:
        runs = cases.get(case)
        if runs is None:
            continue
        resends = sum(sum(o.resends.values()) for o in runs.ops)
        kinds = sorted({k for o in runs.ops for k in o.resends})
        figures += [
            Figure(
                f"nat_{case}_resends",
                "requests",
                median=float(resends),
                note=f"sent again after a break, all puts and gets ({', '.join(kinds) or 'none'})",
            ),
            Figure(
                f"nat_{case}_reconnects",
                "times",
                median=float(sum(o.reconnects for o in runs.ops)),
                note="alpha logged gamma online again during the transfers",
            ),
        ]
    relayed = cases.get("relayed")
    if relayed is not None and relayed.ops:
        mib = sum(o.mib for o in relayed.ops)
        cpu = sum(o.cpu_s["beta"] for o in relayed.ops)
        per_op = [o.cpu_s["beta"] * 1000 / o.mib for o in relayed.ops]
        wire = sum(o.beta_rx_bytes for o in relayed.ops) / (mib * MIB)
        direct = cases.get("direct")
        check = ""
        if direct is not None and direct.ops:
            ms = sum(o.cpu_s["beta"] for o in direct.ops) * 1000 / sum(o.mib for o in direct.ops)
            check = f"; {ms:.1f} in the direct case"
        figures += [
            Figure(
                "nat_relay_cpu_per_mib",
                "CPU ms/MiB",
                per_op,
                median=cpu * 1000 / mib,
                note=f"beta utime+stime over {mib} MiB of plaintext relayed (put + get), runs"
                f" per op{check}; its namespace received {wire:.2f} B per plaintext byte",
            ),
            Figure(
                "nat_relay_rss_peak",
                "MB",
                median=relay.get("rss_peak"),
                note=f"beta's VmHWM while relaying (reset before; {relay.get('rss_before', 0):.0f}"
                " MB peak before)",
            ),
        ]
    else:
        why = errors.get("relayed", "no run")
        figures += [_missing("nat_relay_cpu_per_mib", "CPU ms/MiB", why)]
        figures += [_missing("nat_relay_rss_peak", "MB", why)]
    return figures


def _case_note(case: str, what: str, n: int) -> str:
    where = {
        "direct": "after the hole punch",
        "relayed": "through beta, router C symmetric, default relay limits",
        "resetting": f"through beta, circuit_mib = {CIRCUIT_MIB}: resumes across resets",
    }[case]
    tail = ", evicted" if what == "get" else ""
    return f"k=n=1 at gamma, local API in-process, {n} {what}{'s' * (n != 1)}{tail}; {where}"


def _skipped_figures(quick: bool, why: str) -> list[Figure]:
    names = [("nat_hole_punch_to_direct", "s")]
    names += [
        (f"nat_{what}_{mib}MiB_{case}", "MB/s")
        for case in CASES
        for what in ("put", "get")
        for mib in _sizes(case, quick)
    ]
    names += [("nat_relay_cpu_per_mib", "CPU ms/MiB"), ("nat_relay_rss_peak", "MB")]
    return [Figure(name, unit, status=SKIPPED, note=why) for name, unit in names]
