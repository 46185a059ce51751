"""`citizen doctor`: one line per check, OK/WARN/FAIL with what to do; exit 1 on a FAIL.

The daemon gathers and judges (`GET /v1/health`); when it does not answer,
the doctor says so as a FAIL and still checks what it can without it:
config.toml, free space in the data dir, and NTP.
"""

from __future__ import annotations

import sys

import click

from citizen.cli.output import Out


def register(cli: click.Group) -> None:
    @cli.command()
    @click.pass_obj
    def doctor(out: Out) -> None:
        """Check clock, disk, reachability, friends, data and config; say what to do."""
        from citizen.api.client import LocalClient
        from citizen.errors import DaemonNotRunningError

        try:
            data = LocalClient(out.data_dir, timeout=60).request("GET", "/v1/health")
            assert isinstance(data, dict)
            checks = [dict(c) for c in data["checks"]]
        except DaemonNotRunningError as exc:
            checks = _without_daemon(out, exc.message)
        failed = any(c["level"] == "fail" for c in checks)
        worst = (
            "fail" if failed else ("warn" if any(c["level"] == "warn" for c in checks) else "ok")
        )
        out.emit({"level": worst, "checks": checks}, render(checks))
        sys.exit(1 if failed else 0)


def _without_daemon(out: Out, why: str) -> list[dict[str, object]]:
    from citizen.config import read_config
    from citizen.errors import ConfigError
    from citizen.health import system
    from citizen.health.checks import DiskFacts, check_clock, check_config, check_disk

    config = None
    try:
        config = read_config(out.data_dir).config
    except ConfigError:
        pass  # check_config below reports it
    verdicts = [
        *check_clock(system.ntp_state()),
        *check_disk(DiskFacts(places=(system.place("data dir", out.data_dir),))),
        *check_config(system.config_facts(out.data_dir, config)),
    ]
    daemon: dict[str, object] = {
        "check": "daemon",
        "level": "fail",
        "message": f"the daemon does not answer: {why}",
        "hint": "Start it: `sudo systemctl start citizen` (as a service) or `citizen run`;"
        " `citizen logs` shows why it stopped.",
    }
    rest: list[dict[str, object]] = [
        {"check": v.check, "level": v.level, "message": v.message, "hint": v.hint} for v in verdicts
    ]
    return [daemon, *rest]


def render(checks: list[dict[str, object]]) -> str:
    """The human text: ``LEVEL check  message``, the hint below each WARN and FAIL."""
    lines = []
    for c in checks:
        lines.append(f"{str(c['level']).upper():<5} {c['check']:<13}{c['message']}")
        if c.get("hint") and c["level"] != "ok":
            lines.append(f"{'':<19}-> {c['hint']}")
    return "\n".join(lines)
