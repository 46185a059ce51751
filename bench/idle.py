"""Section 3: a hub daemon with 20 friends connected and nothing to do, sampled over 60 s.

21 daemons on 127.0.0.1; each of 20 is paired with the hub through the CLI
(`citizen invite` on the hub, `citizen accept CODE` on the friend), then the
hub's `citizen --json friends` is polled until all 20 are online. Then the
hub's RSS is sampled every second and its CPU time (user + system, from the OS
via psutil) is read at the edges of fixed windows. The CPU figure is the
percentage of one core; its runs are the windows.
"""

from __future__ import annotations

import time

import psutil  # type: ignore[import-untyped]

from bench.figures import Context, Figure, SectionResult
from bench.procs import BenchDaemon, init_all, kill_all, start_all

FRIENDS = 20
ONLINE_TIMEOUT = 180.0


def idle(ctx: Context) -> SectionResult:
    seconds = 30.0 if ctx.quick else 60.0
    windows = 6
    root = ctx.workdir / "idle"
    root.mkdir(parents=True, exist_ok=True)
    hub = BenchDaemon(root, "hub", pin=ctx.pi)
    friends = [BenchDaemon(root, f"friend{i:02d}", pin=ctx.pi) for i in range(FRIENDS)]
    everyone = [hub, *friends]
    try:
        ctx.log(f"idle: init and start {len(everyone)} daemons")
        init_all(everyone)
        start_all(everyone)
        ctx.log(f"idle: pair {FRIENDS} friends with the hub through the CLI")
        accept_wall = []
        for f in friends:
            code = _field(hub.json("invite"), "code")
            began = time.perf_counter()
            f.json("accept", code)
            accept_wall.append(time.perf_counter() - began)
        began = time.perf_counter()
        _wait_all_online(hub, FRIENDS)
        all_online = time.perf_counter() - began
        ctx.log(f"idle: all {FRIENDS} online; sampling the hub for {seconds:.0f} s")
        time.sleep(2.0)  # let the last connections finish their handshakes
        procs = {d.name: d.process for d in everyone}
        sample = _sample(procs, hub.name, seconds, windows)
        still_online = _online_count(hub)
    finally:
        kill_all(everyone)

    note = f"hub with {FRIENDS} friends online, {seconds:.0f} s"
    return SectionResult(
        [
            Figure("idle_hub_rss", "MB", sample.hub_rss, note=note, target=("<=", 100.0)),
            Figure("idle_hub_rss_peak", "MB", [max(sample.hub_rss)], note=note),
            Figure(
                "idle_hub_cpu",
                "%",
                sample.hub_cpu,
                note=f"{note}; % of one core per {seconds / windows:.0f} s window",
            ),
            Figure(
                "idle_friend_rss",
                "MB",
                sample.friend_rss,
                note="each of the 20 friends (1 friend each), median over daemons",
            ),
            Figure(
                "idle_all_cpu",
                "%",
                sample.all_cpu,
                note=f"all {FRIENDS + 1} daemons together, % of one core per window",
            ),
            Figure("pair_accept_wall", "s", accept_wall, note="`citizen accept CODE` wall time"),
            Figure(
                "pair_all_online_wait",
                "s",
                [all_online],
                note="after the last accept, until the hub lists all 20 online",
            ),
        ],
        {"idle": {"seconds": seconds, "friends_online_at_end": still_online}},
    )


class _Sample:
    def __init__(self) -> None:
        self.hub_rss: list[float] = []
        self.hub_cpu: list[float] = []
        self.all_cpu: list[float] = []
        self.friend_rss: list[float] = []


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def _sample(procs: dict[str, psutil.Process], hub: str, seconds: float, windows: int) -> _Sample:
    out = _Sample()
    window = seconds / windows
    for _ in range(windows):
        began = time.perf_counter()
        cpu0 = {name: _cpu(p) for name, p in procs.items()}
        end = began + window
        while time.perf_counter() < end:
            out.hub_rss.append(procs[hub].memory_info().rss / 1e6)
            time.sleep(min(1.0, max(0.0, end - time.perf_counter())))
        wall = time.perf_counter() - began
        cpu1 = {name: _cpu(p) for name, p in procs.items()}
        out.hub_cpu.append(100 * (cpu1[hub] - cpu0[hub]) / wall)
        out.all_cpu.append(100 * sum(cpu1[n] - cpu0[n] for n in procs) / wall)
    out.friend_rss = [p.memory_info().rss / 1e6 for name, p in procs.items() if name != hub]
    return out


def _field(data: object, key: str) -> str:
    if not isinstance(data, dict) or not isinstance(data.get(key), str):
        raise RuntimeError(f"expected a JSON object with {key!r}, got {data!r}")
    return str(data[key])


def _online_count(hub: BenchDaemon) -> int:
    data = hub.json("friends")
    if not isinstance(data, list):
        raise RuntimeError(f"`citizen --json friends` returned {data!r}")
    return sum(1 for f in data if isinstance(f, dict) and f.get("online"))


def _wait_all_online(hub: BenchDaemon, count: int) -> None:
    deadline = time.monotonic() + ONLINE_TIMEOUT
    online = 0
    while time.monotonic() < deadline:
        online = _online_count(hub)
        if online >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {online}/{count} friends online after {ONLINE_TIMEOUT:.0f} s")
