"""The doctor's checks: pure verdicts (OK, WARN, FAIL, with what to do) over gathered facts.

Nothing here reads a clock, a disk or a service: `citizen.health.system` and
the `/v1/health` route gather `Facts`, and each `check_*` turns its part of
them into `Verdict`s, so a test makes a check fail by handing it the facts of
a broken Pi. One check may give several verdicts (one per friend, per disk).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from citizen.units import size_text

Level = Literal["ok", "warn", "fail"]
LEVELS: tuple[Level, ...] = ("ok", "warn", "fail")

CLOCK_WARN_S = 30.0
CLOCK_FAIL_S = 300.0
FRIEND_OFFLINE_WARN_S = 7 * 24 * 3600
#: free space below which a disk is a FAIL / a WARN (and the same as fractions of its size)
DISK_FAIL_BYTES = 256 * 1024 * 1024
DISK_WARN_BYTES = 1024 * 1024 * 1024
DISK_FAIL_FRACTION = 0.02
DISK_WARN_FRACTION = 0.05
#: a friend's shares here past this fraction of what we offer it: its next puts will be refused
QUOTA_WARN_FRACTION = 0.9
#: SD card writes per day past which the card wears out early: a cheap 32 GB card takes
#: a few hundred full writes, ~10 TB; 20 GiB a day spends that in about a year and a half
SD_WRITES_WARN_PER_DAY = 20 * 1024**3


@dataclass(frozen=True, slots=True)
class Verdict:
    """One line of the doctor: which check, how bad, what is wrong and what to do."""

    check: str
    level: Level
    message: str
    hint: str = ""


# -- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockFacts:
    """Offsets of friends' clocks from ours (seconds, theirs minus ours) and NTP's state.

    `ntp_synced` is None when it cannot be told (no timedatectl, no adjtimex).
    """

    friend_offsets: dict[str, float] = field(default_factory=dict)  # friend name -> offset
    ntp_synced: bool | None = None
    ntp_source: str = ""


@dataclass(frozen=True, slots=True)
class Place:
    """Where something lives on disk: what it is, its path, and the free and total bytes there."""

    label: str
    path: str
    free: int
    total: int


@dataclass(frozen=True, slots=True)
class DiskFacts:
    places: tuple[Place, ...] = ()
    share_used: int = 0  # bytes of friends' shares held here
    share_offered: int = 0  # bytes offered to all friends together
    #: SD card (mmcblk) name -> bytes written per day since boot; other disks are left out
    sd_writes_per_day: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReachFacts:
    offline: bool = False
    state: str = "unknown"  # public | behind_nat | unknown | offline
    friends_online: int = 0
    relay_addrs: tuple[str, ...] = ()
    port_mapping_enabled: bool = False
    port_mapping_addrs: tuple[str, ...] = ()
    port_mapping_error: str | None = None
    punch_upgraded: int = 0
    punch_failed: int = 0
    #: distinct addresses friends saw our connections come from, and how many friends looked
    observed_addrs: tuple[str, ...] = ()
    checked_by: int = 0


@dataclass(frozen=True, slots=True)
class FriendFact:
    name: str
    online: bool
    last_seen: int | None  # Unix time, None: never
    used: int = 0  # bytes of its shares held here
    quota: int = 0  # bytes we offer it
    clock_offset: float | None = None  # its clock minus ours (s), from its last hello
    refused_for_quota: bool = False  # it lately refused one of our shares: its offer is used up


@dataclass(frozen=True, slots=True)
class FriendsFacts:
    known: bool = True  # False: the daemon runs offline, friends are not watched
    friends: tuple[FriendFact, ...] = ()


@dataclass(frozen=True, slots=True)
class DataFacts:
    objects: int = 0
    under_protected: tuple[str, ...] = ()  # object names short of their target protection
    bad_shares: dict[str, int] = field(default_factory=dict)  # object name -> bad shares
    backup_enabled: bool = False  # this device holds the household key, so it backs up
    backup_version: int | None = None
    backup_holders: int = 0  # friends holding the latest version
    backup_last_push: int | None = None  # Unix time of the last push that reached a friend
    folders_under_protected: tuple[str, ...] = ()  # folders with files short of the target
    folders_paused: dict[str, str] = field(default_factory=dict)  # folder -> why it is paused


@dataclass(frozen=True, slots=True)
class ConfigFacts:
    error: str = ""  # config.toml does not load: the daemon will not start
    unknown: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # keys changed since the daemon started


@dataclass(frozen=True, slots=True)
class Facts:
    now: int
    clock: ClockFacts = ClockFacts()
    disk: DiskFacts = DiskFacts()
    reach: ReachFacts = ReachFacts()
    friends: FriendsFacts = FriendsFacts()
    data: DataFacts = DataFacts()
    config: ConfigFacts = ConfigFacts()


# -- the checks -------------------------------------------------------------------------------


def check_clock(c: ClockFacts) -> list[Verdict]:
    """Our clock against friends' (the median of their offsets) and NTP."""
    out: list[Verdict] = []
    fix = "Check the time zone and NTP: `timedatectl status`; `sudo timedatectl set-ntp true`."
    if c.friend_offsets:
        median = statistics.median(c.friend_offsets.values())
        off = f"{abs(median):.0f} s {'behind' if median > 0 else 'ahead of'}"
        text = f"this clock is {off} the median of {len(c.friend_offsets)} friend(s)"
        if abs(median) >= CLOCK_FAIL_S:
            out.append(Verdict("clock", "fail", text + ": signatures and expiries go wrong", fix))
        elif abs(median) >= CLOCK_WARN_S:
            out.append(Verdict("clock", "warn", text, fix))
        else:
            out.append(Verdict("clock", "ok", f"within {CLOCK_WARN_S:.0f} s of friends' clocks"))
    if c.ntp_synced is False:
        out.append(
            Verdict(
                "clock",
                "warn",
                f"the clock is not synchronised by NTP ({c.ntp_source or 'kernel'})",
                "A Pi has no battery clock: enable NTP (`sudo timedatectl set-ntp true`)"
                " and check it can reach the internet.",
            )
        )
    elif c.ntp_synced is True:
        out.append(Verdict("clock", "ok", f"synchronised by NTP ({c.ntp_source})"))
    if not out:
        out.append(Verdict("clock", "ok", "no friend online to compare with; NTP state unknown"))
    return out


