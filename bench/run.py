"""Benchmarks of the replication hot path: one command, one JSON + Markdown + PNG per run.

Usage::

    python bench/run.py [--pi] [--quick] [--only startup,idle] [--out bench/results] [--baseline]

Each section is a function `(Context) -> SectionResult` registered in
`SECTIONS`; they run in that order (the pipeline first: its stages are the
ceiling the networked figures are divided by). Progress goes to stderr, the
Markdown table to stdout. Nothing here asserts a timing: figures are reported,
targets are shown with their gap.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
# `python bench/run.py` puts bench/ first on sys.path; import its modules as `bench.*`
# instead. The repo root goes last so that PYTHONPATH still decides which `citizen`
# the harness and the daemons import (e.g. an exported commit).
if sys.path and Path(sys.path[0] or ".").resolve() == _BENCH:
    del sys.path[0]
if str(_BENCH.parent) not in sys.path:
    sys.path.append(str(_BENCH.parent))

from bench import docs, idle, nat, objects, report, sections  # noqa: E402
from bench.figures import Context, Section, SectionResult, failed, machine_info  # noqa: E402

SECTIONS: list[Section] = [
    Section("pipeline", "pipeline ceiling (in-process, one core)", sections.pipeline),
    Section("startup", "daemon start-up and `citizen status`", sections.startup),
    Section("footprint", "fresh daemon RSS and import cost", sections.footprint),
    Section("idle", "hub with 20 friends, idle", idle.idle),
    Section("docs", "doc replication between two daemons", docs.docs),
    Section("objects", "object put/get through 1 + 5 daemons", objects.objects),
    Section("small_objects", "4 KiB objects one after another", objects.small_objects),
    Section("nat", "homes behind NATs: hole punch, objects direct vs relayed", nat.nat),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    keys = [s.key for s in SECTIONS]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--pi", action="store_true", help="pin every daemon (and the pipeline) to core 0"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats, less data, 30 s idle window"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEYS",
        help=f"comma-separated sections to run (repeatable): {', '.join(keys)}",
    )
    parser.add_argument(
        "--out", type=Path, default=_BENCH / "results", help="directory for the outputs"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="also write baseline.json and baseline.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the daemons' data dirs and logs")
    args = parser.parse_args(argv)
    only = {k.strip() for item in args.only for k in item.split(",") if k.strip()}
    unknown = only - set(keys)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {keys}")
    args.only = only
    return args


def run_section(section: Section, ctx: Context) -> tuple[SectionResult, float, bool]:
    began = time.perf_counter()
    try:
        result = section.run(ctx)
        ok = True
    except Exception as exc:
        ctx.log(f"{section.key}: FAILED\n{traceback.format_exc()}")
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = f"{type(exc).__name__}: {' ... '.join(dict.fromkeys([*lines[:1], *lines[-1:]]))}"
        result = SectionResult([failed(f"{section.key}_section", "", why)])
        ok = False
    return result, time.perf_counter() - began, ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def log(line: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    chosen = [s for s in SECTIONS if not args.only or s.key in args.only]
    machine = machine_info()
    options: dict[str, object] = {
        "pi": args.pi,
        "quick": args.quick,
        "sections": [s.key for s in chosen],
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
    }
    workdir = Path(tempfile.mkdtemp(prefix="citizen-bench-"))
    args.out = args.out.resolve()
    # Child `python -c` probes put the cwd first on sys.path; keep the checkout out of it
    # so that PYTHONPATH alone decides which `citizen` is measured.
    os.chdir(workdir)
    ctx = Context(quick=args.quick, pi=args.pi, workdir=workdir, log=log)
    results: report.Results = []
    details: dict[str, object] = {}
    timings: dict[str, float] = {}
    all_ok = True
    try:
        for section in chosen:
            log(f"{section.key}: {section.title}")
            result, seconds, ok = run_section(section, ctx)
            all_ok &= ok
            timings[section.key] = round(seconds, 1)
            results.append((section.key, result.figures))
            details.update(result.details)
            log(f"{section.key}: done in {seconds:.1f} s")
    finally:
        if args.keep:
            log(f"data dirs and logs kept in {workdir}")
        else:
            os.chdir(_BENCH)
            shutil.rmtree(workdir, ignore_errors=True)
    details["section_seconds"] = timings
    details["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    record = report.to_json(machine, options, results, details, ctx.ceiling)
    table = report.markdown(machine, options, results, details, ctx.ceiling)
    sys.stdout.write(table)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = _stem(machine, args.pi, args.quick)
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(table)
    written = [f"{stem}.json", f"{stem}.md"]
    title = f"citizen bench {stem}"
    try:
        if report.plot(results, ctx.ceiling, title, args.out / f"{stem}.png"):
            written.append(f"{stem}.png")
    except ImportError:
        log("no plot: matplotlib is missing (pip install -e '.[bench]')")
    if args.baseline and not all_ok:
        log("baseline NOT written: a section failed (see above)")
    elif args.baseline:
        (args.out / "baseline.json").write_text(json.dumps(record, indent=2) + "\n")
        (args.out / "baseline.md").write_text(table)
        written += ["baseline.json", "baseline.md"]
    log(f"wrote {', '.join(written)} in {args.out}")
    return 0 if all_ok else 1


def _stem(machine: dict[str, object], pi: bool, quick: bool) -> str:
    git = machine.get("git")
    commit = str(git.get("commit") or "nogit")[:7] if isinstance(git, dict) else "nogit"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return "-".join([now, commit, *(["pi"] if pi else []), *(["quick"] if quick else [])])


if __name__ == "__main__":
    raise SystemExit(main())
