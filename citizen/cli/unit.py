"""The systemd unit of `citizen service install`: pure, options in, unit file text out.

The daemon runs as its own system user with only its data dir writable
(`ProtectSystem=strict` + `ReadWritePaths`), the home directories hidden
(read-only instead when the code itself lives under one), no privilege
gain, a private /tmp, and a memory ceiling a 1 GB Raspberry Pi can afford.
It logs to the journal (`citizen logs`) and restarts after a crash.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

UNIT_NAME = "citizen.service"
UNIT_DIR = PurePosixPath("/etc/systemd/system")
WANTS_DIR = UNIT_DIR / "multi-user.target.wants"
DEFAULT_USER = "citizen"
DEFAULT_DATA_DIR = PurePosixPath("/var/lib/citizen")
#: optional: CITIZEN_PASSPHRASE=... when the household key is sealed (mode 0600, root's)
ENV_FILE = PurePosixPath("/etc/citizen/citizen.env")
#: the daemon uses ~100-200 MB; the ceiling stops a leak from taking a 1 GB Pi down with it
MEMORY_HIGH = "384M"
MEMORY_MAX = "512M"
#: where home directories live: hidden from the service unless the code is there
HOMES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))


@dataclass(frozen=True, slots=True)
class UnitOptions:
    """What the unit says.

    Args:
        command: the `citizen` command to start (the script, or python + ``-m citizen``).
        user: the system user the daemon runs as (its group has the same name).
        data_dir: the daemon's data dir (written by the daemon, nothing else is).
        code_paths: where the interpreter and the package live: a home directory
            among them makes `ProtectHome` read-only instead of hiding homes.
    """

    command: tuple[str, ...]
    user: str = DEFAULT_USER
    group: str | None = None
    data_dir: PurePosixPath = DEFAULT_DATA_DIR
    code_paths: tuple[PurePosixPath, ...] = ()

    @property
    def exec_start(self) -> str:
        return shlex.join([*self.command, "--data-dir", str(self.data_dir), "run"])

    @property
    def protect_home(self) -> str:
        """Hide homes ("yes"), unless the code or the data dir is in one: "read-only" then
        (ReadWritePaths still opens the data dir)."""
        paths = (*self.code_paths, self.data_dir)
        under_home = any(p.is_relative_to(h) for p in paths for h in HOMES)
        return "read-only" if under_home else "yes"


def unit_text(o: UnitOptions) -> str:
    """The unit file for `o`."""
    state = ""
    if o.data_dir.parent == PurePosixPath("/var/lib"):
        # systemd makes /var/lib/NAME, owned by the user, before each start
        state = f"StateDirectory={o.data_dir.name}\nStateDirectoryMode=0700\n"
    return f"""\
# Written by `citizen service install`; `citizen service uninstall` removes it.
[Unit]
Description=Citizen Cloud household daemon
Wants=network-online.target
After=network-online.target time-sync.target

[Service]
Type=simple
User={o.user}
Group={o.group or o.user}
Environment=CITIZEN_HOME={o.data_dir}
EnvironmentFile=-{ENV_FILE}
ExecStart={o.exec_start}
Restart=on-failure
RestartSec=5
TimeoutStopSec=20
{state}UMask=0077
StandardOutput=journal
StandardError=journal
SyslogIdentifier=citizen

# Only the data dir is writable; homes hidden; no privilege gain.
ProtectSystem=strict
ReadWritePaths={o.data_dir}
ProtectHome={o.protect_home}
NoNewPrivileges=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

# A 1-2 GB Pi: reclaim above MemoryHigh, stop (and restart) above MemoryMax.
MemoryHigh={MEMORY_HIGH}
MemoryMax={MEMORY_MAX}
TasksMax=256
LimitNOFILE=8192

[Install]
WantedBy=multi-user.target
"""


def exec_start_of(text: str) -> list[str]:
    """The argv of a unit file's ExecStart= line (to start it the way systemd would).

    Raises:
        ValueError: the text has no ExecStart= line.
    """
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line.removeprefix("ExecStart="))
    raise ValueError("no ExecStart= line in the unit")


def value_of(text: str, key: str) -> str | None:
    """The value of the first `key=` line of a unit file, or None."""
    for line in text.splitlines():
        if line.startswith(f"{key}="):
            return line.removeprefix(f"{key}=")
    return None
