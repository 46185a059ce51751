"""The benchmark sections that need at most one daemon: pipeline ceiling, start-up, footprint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict

from bench.figures import Context, Figure, SectionResult, failed
from bench.procs import BenchDaemon, api_status, citizen_cmd, peak_rss_of, timed_cli

NOT_AVAILABLE = "not available"


def pipeline(ctx: Context) -> SectionResult:
    """Section 1: in-process encrypt + zfec 3-of-5 + BLAKE2b ceiling, MB/s of plaintext per stage.

    Pinned to core 0 under `--pi`. The stages become `ctx.ceiling`, which the
    networked throughput figures of the same run are divided by.
    """
    try:
        from bench.pipeline import run_pipeline_ceiling
    except Exception as exc:  # the module is someone else's and may not be there yet
        why = f"bench/pipeline.py not importable: {type(exc).__name__}: {exc}"
        return SectionResult(
            [Figure("pipeline_encode_segment", "MB/s", status=NOT_AVAILABLE, note=why)]
        )
    mib, repeat = (64, 3) if ctx.quick else (256, 5)
    before = os.sched_getaffinity(0)
    if ctx.pi:
        os.sched_setaffinity(0, {0})
    try:
        result = run_pipeline_ceiling(mib, repeat)
    finally:
        os.sched_setaffinity(0, before)
    stages = result.get("stages")
    if not isinstance(stages, dict):
        return SectionResult([failed("pipeline_encode_segment", "MB/s", "no stages in result")])
    ctx.ceiling = {str(k): float(v) for k, v in stages.items() if isinstance(v, int | float)}
    note = f"one thread, {mib} MiB in 1 MiB segments, median of {repeat}"
    figures = [
        Figure(f"pipeline_{stage}", "MB/s", median=mbs, note=note)
        for stage, mbs in ctx.ceiling.items()
    ]
    return SectionResult(figures, {"pipeline": result})


def startup(ctx: Context) -> SectionResult:
    """Section 2: `citizen run` to ready (median of 5), `citizen status` wall (median of 20).

    Ready means the daemon answers `GET /v1/status` on its socket with its
    listen addresses, polled in-process every 10 ms from just before the
    process is spawned. The status figure is what a user waits for: a new
    `citizen --json status` process, its imports, the socket round trip, exit.
    """
    d = BenchDaemon(ctx.workdir / "startup", "solo", pin=ctx.pi)
    d.data_dir.parent.mkdir(parents=True, exist_ok=True)
    d.init()
    ready: list[float] = []
    affinity: list[int] = []
    ready_cpu: list[float] = []
    stops: list[float] = []
    try:
        for i in range(5):
            ready.append(d.start())
            cpu = d.process.cpu_times()
            ready_cpu.append(cpu.user + cpu.system)
            affinity = sorted(d.process.cpu_affinity())
            if i < 4:
                stops.append(d.stop())
        timed_cli(d, "status")  # warm the page cache once, not counted
        status_wall = [timed_cli(d, "status") for _ in range(20)]
        help_wall = [_timed([*citizen_cmd(), "--help"]) for _ in range(10)]
        api = []
        for _ in range(20):
            began = time.perf_counter()
            assert api_status(d.data_dir) is not None
            api.append(time.perf_counter() - began)
        stops.append(d.stop())
    finally:
        d.kill()
    ms = [x * 1000 for x in status_wall]
    return SectionResult(
        [
            Figure(
                "daemon_start_to_ready",
                "s",
                ready,
                note="spawn to status answering with listen addrs",
                target=("<=", 1.0),
            ),
            Figure("daemon_start_cpu", "s", ready_cpu, note="daemon CPU s (user+sys) until ready"),
            Figure("daemon_stop", "s", stops, note="SIGTERM to process exit"),
            Figure(
                "citizen_status_wall",
                "ms",
                ms,
                note="`citizen --json status`, process start to exit",
                target=("<=", 200.0),
            ),
            Figure(
                "citizen_help_wall",
                "ms",
                [x * 1000 for x in help_wall],
                note="`citizen --help`: the CLI process floor, no daemon involved",
            ),
            Figure(
                "status_api_roundtrip",
                "ms",
                [x * 1000 for x in api],
                note="GET /v1/status over the socket from a running process",
            ),
        ],
        {"daemon_cpu_affinity": affinity},
    )


def footprint(ctx: Context) -> SectionResult:
    """Section 4: RSS of a fresh idle daemon with no friends, and what its imports cost.

    Import time is `-X importtime` self time of every module beyond those a bare
    `python -c pass` loads; for the daemon it is taken from a real `citizen run`
    (PYTHONPROFILEIMPORTTIME=1) up to ready, because the daemon imports libp2p
    and the services lazily.
    """
    d = BenchDaemon(ctx.workdir / "footprint", "fresh", pin=ctx.pi)
    d.data_dir.parent.mkdir(parents=True, exist_ok=True)
    d.init()
    repeat = 3 if ctx.quick else 5
    daemon: list[dict[str, int]] = []
    try:
        d.start()
        time.sleep(3.0)  # let start-up garbage settle; this is the idle steady state
        proc = d.process
        rss = []
        for _ in range(10):
            rss.append(proc.memory_info().rss / 1e6)
            time.sleep(0.5)
        uss = proc.memory_full_info().uss / 1e6
        threads = proc.num_threads()
        d.stop()
        for _ in range(repeat):
            d.log_path.unlink(missing_ok=True)
            d.launch(env={"PYTHONPROFILEIMPORTTIME": "1"})
            d.wait_ready()
            d.stop()
            daemon.append(_parse_importtime(d.log_path.read_text(errors="replace")))
    finally:
        d.kill()

    base = [_import_profile("pass") for _ in range(repeat)]
    base_names = set().union(*(set(p) for p in base))
    libp2p = [_import_profile("import libp2p") for _ in range(repeat)]
    figures = [
        Figure(
            "fresh_daemon_rss",
            "MB",
            rss,
            note=f"no friends, 3 s after ready; USS {uss:.1f} MB, {threads} threads",
            target=("<=", 100.0),
        ),
        Figure("python_bare_rss", "MB", [peak_rss_of("pass") for _ in range(3)]),
        Figure(
            "import_libp2p_rss",
            "MB",
            [peak_rss_of("import libp2p") for _ in range(3)],
            note="peak RSS of `python -c 'import libp2p'`",
        ),
        Figure(
            "import_libp2p_time",
            "ms",
            [_extra_ms(p, base_names) for p in libp2p],
            note="-X importtime self time beyond bare python",
        ),
        Figure(
            "import_libp2p_modules",
            "modules",
            [len(set(p) - base_names) for p in libp2p],
            note="modules `import libp2p` loads beyond bare python",
        ),
        Figure(
            "daemon_import_time",
            "ms",
            [_extra_ms(p, base_names) for p in daemon],
            note="all imports of `citizen run` until ready, beyond bare python",
        ),
        Figure(
            "daemon_import_modules",
            "modules",
            [len(set(p) - base_names) for p in daemon],
            note="modules the daemon has loaded when ready, beyond bare python",
        ),
    ]
    details: dict[str, object] = {
        "import_libp2p": _summary(libp2p[0], base_names),
        "import_daemon": _summary(daemon[0], base_names),
    }
    return SectionResult(figures, details)


def _timed(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    return time.perf_counter() - began


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def _import_profile(code: str) -> dict[str, int]:
    """Module -> self import time in microseconds, from `python -X importtime -c CODE`."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stderr
    return _parse_importtime(err)


def _parse_importtime(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            out[m.group(4)] = out.get(m.group(4), 0) + int(m.group(1))
    return out


def _extra_ms(profile: dict[str, int], base: set[str]) -> float:
    return sum(us for mod, us in profile.items() if mod not in base) / 1000


def _summary(profile: dict[str, int], base: set[str], top: int = 12) -> dict[str, object]:
    """Which top-level packages the import time goes to, largest first."""
    by_package: dict[str, int] = defaultdict(int)
    count = 0
    for mod, us in profile.items():
        if mod in base:
            continue
        count += 1
        by_package[mod.split(".", 1)[0]] += us
    ranked = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {
        "modules": count,
        "total_ms": round(sum(by_package.values()) / 1000, 1),
        "top_packages_ms": {name: round(us / 1000, 1) for name, us in ranked},
    }
