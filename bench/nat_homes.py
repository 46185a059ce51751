"""The `nat` section's scene: alpha, beta, gamma in namespaces; timed transfers between the homes.

Built from the NAT tests' own helpers (`tests/e2e/netns.py`,
`tests/e2e/nat_daemons.py`), imported when used so that this module loads
where pytest is missing. Alpha stores with `[storage] k = 1, n = 1,
happiness = 1` and beta offers no storage, so every share of a measured put
goes to gamma (see `_steer_to_gamma`). Each timed op records every daemon's CPU
time (/proc/PID/stat), the bytes beta's namespace received, and the requests
alpha sent again after a broken connection (its log).
"""

from __future__ import annotations

import filecmp
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import Context
from bench.objects import get_to, put_file
from citizen.api.client import LocalClient
from citizen.errors import CitizenError, QuotaError

MIB = 1024 * 1024
POLL = 0.05  # seconds between polls of the two homes' friend lists
PUNCH_TIMEOUT = 180.0
_TICK = os.sysconf("SC_CLK_TCK")
_RESEND = re.compile(r"is back; sending (\w+) again")


def _set_config(d: Any, **values: int) -> None:
    """Set keys that appear once in the daemon's config.toml (k, n, circuit_mib, ...)."""
    path = d.data_dir / "config.toml"
    text = path.read_text()
    for key, value in values.items():
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        if count != 1:
            raise RuntimeError(f"config.toml has {count} lines for {key}")
    path.write_text(text)


def _friends(d: Any) -> list[dict[str, Any]]:
    try:
        data = LocalClient(d.data_dir, timeout=5).request("GET", "/v1/friends")
    except (CitizenError, OSError):
        return []
    return data if isinstance(data, list) else []


def kind(d: Any, friend: str) -> str | None:
    """`connection()` of tests/e2e/nat_daemons.py over the socket: no 0.3 s CLI start per poll."""
    for f in _friends(d):
        if f.get("name") == friend and f.get("devices"):
            kind = f["devices"][0].get("connection")
            return str(kind) if kind else None
    return None


def status(d: Any) -> dict[str, Any]:
    data = LocalClient(d.data_dir, timeout=10).request("GET", "/v1/status")
    return data if isinstance(data, dict) else {}


def _pin(d: Any) -> None:
    """--pi: every thread of the daemon on core 0 (NsDaemon has no taskset prefix)."""
    pid = d.proc.pid
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {0})
        except OSError:
            pass  # a thread that just ended


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6  # kB in /proc are KiB
    raise RuntimeError("no VmHWM in /proc/PID/status")


