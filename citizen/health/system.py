"""Facts about the machine the doctor checks: NTP state, free space, SD card writes, config.

Plain blocking calls (statvfs, /proc, `timedatectl`): the daemon runs them in a
worker thread. The parsers (`parse_diskstats`) are pure and take the text.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from citizen.config import Config, changed_keys, read_config
from citizen.errors import ConfigError
from citizen.health.checks import ClockFacts, ConfigFacts, Place

SECTOR = 512  # /proc/diskstats counts 512-byte sectors, whatever the device's own size
_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What the health route needs from the daemon itself: its data dir and the config it read."""

    data_dir: Path
    config: Config


def ntp_state() -> ClockFacts:
    """Whether NTP keeps the clock synchronised: timedatectl (systemd), else adjtimex(2)."""
    if shutil.which("timedatectl"):
        try:
            done = subprocess.run(
                ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
            return ClockFacts(ntp_synced=done.stdout.strip() == "yes", ntp_source="timedatectl")
    return ClockFacts(ntp_synced=_adjtimex_synced(), ntp_source="adjtimex")


def _adjtimex_synced() -> bool | None:
    name = ctypes.util.find_library("c")
    if name is None or not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: only read
        state = int(libc.adjtimex(timex))
    except (OSError, AttributeError):
        return None
    return None if state < 0 else state != _TIME_ERROR


def place(label: str, path: Path) -> Place:
    """Free and total bytes of the file system `path` is on (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    return Place(label, str(path), st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def parse_diskstats(text: str, uptime_s: float) -> dict[str, float]:
    """SD card (mmcblk) name -> bytes written per day since boot, from /proc/diskstats text.

    Whole cards only (mmcblk0, not its partitions mmcblk0p1); other disks wear
    far slower and are left out.
    """
    days = max(uptime_s, 60.0) / 86400
    out: dict[str, float] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or not fields[2].startswith("mmcblk") or "p" in fields[2][6:]:
            continue
        try:
            written = int(fields[9]) * SECTOR
        except ValueError:
            continue
        out[fields[2]] = written / days
    return out


def sd_writes_per_day() -> dict[str, float]:
    """`parse_diskstats` of this machine; empty where /proc has neither file."""
    try:
        stats = Path("/proc/diskstats").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return parse_diskstats(stats, uptime)


def config_facts(data_dir: Path, running: Config | None) -> ConfigFacts:
    """config.toml now: does it load, its unknown keys, the keys changed since `running`."""
    try:
        report = read_config(data_dir)
    except ConfigError as exc:
        return ConfigFacts(error=exc.message)
    changed = changed_keys(running, report.config) if running is not None else ()
    return ConfigFacts(unknown=report.unknown, changed=changed)
