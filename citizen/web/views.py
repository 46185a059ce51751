"""What the pages show, from the services' records: protection, problems, sizes, times (pure)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from citizen import units


@dataclass(frozen=True, slots=True)
class Protection:
    """The household's files at a glance, from the objects service's listing of each.

    `survive` is the number of friend households every file can lose at once
    and still be rebuilt: None when there is no file or some file none at all.
    """

    objects: int
    survive: int | None
    protected: int
    spreading: int
    local_only: int


def protection(objects: Iterable[Mapping[str, object]]) -> Protection:
    counts = {"protected": 0, "spreading": 0, "local only": 0}
    total = 0
    worst: int | None = None
    for o in objects:
        total += 1
        state = o.get("protection")
        if isinstance(state, str) and state in counts:
            counts[state] += 1
        survives = o.get("survives")
        n = survives if isinstance(survives, int) else -1
        worst = n if worst is None else min(worst, n)
    return Protection(
        objects=total,
        survive=None if worst is None or worst < 0 else worst,
        protected=counts["protected"],
        spreading=counts["spreading"],
        local_only=counts["local only"],
    )


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the household should know, and what to do about it."""

    what: str
    todo: str


def problems(
    status: Mapping[str, object], friends: Sequence[Mapping[str, object]], prot: Protection
) -> list[Problem]:
    """The problems the home page lists, most urgent first."""
    found: list[Problem] = []
    if status.get("offline"):
        found.append(Problem("The daemon runs offline.", "Restart it without --offline."))
    if not friends:
        found.append(
            Problem(
                "No friend households yet: files are kept on this device only.",
                "Invite a friend's household (Invite page) and let them scan the QR code.",
            )
        )
    elif not any(f.get("online") for f in friends):
        found.append(
            Problem("No friend is online.", "Check this device's network; ask a friend to check.")
        )
    if prot.local_only:
        found.append(
            Problem(
                f"{prot.local_only} file(s) exist on this device only.",
                "Keep friends online; the daemon places their shares when friends come back.",
            )
        )
    if prot.spreading:
        found.append(
            Problem(
                f"{prot.spreading} file(s) are still spreading to friends.",
                "Their shares are placed while friends are online (or run `citizen repair`).",
            )
        )
    if status.get("reachability") == "behind_nat" and not status.get("relay_addrs"):
        found.append(
            Problem(
                "This device is behind a NAT and holds no relay at a friend.",
                "Friends outside can reach it once a reachable friend relays for it.",
            )
        )
    return found


def size_text(n: object) -> str:
    if not isinstance(n, int):
        return "-"
    return units.size_text(n)


def ago_text(ts: object, now: float | None = None) -> str:
    if not isinstance(ts, int):
        return "never"
    seconds = int((now if now is not None else time.time()) - ts)
    if seconds < 120:
        return "just now" if seconds < 10 else f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def connection_text(friend: Mapping[str, object]) -> str:
    devices = friend.get("devices")
    kinds = {
        d.get("connection")
        for d in (devices if isinstance(devices, list | tuple) else ())
        if isinstance(d, dict) and d.get("online")
    }
    if "direct" in kinds:
        return "direct"
    if "relayed" in kinds:
        return "relayed"
    return "-"