def check_disk(
    d: DiskFacts, *, fail_below: int = DISK_FAIL_BYTES, warn_below: int = DISK_WARN_BYTES
) -> list[Verdict]:
    """Free space where things live, what friends may still fill, and SD card wear.

    A place FAILs under `fail_below` free bytes (or 2 % free), WARNs under
    `warn_below` (or 5 %).
    """
    out: list[Verdict] = []
    for p in d.places:
        text = f"{p.label} ({p.path}): {size_text(p.free)} free of {size_text(p.total)}"
        fraction = p.free / p.total if p.total else 0.0
        if p.free < fail_below or fraction < DISK_FAIL_FRACTION:
            out.append(
                Verdict(
                    "disk",
                    "fail",
                    text + ": writes will fail and data can be lost",
                    "Free space now (delete files, `citizen evict OBJ`), lower what you offer"
                    " friends (`citizen friends offer FRIEND MIB`) or move to a bigger disk.",
                )
            )
        elif p.free < warn_below or fraction < DISK_WARN_FRACTION:
            out.append(Verdict("disk", "warn", text, "Free some space before the disk fills up."))
        else:
            out.append(Verdict("disk", "ok", text))
    share_free = next((p.free for p in d.places if p.label == "share store"), None)
    still_offered = max(0, d.share_offered - d.share_used)
    share_text = (
        f"friends' shares use {size_text(d.share_used)} of {size_text(d.share_offered)} offered"
    )
    if share_free is not None and still_offered > share_free:
        out.append(
            Verdict(
                "disk",
                "warn",
                f"{share_text}; the {size_text(still_offered)} still offered is more than the"
                f" {size_text(share_free)} free",
                "Offer less (`citizen friends offer FRIEND MIB`, or [storage] offer_mib)"
                " or add disk space, so friends' puts do not fail on a full disk.",
            )
        )
    elif d.share_offered:
        out.append(Verdict("disk", "ok", share_text))
    for device, per_day in sorted(d.sd_writes_per_day.items()):
        text = f"SD card {device}: {size_text(per_day)} written per day since boot"
        if per_day > SD_WRITES_WARN_PER_DAY:
            out.append(
                Verdict(
                    "disk",
                    "warn",
                    text + ": at this rate a cheap card wears out early",
                    "Keep the data dir on a USB disk or SSD (`citizen --data-dir`), and keep"
                    " backups of the key (`citizen key backup`).",
                )
            )
        else:
            out.append(Verdict("disk", "ok", text))
    return out


