"""Profile an object put: py-spy samples the owner and one friend while 1 + 5 daemons put a file.

Usage::

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_put.py --mib 256 --out /tmp/put-profile

Starts the same cluster as the `objects` section (owner + 5 friends on
127.0.0.1, 3-of-5), then puts a random file of `--mib` MiB through the
owner's local API while `py-spy record` samples the owner and friend f0 (all
threads, 250 Hz, by default only the thread holding the GIL: on a machine
where 7 processes share 2 cores, wall-clock samples also count threads that
are runnable but waiting for a core). Writes `owner.txt` / `friend.txt` into `--out`: collapsed
stacks, which https://www.speedscope.app or flamegraph.pl draw; and prints the
top functions by own and by inclusive samples.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
if sys.path and Path(sys.path[0] or ".").resolve() == _BENCH:
    del sys.path[0]
if str(_BENCH.parent) not in sys.path:
    sys.path.append(str(_BENCH.parent))

from bench.figures import Context  # noqa: E402
from bench.objects import MIB, Cluster, _random_file, put_file  # noqa: E402


def _spy(pid: int, out: Path, seconds: int, gil: bool) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "250", "--threads", "--format", "raw"]
        + ["--output", str(out), "--duration", str(seconds), "--nonblocking"]
        + (["--gil"] if gil else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def summarize(collapsed: Path, top: int = 25) -> str:
    """Top frames by own samples and by inclusive samples, from py-spy's raw output."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    lines = [f"{total} samples", "", "own:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("/tmp/put-profile"))
    parser.add_argument(
        "--wall",
        dest="gil",
        action="store_false",
        help="sample every running thread (wall clock) instead of only the one holding the GIL",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="citizen-profile-"))

    def log(line: str) -> None:
        print(f"[profile] {line}", file=sys.stderr, flush=True)

    cluster = Cluster(Context(quick=True, pi=False, workdir=work, log=log), work / "c")
    try:
        cluster.start(log)
        path = work / "in.bin"
        _random_file(path, args.mib)
        put_file(cluster.owner, path)  # warm up: first put, links, imports
        seconds = max(5, args.mib // 8)
        spies = []
        for d, name in ((cluster.owner, "owner"), (cluster.friends[0], "friend")):
            assert d.proc is not None
            spies.append(_spy(d.proc.pid, args.out / f"{name}.txt", seconds, args.gil))
        time.sleep(1.0)
        began = time.perf_counter()
        put_file(cluster.owner, path)
        wall = time.perf_counter() - began
        log(f"put {args.mib} MiB in {wall:.1f} s ({args.mib * MIB / wall / 1e6:.1f} MB/s)")
        for s in spies:
            _, err = s.communicate(timeout=seconds + 60)
            if s.returncode:
                log(f"py-spy failed: {err.decode(errors='replace')}")
    finally:
        cluster.kill()
        shutil.rmtree(work, ignore_errors=True)
    for name in ("owner", "friend"):
        print(f"== {name} ==\n{summarize(args.out / f'{name}.txt')}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
