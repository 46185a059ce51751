"""What a benchmark section produces: figures, their medians, targets, and the run context.

A `Figure` is one measured quantity with its unit, every run, and the median of
the runs (the number the tables and the plot show). A figure that cannot be
measured yet carries a `status` instead of runs, so the JSON keeps the same
shape run after run and a later section can fill it in.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OK = "ok"
NOT_YET = "not yet available"

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(slots=True)
class Figure:
    """One measured quantity.

    Attributes:
        name: stable key, e.g. `daemon_start_to_ready`; never renamed, so runs compare.
        unit: `s`, `ms`, `MB` (10^6 bytes), `MB/s`, `%` (of one core), `objects/s`, ...
        runs: every measurement; the median of these is the figure's value.
        median: the value; computed from `runs` unless given (a median taken elsewhere).
        status: `ok`, `not yet available`, or `failed: why`.
        note: how it was measured, in a few words.
        target: the issue's goal as (`<=` or `>=`, number) in the figure's own unit.
        ceiling_stage: for a networked throughput, the pipeline stage it is compared to.
        ratio_target: the goal for value / ceiling, e.g. 0.5 for put.
    """

    name: str
    unit: str
    runs: list[float] = field(default_factory=list)
    median: float | None = None
    status: str = OK
    note: str = ""
    target: tuple[str, float] | None = None
    ceiling_stage: str | None = None
    ratio_target: float | None = None

    def __post_init__(self) -> None:
        if self.median is None and self.runs:
            self.median = statistics.median(self.runs)

    @property
    def value(self) -> float | None:
        return self.median if self.status == OK else None

    def meets_target(self) -> bool | None:
        """True/False against `target`, None when there is no target or no value."""
        if self.target is None or self.value is None:
            return None
        op, bound = self.target
        return self.value <= bound if op == "<=" else self.value >= bound

    def ratio(self, ceiling: dict[str, float]) -> float | None:
        """This throughput over the same run's pipeline ceiling stage, if both exist."""
        if self.ceiling_stage is None or self.value is None:
            return None
        base = ceiling.get(self.ceiling_stage)
        return self.value / base if base else None

    def to_json(self, ceiling: dict[str, float]) -> dict[str, object]:
        ratio = self.ratio(ceiling)
        out: dict[str, object] = {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "runs": [_round(r) for r in self.runs],
            "median": _round(self.median),
            "status": self.status,
        }
        if self.note:
            out["note"] = self.note
        if self.target is not None:
            out["target"] = f"{self.target[0]} {self.target[1]:g} {self.unit}"
            out["meets_target"] = self.meets_target()
        if self.ceiling_stage is not None:
            out["ceiling_stage"] = self.ceiling_stage
            out["ratio_to_ceiling"] = None if ratio is None else round(ratio, 3)
            if self.ratio_target is not None:
                out["ratio_target"] = self.ratio_target
        return out


def pending(
    name: str,
    unit: str,
    note: str,
    *,
    target: tuple[str, float] | None = None,
    ceiling_stage: str | None = None,
    ratio_target: float | None = None,
) -> Figure:
    """A figure whose feature is not built yet: the name, unit and goals it will have."""
    return Figure(
        name,
        unit,
        status=NOT_YET,
        note=note,
        target=target,
        ceiling_stage=ceiling_stage,
        ratio_target=ratio_target,
    )


def failed(name: str, unit: str, why: str) -> Figure:
    return Figure(name, unit, status=f"failed: {why}")


def _round(x: float | None) -> float | None:
    if x is None:
        return None
    return float(f"{x:.4g}") if abs(x) < 1000 else round(x, 1)


@dataclass(slots=True)
class SectionResult:
    """What one section returns: its figures and free-form details for the JSON."""

    figures: list[Figure]
    details: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """Shared by every section of one run.

    Attributes:
        quick: shorter runs (fewer repeats, smaller data, 30 s idle window).
        pi: pin every daemon to core 0 (`taskset -c 0`) and the in-process pipeline too.
        workdir: scratch space for data dirs and logs, removed after the run.
        ceiling: pipeline stage -> MB/s, filled by the pipeline section if it ran.
        log: progress lines go here (stderr), never into the results.
    """

    quick: bool
    pi: bool
    workdir: Path
    log: Callable[[str], None]
    ceiling: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Section:
    """A registered benchmark section: `--only KEY` selects it."""

    key: str
    title: str
    run: Callable[[Context], SectionResult]


def machine_info() -> dict[str, object]:
    """What the figures depend on: CPU, cores, RAM, Python, package versions, commit, date."""
    import psutil  # type: ignore[import-untyped]

    model = platform.processor() or platform.machine()
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, val = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), val.strip())
        # x86 names the CPU in "model name"; a Raspberry Pi names the board in "Model".
        model = fields.get("model name") or fields.get("hardware") or fields.get("model") or model
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in ("citizen-cloud", "libp2p", "trio", "pynacl", "zfec", "automerge", "psutil"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu_model": model,
        "machine": platform.machine(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_mb": round(psutil.virtual_memory().total / 1e6),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "git": git_info(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def git_info() -> dict[str, object]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    import citizen

    # The daemons run whichever `citizen` this Python imports (PYTHONPATH may point
    # at an exported commit instead of this checkout); record which.
    code_root = Path(citizen.__file__).resolve().parent.parent
    here = code_root == REPO_ROOT
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "subject": git("log", "-1", "--format=%s") or None,
        # Uncommitted or new files in the package: the commit alone does not say what ran.
        "dirty": bool(git("status", "--porcelain", "--", "citizen", "sdk")) if here else None,
        "code_root": str(code_root),
    }