def check_reachability(r: ReachFacts) -> list[Verdict]:
    """How friends reach us: public, behind a NAT (relayed), port mapping, hole punching."""
    if r.offline:
        return [
            Verdict(
                "reachability",
                "warn",
                "the daemon runs --offline: friends cannot reach it",
                "Restart it without --offline.",
            )
        ]
    out: list[Verdict] = []
    if r.state == "public":
        out.append(Verdict("reachability", "ok", "public: friends dial this device directly"))
    elif r.state == "behind_nat" and r.relay_addrs:
        out.append(
            Verdict(
                "reachability",
                "warn",
                f"behind a NAT, reached through {len(r.relay_addrs)} friend's relay(s) only",
                "Transfers are slower through a relay: enable UPnP or NAT-PMP on the router,"
                " or forward the listen port (4747/tcp) to this device.",
            )
        )
    elif r.state == "behind_nat":
        out.append(
            Verdict(
                "reachability",
                "fail" if r.friends_online == 0 else "warn",
                "behind a NAT and relayed by no friend: friends cannot dial this device",
                "Pair with a friend whose Pi is reachable (it relays for you), enable UPnP"
                " on the router, or forward the listen port (4747/tcp) to this device.",
            )
        )
    else:
        out.append(
            Verdict("reachability", "ok", "not known yet: no friend has checked how it reaches us")
        )
    if r.port_mapping_enabled and r.port_mapping_addrs:
        mapped = ", ".join(r.port_mapping_addrs)
        out.append(Verdict("reachability", "ok", f"the router forwards {mapped}"))
    elif r.port_mapping_enabled and r.port_mapping_error and r.state != "public":
        out.append(
            Verdict(
                "reachability",
                "warn",
                f"no port mapping at the router: {r.port_mapping_error}",
                "Enable UPnP IGD or NAT-PMP on the router, or forward the port by hand.",
            )
        )
    mapping = nat_mapping(r.observed_addrs, r.checked_by) if r.state == "behind_nat" else None
    if mapping == "one port":
        out.append(
            Verdict(
                "reachability",
                "ok",
                f"the NAT keeps one port for every friend ({r.observed_addrs[0]},"
                f" seen by {r.checked_by}): hole punching can make direct links",
            )
        )
    elif mapping == "port per friend":
        out.append(
            Verdict(
                "reachability",
                "warn",
                f"the NAT gives each friend another port ({', '.join(r.observed_addrs)}):"
                " hole punching cannot work, transfers go through relays",
                "Enable UPnP or NAT-PMP on the router, or forward the listen port"
                " (4747/tcp) to this device.",
            )
        )
    if r.punch_failed and not r.punch_upgraded:
        out.append(
            Verdict(
                "reachability",
                "warn",
                f"hole punching failed {r.punch_failed} time(s) and never succeeded",
                "Both NATs are strict (symmetric); a port mapping or forward fixes it.",
            )
        )
    elif r.punch_upgraded:
        out.append(
            Verdict("reachability", "ok", f"hole punching made {r.punch_upgraded} direct link(s)")
        )
    return out


