"""Sections: object put and get through 1 owner + 5 friends (3-of-5), and 4 KiB objects one by one.

Six `citizen run` processes on 127.0.0.1, the five friends paired with the
owner through the CLI (`citizen invite` / `citizen accept`), each daemon with
the default `[storage]` k = 3, n = 5, happiness 4, 1 MiB segments.

Puts and gets go to the owner's local API in-process (`LocalClient.upload` /
`open_download`: the same socket, route and streamed body `citizen put` and
`citizen get` use, without the ~0.3 s of a CLI process start, which would be
most of a 1 MiB put). `object_cli_*` time the real CLI once per run for scale.

- `object_put_<size>`: a random file (written once, read from the page cache)
  streamed to POST /v1/objects until the daemon answers; MB/s of plaintext.
- `object_get_<size>`: the object's local copy evicted, then the friends
  holding share numbers 0 and 1 stopped (SIGTERM), so that every segment is
  rebuilt from shares 2, 3, 4: the worst case, and what the
  `decode_segment_worst` ceiling stage measures. The same object is read
  `repeat` times; each read is compared with the file byte for byte afterwards.
- CPU seconds per GiB of plaintext: user + system CPU time from the OS
  (psutil) of the owner, and of all six daemons together, across each op.
- Peak RSS per daemon: VmHWM from /proc/PID/status, reset before each op by
  writing 5 to /proc/PID/clear_refs (so it is the peak of that op alone).
"""

from __future__ import annotations

import filecmp
import functools
import io
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import Context, Figure, SectionResult
from bench.procs import BenchDaemon, init_all, kill_all, start_all
from citizen.api.client import LocalClient, quote_path

MIB = 1024 * 1024
GIB = 1024 * MIB
FRIENDS = 5
SIZES_MIB = (1, 64, 512)
ONLINE_TIMEOUT = 120.0


# -- the cluster --------------------------------------------------------------------------


