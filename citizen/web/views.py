"""What the pages show, from the services' records: protection, problems, sizes, times (pure)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def survives(placement: Mapping[str, str], bad: Mapping[str, Sequence[int]], k: int) -> int:
    """How many friend households an object can lose and still be rebuilt (-1: not even now).

    `placement` maps share number -> holder household; `bad` lists shares a
    holder lost. The worst case loses the holders of the most shares first.
    """
    per_holder: dict[str, int] = {}
    for number, holder in placement.items():
        if int(number) not in bad.get(holder, ()):
            per_holder[holder] = per_holder.get(holder, 0) + 1
    counts = sorted(per_holder.values(), reverse=True)
    left = sum(counts)
    if left < k:
        return -1
    lost = 0
    for count in counts:
        if left - count < k:
            break
        left -= count
        lost += 1
    return lost


@dataclass(frozen=True, slots=True)
class Protection:
    """The household's files at a glance: how many, and the friends they can all lose."""

    objects: int
    survive: int | None  # None: no objects
    under_replicated: int
    local_only: int


def protection(objects: Iterable[Mapping[str, object]]) -> Protection:
    total = under = local_only = 0
    worst: int | None = None
    for o in objects:
        total += 1
        placement = o.get("placement")
        bad = o.get("bad")
        k = o.get("k")
        n = survives(
            placement if isinstance(placement, dict) else {},
            bad if isinstance(bad, dict) else {},
            k if isinstance(k, int) else 1,
        )
        if n < 0:
            local_only += 1
        if o.get("state") != "complete":
            under += 1
        worst = n if worst is None else min(worst, n)
    return Protection(total, worst, under, local_only)


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
    if prot.under_replicated:
        found.append(
            Problem(
                f"{prot.under_replicated} file(s) are not fully protected yet.",
                "Repair runs by itself while friends are online (or run `citizen repair`).",
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
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


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
