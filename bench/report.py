"""Turns one run's figures into its three outputs: the JSON record, a Markdown table, a PNG plot."""

from __future__ import annotations

from pathlib import Path

from bench.figures import OK, Figure

Results = list[tuple[str, list[Figure]]]  # (section key, its figures), in run order


def to_json(
    machine: dict[str, object],
    options: dict[str, object],
    results: Results,
    details: dict[str, object],
    ceiling: dict[str, float],
) -> dict[str, object]:
    return {
        "machine": machine,
        "options": options,
        "ceiling_mb_s": ceiling,
        "sections": {key: [f.to_json(ceiling) for f in figs] for key, figs in results},
        "details": details,
    }


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _target(f: Figure) -> str:
    if f.target is None:
        return ""
    op, bound = f.target
    text = f"{'≤' if op == '<=' else '≥'} {bound:g}"
    met = f.meets_target()
    if met is None or f.value is None:
        return text
    if met:
        return f"{text} ✓"
    gap = f.value / bound - 1 if bound else 0.0
    return f"{text} ✗ ({gap:+.0%})"


def _ratio(f: Figure, ceiling: dict[str, float]) -> str:
    if f.ceiling_stage is None:
        return ""
    goal = f" (target {f.ratio_target:.0%})" if f.ratio_target is not None else ""
    ratio = f.ratio(ceiling)
    if ratio is None:
        why = "no value yet" if f.value is None else "no ceiling in this run"
        return f"- of {f.ceiling_stage}{goal}: {why}"
    return f"{ratio:.0%} of {f.ceiling_stage}{goal}"


def markdown(
    machine: dict[str, object],
    options: dict[str, object],
    results: Results,
    details: dict[str, object],
    ceiling: dict[str, float],
) -> str:
    git = machine.get("git")
    commit = "?"
    if isinstance(git, dict):
        commit = str(git.get("commit") or "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        if git.get("dirty") is None:
            commit += f" (citizen imported from {git.get('code_root')})"
    mode = ", ".join(k for k in ("pi", "quick") if options.get(k)) or "default"
    lines = [
        f"# citizen bench: {machine.get('date')}, commit {commit}, mode {mode}",
        "",
        f"{machine.get('cpu_model')}, {machine.get('cores_logical')} cores, "
        f"{machine.get('ram_mb')} MB RAM, Python {machine.get('python')}, "
        f"load {machine.get('load_avg_at_start')} at start.",
        "",
    ]
    load = machine.get("load_avg_at_start")
    cores = machine.get("cores_logical")
    if isinstance(load, list) and load and isinstance(cores, int) and load[0] > 0.5 * cores:
        lines += [
            f"**The machine was busy (1-min load {load[0]} on {cores} cores): "
            "timings are inflated; compare with care.**",
            "",
        ]
    lines += [
        "| section | figure | median | unit | runs | vs pipeline ceiling | target | note |",
        "|---|---|---:|---|---:|---|---|---|",
    ]
    for key, figs in results:
        for f in figs:
            value = _num(f.median) if f.status == OK else f.status
            note = f.note.replace("|", "/")
            lines.append(
                f"| {key} | {f.name} | {value} | {f.unit} | {len(f.runs) or ''} | "
                f"{_ratio(f, ceiling)} | {_target(f)} | {note} |"
            )
    for name in ("import_libp2p", "import_daemon"):
        summary = details.get(name)
        if isinstance(summary, dict):
            top = summary.get("top_packages_ms")
            parts = ", ".join(f"{k} {v}" for k, v in top.items()) if isinstance(top, dict) else ""
            lines += [
                "",
                f"`{name}`: {summary.get('modules')} modules, {summary.get('total_ms')} ms; "
                f"by package (ms): {parts}",
            ]
    return "\n".join(lines) + "\n"


def plot(results: Results, ceiling: dict[str, float], title: str, path: Path) -> bool:
    """Throughput per stage (MB/s) and memory (MB), side by side; False if nothing to plot."""
    rates = [f for _, figs in results for f in figs if f.unit == "MB/s" and f.value is not None]
    memory = [f for _, figs in results for f in figs if f.unit == "MB" and f.value is not None]
    if not rates and not memory:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(figs, unit) for figs, unit in ((rates, "MB/s"), (memory, "MB")) if figs]
    height = max(3.0, 0.35 * max(len(figs) for figs, _ in panels) + 1.5)
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), height), squeeze=False)
    for ax, (figs, unit) in zip(axes[0], panels, strict=True):
        names = [f.name for f in figs]
        values = [f.value or 0.0 for f in figs]
        colors = ["tab:blue" if f.name.startswith("pipeline_") else "tab:orange" for f in figs]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        ax.margins(x=0.15)  # room for the value labels
        ax.set_xlabel(unit + (" of plaintext" if unit == "MB/s" else ""))
        for y, v in enumerate(values):
            ax.annotate(_num(v), (v, y), xytext=(3, 0), textcoords="offset points", va="center")
        if unit == "MB/s" and "encode_segment" in ceiling:
            ax.axvline(
                ceiling["encode_segment"],
                color="grey",
                linestyle="--",
                linewidth=1,
                label="ceiling: encode_segment",
            )
            ax.legend(loc="best", fontsize="small")
        if unit == "MB":
            ax.axvline(100, color="grey", linestyle="--", linewidth=1, label="idle target 100 MB")
            ax.legend(loc="best", fontsize="small")
        ax.set_title("throughput per stage" if unit == "MB/s" else "resident memory")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