def nat_mapping(observed: tuple[str, ...], checked_by: int) -> str | None:
    """The NAT's kind as friends see it: "one port" (endpoint-independent mapping),
    "port per friend" (symmetric: one IP, a new port per destination), or None (unknown).

    `observed` holds the distinct addresses friends saw us come from.
    """
    if checked_by >= 2 and len(observed) == 1:
        return "one port"
    ips = {_ip_of(a) for a in observed}
    if len(observed) >= 2 and len(ips) == 1 and None not in ips:
        return "port per friend"
    return None


def _ip_of(addr: str) -> str | None:
    parts = addr.split("/")
    return parts[2] if len(parts) > 2 and parts[1] in ("ip4", "ip6") else None


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.0f} days"


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(0, seconds) / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{_days(seconds)} ago"


def check_friends(f: FriendsFacts, now: int) -> list[Verdict]:
    """Friends offline too long, and friends about to run out of what we offer them."""
    if not f.known:
        return [Verdict("friends", "warn", "the daemon runs --offline", "Restart it without.")]
    if not f.friends:
        return [
            Verdict(
                "friends",
                "warn",
                "no friends yet: nothing is copied off this device",
                "Pair with a friend's household: `citizen invite` (they run `citizen accept`).",
            )
        ]
    out: list[Verdict] = []
    offsets = [x.clock_offset for x in f.friends if x.online and x.clock_offset is not None]
    median = statistics.median(offsets) if offsets else 0.0
    for friend in f.friends:
        skew = None if friend.clock_offset is None else friend.clock_offset - median
        if friend.online and skew is not None and abs(skew) >= CLOCK_WARN_S:
            out.append(
                Verdict(
                    "friends",
                    "warn",
                    f"{friend.name}'s clock is {abs(skew):.0f} s"
                    f" {'ahead of' if skew > 0 else 'behind'} the others'",
                    f"Ask {friend.name} to run `citizen doctor`: a wrong clock breaks"
                    " expiries and signatures between you.",
                )
            )
        if not friend.online:
            since = now - friend.last_seen if friend.last_seen else None
            if since is None or since > FRIEND_OFFLINE_WARN_S:
                when = "never seen online" if since is None else f"offline for {_days(since)}"
                out.append(
                    Verdict(
                        "friends",
                        "warn",
                        f"{friend.name}: {when}; the shares they hold may be lost",
                        f"Ask {friend.name} whether their Pi is on; `citizen repair` moves"
                        f" shares elsewhere, `citizen friends remove {friend.name}` if they left.",
                    )
                )
        if friend.refused_for_quota:
            out.append(
                Verdict(
                    "friends",
                    "warn",
                    f"{friend.name} refused a share lately: the storage they offer you is used up",
                    f"Ask {friend.name} to offer more (`citizen friends offer` on their side),"
                    " or pair with another friend (`citizen invite`).",
                )
            )
        if friend.quota and friend.used >= QUOTA_WARN_FRACTION * friend.quota:
            out.append(
                Verdict(
                    "friends",
                    "warn",
                    f"{friend.name} uses {size_text(friend.used)} of the {size_text(friend.quota)}"
                    " offered to them: their next puts will be refused",
                    f"Offer more if the disk allows: `citizen friends offer {friend.name} MIB`.",
                )
            )
    online = sum(1 for friend in f.friends if friend.online)
    if not out:
        out.append(Verdict("friends", "ok", f"{online} of {len(f.friends)} friend(s) online"))
    return out