class Cluster:
    """An owner and five friends, each paired with the owner only."""

    def __init__(self, ctx: Context, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.owner = BenchDaemon(root, "owner", pin=ctx.pi)
        self.friends = [BenchDaemon(root, f"f{i}", pin=ctx.pi) for i in range(FRIENDS)]
        self.everyone = [self.owner, *self.friends]
        self._households: dict[str, BenchDaemon] = {}

    def start(self, log: Callable[[str], None]) -> float:
        """Init, start and pair everyone; seconds it took."""
        began = time.perf_counter()
        init_all(self.everyone)
        start_all(self.everyone)
        for f in self.friends:
            code = self.owner.json("invite")
            assert isinstance(code, dict), code
            f.json("accept", str(code["code"]))
            status = f.json("status")
            assert isinstance(status, dict), status
            self._households[str(status["household"])] = f
        self.wait_online({f.name for f in self.friends})
        log(f"objects: owner + {FRIENDS} friends online in {time.perf_counter() - began:.1f} s")
        return time.perf_counter() - began

    def online(self) -> set[str]:
        data = self.owner.json("friends")
        assert isinstance(data, list), data
        return {str(f["name"]) for f in data if isinstance(f, dict) and f.get("online")}

    def wait_online(self, want: set[str], offline: frozenset[str] | set[str] = frozenset()) -> None:
        deadline = time.monotonic() + ONLINE_TIMEOUT
        while time.monotonic() < deadline:
            now = self.online()
            if want <= now and not offline & now:
                return
            time.sleep(0.1)
        raise RuntimeError(f"friends {sorted(want)} not online / {sorted(offline)} not offline")

    def holder(self, household: str) -> BenchDaemon:
        return self._households[household]

    def running(self) -> list[BenchDaemon]:
        return [d for d in self.everyone if d.proc is not None]

    def kill(self) -> None:
        kill_all(self.everyone)


# -- OS accounting ------------------------------------------------------------------------


def _reset_peak(d: BenchDaemon) -> None:
    """Reset VmHWM to the current RSS (Linux: 5 > clear_refs); harmless if refused."""
    assert d.proc is not None
    try:
        Path(f"/proc/{d.proc.pid}/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb(d: BenchDaemon) -> float:
    assert d.proc is not None
    for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6  # kB in /proc are KiB
    raise RuntimeError("no VmHWM in /proc/PID/status")


@dataclass(slots=True)
class Measured:
    """One timed operation and what every running daemon spent on it."""

    seconds: float
    cpu: dict[str, float]
    peak_mb: dict[str, float]
    result: object = None


def measure(daemons: list[BenchDaemon], op: Callable[[], object]) -> Measured:
    procs = {d.name: d.process for d in daemons}
    for d in daemons:
        _reset_peak(d)

    def cpu_now() -> dict[str, float]:
        out = {}
        for name, p in procs.items():
            t = p.cpu_times()
            out[name] = float(t.user + t.system)
        return out

    cpu0 = cpu_now()
    began = time.perf_counter()
    result = op()
    seconds = time.perf_counter() - began
    cpu1 = cpu_now()
    return Measured(
        seconds,
        {n: cpu1[n] - cpu0[n] for n in procs},
        {d.name: _peak_mb(d) for d in daemons},
        result,
    )


# -- the owner's API ------------------------------------------------------------------------


def put_file(owner: BenchDaemon, path: Path) -> dict[str, object]:
    with open(path, "rb") as f:
        data = LocalClient(owner.data_dir, timeout=900).upload(
            f"/v1/objects?name={quote_path(path.name)}", f, path.stat().st_size
        )
    if not isinstance(data, dict) or data.get("state") != "complete":
        raise RuntimeError(f"put of {path.name} returned {data!r}")
    return data


def put_bytes(client: LocalClient, name: str, data: bytes) -> None:
    out = client.upload(f"/v1/objects?name={name}", io.BytesIO(data), len(data))
    if not isinstance(out, dict) or "object_id" not in out:
        raise RuntimeError(f"put of {name} returned {out!r}")


def get_to(owner: BenchDaemon, object_id: str, out: Path) -> int:
    length, _headers, chunks = LocalClient(owner.data_dir, timeout=900).open_download(
        f"/v1/objects/{quote_path(object_id)}"
    )
    written = 0
    with open(out, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
            written += len(chunk)
    if length is not None and written != length:
        raise RuntimeError(f"get of {object_id}: {written} of {length} bytes")
    return written


def _random_file(path: Path, mib: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))


# -- section: objects -----------------------------------------------------------------------


@dataclass(slots=True)
class _Runs:
    rate: list[float] = field(default_factory=list)
    cpu_all: list[float] = field(default_factory=list)
    cpu_owner: list[float] = field(default_factory=list)
    owner_peak: list[float] = field(default_factory=list)
    friend_peak: list[float] = field(default_factory=list)
    peaks: list[dict[str, float]] = field(default_factory=list)

    def add(self, m: Measured, size: int, owner: str) -> None:
        self.rate.append(size / m.seconds / 1e6)
        self.cpu_all.append(sum(m.cpu.values()) / (size / GIB))
        self.cpu_owner.append(m.cpu[owner] / (size / GIB))
        self.owner_peak.append(m.peak_mb[owner])
        self.friend_peak.append(max(v for k, v in m.peak_mb.items() if k != owner))
        self.peaks.append({k: round(v, 1) for k, v in m.peak_mb.items()})


def _repeats(mib: int, quick: bool) -> int:
    if mib <= 1:
        return 5 if quick else 10
    if mib <= 64:
        return 2 if quick else 3
    return 1


def objects(ctx: Context) -> SectionResult:
    """Object put and get through real daemons: 1 owner + 5 friends, 3-of-5.

    Per size in 1, 64 (and 512 without --quick) MiB: puts (repeated, median
    reported), then the first object of each size evicted and read back with
    the two holders of its primary shares 0 and 1 stopped. The put is compared
    with the `encode_segment` ceiling (target 50%), the get with
    `decode_segment_worst` (two primaries rebuilt per segment, target 70%).
    """
    sizes = [m for m in SIZES_MIB if not (ctx.quick and m > 64)]
    root = ctx.workdir / "objects"
    cluster = Cluster(ctx, root)
    owner = cluster.owner
    puts: dict[int, _Runs] = {}
    gets: dict[int, _Runs] = {}
    first: dict[int, dict[str, object]] = {}
    stopped_pairs: dict[int, list[int]] = {}
    cli: dict[str, list[float]] = {"put": [], "get": []}
    try:
        setup = cluster.start(ctx.log)
        files = {}
        for mib in sizes:
            files[mib] = root / f"in-{mib}MiB.bin"
            _random_file(files[mib], mib)
        for mib in sizes:
            repeat = _repeats(mib, ctx.quick)
            ctx.log(f"objects: put {mib} MiB x {repeat}")
            runs = puts[mib] = _Runs()
            for i in range(repeat):
                m = measure(cluster.running(), functools.partial(put_file, owner, files[mib]))
                runs.add(m, mib * MIB, owner.name)
                if i == 0:
                    assert isinstance(m.result, dict)
                    first[mib] = m.result
        ctx.log("objects: `citizen put` / `citizen get` of 1 MiB through the CLI")
        for _ in range(3):
            began = time.perf_counter()
            owner.json("put", str(files[sizes[0]]))
            cli["put"].append(time.perf_counter() - began)
        for mib in sizes:
            object_id = str(first[mib]["object_id"])
            owner.json("evict", object_id)
        out = root / "out.bin"
        for mib in sizes:
            placement = first[mib]["placement"]
            assert isinstance(placement, dict), placement
            object_id = str(first[mib]["object_id"])
            down = [cluster.holder(str(placement["0"])), cluster.holder(str(placement["1"]))]
            stopped_pairs[mib] = [cluster.friends.index(d) for d in down]
            for d in down:
                d.stop()
            cluster.wait_online(
                {f.name for f in cluster.friends if f not in down}, {d.name for d in down}
            )
            repeat = _repeats(mib, ctx.quick)
            ctx.log(f"objects: get {mib} MiB x {repeat}, {' and '.join(d.name for d in down)} down")
            runs = gets[mib] = _Runs()
            for _ in range(repeat):
                m = measure(cluster.running(), functools.partial(get_to, owner, object_id, out))
                runs.add(m, mib * MIB, owner.name)
                if not filecmp.cmp(files[mib], out, shallow=False):
                    raise RuntimeError(f"get of the {mib} MiB object returned other bytes")
                out.unlink()
            if mib == sizes[0]:
                for _ in range(3):
                    began = time.perf_counter()
                    owner.json("get", object_id, "-o", str(out))
                    cli["get"].append(time.perf_counter() - began)
                    out.unlink()
            if mib != sizes[-1]:
                start_all(down)
                cluster.wait_online({f.name for f in cluster.friends})
    finally:
        cluster.kill()

    figures: list[Figure] = []
    for mib in sizes:
        p, g = puts[mib], gets[mib]
        n_put, n_get = len(p.rate), len(g.rate)
        figures += [
            Figure(
                f"object_put_{mib}MiB",
                "MB/s",
                p.rate,
                note=f"local API in-process, {n_put} puts, all 5 friends up",
                ceiling_stage="encode_segment",
                ratio_target=0.5,
            ),
            Figure(
                f"object_get_{mib}MiB",
                "MB/s",
                g.rate,
                note=f"evicted; holders of shares 0 and 1 stopped; {n_get} gets",
                ceiling_stage="decode_segment_worst",
                ratio_target=0.7,
            ),
            Figure(f"object_put_{mib}MiB_cpu_all", "CPU s/GiB", p.cpu_all, note="6 daemons"),
            Figure(f"object_put_{mib}MiB_cpu_owner", "CPU s/GiB", p.cpu_owner),
            Figure(f"object_get_{mib}MiB_cpu_all", "CPU s/GiB", g.cpu_all, note="4 daemons up"),
            Figure(f"object_get_{mib}MiB_cpu_owner", "CPU s/GiB", g.cpu_owner),
            Figure(
                f"object_put_{mib}MiB_owner_rss_peak",
                "MB",
                p.owner_peak,
                note="VmHWM during the put",
                target=("<=", 200.0) if mib == 512 else None,
            ),
            Figure(
                f"object_put_{mib}MiB_friend_rss_peak",
                "MB",
                p.friend_peak,
                note="highest VmHWM of the 5 friends during the put",
            ),
            Figure(
                f"object_get_{mib}MiB_owner_rss_peak",
                "MB",
                g.owner_peak,
                note="VmHWM during the get",
            ),
        ]
    figures += [
        Figure(
            f"object_cli_put_{sizes[0]}MiB",
            "ms",
            [x * 1000 for x in cli["put"]],
            note="`citizen --json put FILE` wall, CLI process start included",
        ),
        Figure(
            f"object_cli_get_{sizes[0]}MiB",
            "ms",
            [x * 1000 for x in cli["get"]],
            note="`citizen --json get OBJ -o FILE` wall, evicted, 2 friends down",
        ),
    ]
    details: dict[str, object] = {
        "objects": {
            "setup_seconds": round(setup, 1),
            "stopped_friends_for_get": {str(k): v for k, v in stopped_pairs.items()},
            "rss_peak_mb_per_daemon": {f"put_{mib}MiB": puts[mib].peaks[0] for mib in sizes}
            | {f"get_{mib}MiB": gets[mib].peaks[0] for mib in sizes},
        }
    }
    return SectionResult(figures, details)


# -- section: small objects -----------------------------------------------------------------


def small_objects(ctx: Context) -> SectionResult:
    """1,000 objects of 4 KiB put one after another (200 with --quick): objects/s.

    Each is one POST /v1/objects on the owner's socket from this process, as
    an app on the SDK would send it (the SDK's objects API is not used yet),
    with the same 1 + 5 cluster as `objects`, each object a fresh random 4 KiB.
    """
    count = 200 if ctx.quick else 1000
    cluster = Cluster(ctx, ctx.workdir / "small_objects")
    owner = cluster.owner
    latency: list[float] = []
    try:
        cluster.start(ctx.log)
        client = LocalClient(owner.data_dir, timeout=120)
        blobs = [os.urandom(4096) for _ in range(count)]

        def run() -> None:
            for i, blob in enumerate(blobs):
                began = time.perf_counter()
                put_bytes(client, f"small-{i}", blob)
                latency.append((time.perf_counter() - began) * 1000)

        ctx.log(f"small_objects: {count} puts of 4 KiB")
        m = measure(cluster.running(), run)
        rss = owner.process.memory_info().rss / 1e6
        listed = client.request("GET", "/v1/objects")
        stored = len(listed) if isinstance(listed, list) else -1
    finally:
        cluster.kill()
    tenth = max(1, count // 10)
    first, last = latency[:tenth], latency[-tenth:]
    return SectionResult(
        [
            Figure(
                "small_objects_4KiB",
                "objects/s",
                median=count / m.seconds,
                note=f"{count} puts one after another, local API in-process (not the SDK)",
                target=(">=", 200.0),
            ),
            Figure("small_objects_put_latency", "ms", latency, note="median of each put"),
            Figure(
                "small_objects_put_latency_p99",
                "ms",
                median=statistics.quantiles(latency, n=100)[98],
            ),
            Figure(
                "small_objects_cpu_owner",
                "CPU ms/object",
                median=1000 * m.cpu[owner.name] / count,
            ),
            Figure(
                "small_objects_cpu_all",
                "CPU ms/object",
                median=1000 * sum(m.cpu.values()) / count,
                note="6 daemons",
            ),
            Figure(
                "small_objects_owner_rss_after",
                "MB",
                median=rss,
                note=f"owner RSS after {count} objects",
            ),
        ],
        {
            "small_objects": {
                "count": count,
                "listed_after": stored,
                "latency_ms_first_tenth_median": round(statistics.median(first), 2),
                "latency_ms_last_tenth_median": round(statistics.median(last), 2),
                "owner_peak_mb": round(m.peak_mb[owner.name], 1),
            }
        },
    )