def reset_hwm(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


@dataclass(slots=True)
class Homes:
    """Alpha (home A), beta (public), gamma (home C), started and paired except alpha-gamma."""

    topo: Any
    a: Any
    b: Any
    c: Any
    setup_s: float = 0.0

    @property
    def daemons(self) -> list[Any]:
        return [self.a, self.b, self.c]

    def kill(self) -> None:
        for d in self.daemons:
            d.kill()


def start_homes(
    ctx: Context, topo: Any, root: Path, *, symmetric: bool, beta: dict[str, int]
) -> Homes:
    from tests.daemons import pair, wait_until
    from tests.e2e.nat_daemons import NsDaemon

    began = time.perf_counter()
    if symmetric:
        topo.make_symmetric("c")  # pytest.skip where iptables lacks --random-fully
    root.mkdir(parents=True, exist_ok=True)
    h = Homes(
        topo,
        NsDaemon(root / "alpha", "alpha", topo, "home_a"),
        NsDaemon(root / "beta", "beta", topo, "public"),
        NsDaemon(root / "gamma", "gamma", topo, "home_c"),
    )
    try:
        for d in h.daemons:
            d.init()
        _set_config(h.a, k=1, n=1, happiness=1)
        _set_config(h.b, offer_mib=0, **beta)
        for d in h.daemons:
            d.start()  # mDNS and port mapping off (NsDaemon), inside its namespace
            if ctx.pi:
                _pin(d)
        pair(h.b, h.a)
        pair(h.b, h.c)
        # what the hole punch needs: both homes know their router's public address
        for d in (h.a, h.c):
            wait_until(lambda d=d: status(d).get("observed_addrs"), f"{d.name}'s address")
        wait_until(lambda: status(h.a).get("relay_addrs"), "alpha's reservation at beta")
    except BaseException:
        h.kill()
        raise
    h.setup_s = time.perf_counter() - began
    return h


def pair_homes(h: Homes) -> tuple[float, tuple[str | None, str | None]]:
    """`pair(alpha, gamma)`; when it returned (perf_counter) and how each side saw the other."""
    from tests.daemons import pair

    pair(h.a, h.c)
    returned = time.perf_counter()
    return returned, (kind(h.a, "gamma"), kind(h.c, "alpha"))


def wait_direct(h: Homes, since: float) -> float:
    deadline = since + PUNCH_TIMEOUT
    while time.perf_counter() < deadline:
        if kind(h.a, "gamma") == "direct" and kind(h.c, "alpha") == "direct":
            return time.perf_counter() - since
        time.sleep(POLL)
    raise RuntimeError(f"alpha and gamma not direct {PUNCH_TIMEOUT:.0f} s after pairing")


def wait_relayed(h: Homes) -> float:
    """Both online through beta, and the (hopeless) hole punch over, so it does not overlap.

    Returns the seconds it took.
    """
    from tests.daemons import wait_until

    began = time.perf_counter()
    wait_until(
        lambda: kind(h.a, "gamma") == "relayed" and kind(h.c, "alpha") == "relayed",
        "alpha and gamma online through beta",
    )
    wait_until(
        lambda: status(h.a)["hole_punch"]["failed"] + status(h.c)["hole_punch"]["failed"],
        "the failed hole punch through symmetric router C",
    )
    return time.perf_counter() - began


# -- transfers ------------------------------------------------------------------------------


def _steer_to_gamma(h: Homes, root: Path) -> int:
    """Small puts until beta has refused one for quota; alpha then places every share at gamma.

    Returns how many puts it took. Beta offers nothing (`offer_mib = 0`); alpha
    leaves a friend that refused for quota out of placements for 10 minutes.
    """
    probe = root / "probe.bin"
    probe.write_bytes(os.urandom(4096))
    for attempt in range(1, 17):
        try:
            put_file(h.a, probe)
        except QuotaError:
            return attempt
        except CitizenError:
            # since puts keep several segments in flight (cf4b6db), the QuotaError
            # reaches the API inside an ExceptionGroup: HTTP 500, "internal error"
            if "bytes offered to it" in h.a.log():
                return attempt
            raise
    raise RuntimeError("16 small puts all went to gamma: beta never refused one")


@dataclass(slots=True)
class Op:
    """One timed put or get and what it cost each daemon."""

    what: str
    mib: int
    seconds: float
    cpu_s: dict[str, float]
    beta_rx_bytes: int
    resends: dict[str, int]
    reconnects: int

    @property
    def rate(self) -> float:
        return self.mib * MIB / self.seconds / 1e6

    def to_json(self) -> dict[str, object]:
        return {
            "op": self.what,
            "mib": self.mib,
            "seconds": round(self.seconds, 3),
            "mb_s": round(self.rate, 2),
            "cpu_s": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "beta_rx_bytes": self.beta_rx_bytes,
            "resends": self.resends,
            "reconnects": self.reconnects,
        }


def _beta_rx(topo: Any) -> int:
    """Bytes beta's namespace received on its links to the two routers (/proc/net/dev)."""
    total = 0
    for line in topo.exec("public", "cat", "/proc/net/dev").stdout.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() != "lo":
            total += int(rest.split()[0])
    return total


def _log_counts(d: Any, gamma_device: str) -> tuple[dict[str, int], int]:
    text = d.log()
    resends: dict[str, int] = {}
    for m in _RESEND.finditer(text):
        resends[m.group(1)] = resends.get(m.group(1), 0) + 1
    return resends, text.count(f"friend device {gamma_device} ")


def _timed(h: Homes, what: str, mib: int, gamma_device: str, op: Callable[[], object]) -> Op:
    pids = {d.name: d.proc.pid for d in h.daemons}
    resends0, online0 = _log_counts(h.a, gamma_device)
    cpu0 = {n: _cpu_s(p) for n, p in pids.items()}
    rx0 = _beta_rx(h.topo)
    began = time.perf_counter()
    op()
    seconds = time.perf_counter() - began
    cpu1 = {n: _cpu_s(p) for n, p in pids.items()}
    rx1 = _beta_rx(h.topo)
    resends1, online1 = _log_counts(h.a, gamma_device)
    return Op(
        what,
        mib,
        seconds,
        {n: cpu1[n] - cpu0[n] for n in pids},
        rx1 - rx0,
        {k: v - resends0.get(k, 0) for k, v in resends1.items() if v > resends0.get(k, 0)},
        online1 - online0,
    )


@dataclass(slots=True)
class CaseRuns:
    """The timed ops of one case, filled as they happen (a later failure keeps the earlier)."""

    ops: list[Op] = field(default_factory=list)
    steer_puts: int = 0

    def rates(self, what: str, mib: int) -> list[float]:
        return [o.rate for o in self.ops if o.what == what and o.mib == mib]


def transfers(
    ctx: Context,
    h: Homes,
    root: Path,
    files: dict[int, Path],
    repeats: Callable[[int], int],
    runs: CaseRuns,
) -> None:
    """Puts then gets alpha -> gamma, `repeats(mib)` of each size; gets read the first put back."""
    runs.steer_puts = _steer_to_gamma(h, root)
    gamma_household = str(status(h.c)["household"])
    gamma_device = str(status(h.c)["device"])
    first: dict[int, str] = {}
    for mib, path in files.items():
        repeat = repeats(mib)
        ctx.log(f"nat:   put {mib} MiB x {repeat}")
        for _ in range(repeat):
            result: dict[str, object] = {}

            def put(path: Path = path, result: dict[str, object] = result) -> None:
                result.update(put_file(h.a, path))

            runs.ops.append(_timed(h, "put", mib, gamma_device, put))
            placement = result.get("placement")
            if not isinstance(placement, dict) or set(placement.values()) != {gamma_household}:
                raise RuntimeError(f"a {mib} MiB put was not placed at gamma: {placement}")
            first.setdefault(mib, str(result["object_id"]))
    out = root / "out.bin"
    for mib, object_id in first.items():
        h.a.json("evict", object_id)
        repeat = repeats(mib)
        ctx.log(f"nat:   get {mib} MiB x {repeat} (evicted)")
        for i in range(repeat):
            runs.ops.append(
                _timed(h, "get", mib, gamma_device, lambda oid=object_id: get_to(h.a, oid, out))
            )
            if i == 0 and not filecmp.cmp(files[mib], out, shallow=False):
                raise RuntimeError(f"the {mib} MiB object came back with other bytes")
            out.unlink()