def check_data(d: DataFacts, now: int) -> list[Verdict]:
    """Objects short of their protection, bad shares, and the household backup at friends."""
    out: list[Verdict] = []
    if d.under_protected:
        names = ", ".join(d.under_protected[:5]) + (" ..." if len(d.under_protected) > 5 else "")
        out.append(
            Verdict(
                "data",
                "warn",
                f"{len(d.under_protected)} of {d.objects} object(s) under their target"
                f" protection: {names}",
                "Keep friends online; `citizen repair` places the missing shares, and more"
                " friends (`citizen invite`) raise the protection.",
            )
        )
    elif d.objects:
        out.append(Verdict("data", "ok", f"{d.objects} object(s) at their target protection"))
    if d.folders_under_protected:
        out.append(
            Verdict(
                "data",
                "warn",
                "folder(s) with files under their target protection:"
                f" {', '.join(d.folders_under_protected)}",
                "Keep friends online; files reach their protection as friends take their shares.",
            )
        )
    for name, why in sorted(d.folders_paused.items()):
        out.append(
            Verdict(
                "data",
                "warn",
                f"folder {name} is paused{': ' + why if why else ''}; its changes are not kept",
                f"Fix what the message says, then `citizen folder resume {name}`.",
            )
        )
    if d.bad_shares:
        total = sum(d.bad_shares.values())
        out.append(
            Verdict(
                "data",
                "warn",
                f"{total} lost or damaged share(s) in {len(d.bad_shares)} object(s), not repaired",
                "Run `citizen repair`.",
            )
        )
    if d.backup_enabled:
        sent = (
            f"; one last reached a friend {_ago(now - d.backup_last_push)}"
            if d.backup_last_push is not None
            else ""
        )
        if d.backup_version is None or d.backup_holders == 0:
            out.append(
                Verdict(
                    "data",
                    "warn",
                    f"no friend holds the latest household backup{sent}",
                    "Keep a friend online, then `citizen backup --now`; without it a lost"
                    " Pi cannot be rebuilt from the recovery phrase alone.",
                )
            )
        else:
            out.append(
                Verdict(
                    "data",
                    "ok",
                    f"household backup version {d.backup_version} held by"
                    f" {d.backup_holders} friend(s){sent}",
                )
            )
    if not out:
        out.append(Verdict("data", "ok", "no objects stored yet"))
    return out


def check_config(c: ConfigFacts) -> list[Verdict]:
    """config.toml: loads, has no unknown keys, and what a restart would change."""
    if c.error:
        return [
            Verdict(
                "config",
                "fail",
                f"config.toml does not load: {c.error}",
                "Fix it; the comments in it show each default.",
            )
        ]
    out: list[Verdict] = []
    if c.unknown:
        out.append(
            Verdict(
                "config",
                "warn",
                f"config.toml has unknown key(s), ignored: {', '.join(c.unknown)}",
                "A typo? Compare with the commented defaults in config.toml.",
            )
        )
    if c.changed:
        out.append(
            Verdict(
                "config",
                "warn",
                f"changed since the daemon started, not applied yet: {', '.join(c.changed)}",
                "Restart the daemon: `sudo systemctl restart citizen` (or stop and"
                " `citizen run` again).",
            )
        )
    if not out:
        out.append(Verdict("config", "ok", "config.toml is valid"))
    return out


def run_checks(facts: Facts) -> list[Verdict]:
    """Every check's verdicts, in the doctor's order."""
    return [
        *check_clock(facts.clock),
        *check_disk(facts.disk),
        *check_reachability(facts.reach),
        *check_friends(facts.friends, facts.now),
        *check_data(facts.data, facts.now),
        *check_config(facts.config),
    ]


def worst(verdicts: Sequence[Verdict]) -> Level:
    """The worst level among `verdicts` ("ok" for none)."""
    return max((v.level for v in verdicts), key=LEVELS.index, default="ok")


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """What `citizen doctor` exits with: 1 on any FAIL, else 0 (a WARN alone keeps cron quiet)."""
    return 1 if worst(verdicts) == "fail" else 0
