"""Sections for features still being built (objects), as named placeholders.

Each function already returns every figure it will measure, with its final
name, unit, target and ceiling stage, but `status = "not yet available"`. To
fill one in, start the daemons (see `bench/idle.py` for a cluster paired
through the CLI), drive the commands listed in its docstring, and build the
figures with runs instead of `pending(...)`. The JSON shape, the Markdown
table, the ratio to the pipeline ceiling and the plot need no change: any
`MB/s` figure with a value is plotted, and `ceiling_stage` gives its ratio.
"""

from __future__ import annotations

from bench.figures import Context, Figure, SectionResult, pending

SIZES_MIB = (1, 64, 512)
WHY = "needs `citizen put/get`, being built"


def objects(ctx: Context) -> SectionResult:
    """Object put and get through real daemons: 1 owner + 5 friends, 3-of-5.

    Will drive, per size in 1, 64, 512 MiB (a random file written once):
      - `citizen put FILE` on the owner -> the object ID + read capability;
        wall time -> MB/s of plaintext; psutil CPU s of the owner and of all six
        daemons -> CPU s per GiB; peak RSS of each daemon sampled during the put.
      - stop two friends (SIGTERM), then `citizen get CAP -o OUT` on a fresh
        device of the owner household (no local copy) -> MB/s, CPU s per GiB;
        compare OUT with FILE byte for byte.
    The put is compared with the `encode_segment` ceiling (target 50%), the get
    with `decode_segment_worst` (two shares rebuilt, target 70%).
    """
    figures: list[Figure] = []
    for mib in SIZES_MIB:
        figures += [
            pending(
                f"object_put_{mib}MiB",
                "MB/s",
                WHY,
                ceiling_stage="encode_segment",
                ratio_target=0.5,
            ),
            pending(
                f"object_get_{mib}MiB",
                "MB/s",
                f"{WHY}; 2 of 5 friends stopped",
                ceiling_stage="decode_segment_worst",
                ratio_target=0.7,
            ),
            pending(f"object_put_{mib}MiB_cpu_all", "CPU s/GiB", WHY),
            pending(f"object_put_{mib}MiB_cpu_owner", "CPU s/GiB", WHY),
            pending(f"object_get_{mib}MiB_cpu_all", "CPU s/GiB", WHY),
            pending(f"object_get_{mib}MiB_cpu_owner", "CPU s/GiB", WHY),
            pending(
                f"object_put_{mib}MiB_owner_rss_peak",
                "MB",
                WHY,
                target=("<=", 200.0) if mib == 512 else None,
            ),
            pending(f"object_put_{mib}MiB_friend_rss_peak", "MB", WHY),
        ]
    return SectionResult(figures)


def small_objects(ctx: Context) -> SectionResult:
    """1,000 objects of 4 KiB put one after another through the SDK.

    Will drive `citizen_sdk.connect()` on the owner and `put(bytes)` 1,000 times
    in a loop (the CLI would measure process start, not the daemon), with the
    same 1 + 5 cluster as `objects`; objects/s = 1000 / wall.
    """
    return SectionResult(
        [pending("small_objects_4KiB", "objects/s", WHY + " (SDK)", target=(">=", 200.0))]
    )
