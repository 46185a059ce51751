"""`citizen doctor` against a real daemon process: the lines, and its exit code for cron."""

from __future__ import annotations

import json
from collections.abc import Callable

from citizen.cli.doctor import render
from tests.daemons import Daemon, wait_until


def test_render_puts_the_hint_under_warnings_and_failures() -> None:
    text = render(
        [
            {"check": "clock", "level": "ok", "message": "fine", "hint": "unused"},
            {"check": "disk", "level": "fail", "message": "full", "hint": "free space"},
        ]
    )
    assert text.splitlines() == [
        "OK    clock        fine",
        "FAIL  disk         full",
        "                   -> free space",
    ]


def test_doctor_exit_codes_with_a_daemon_a_broken_config_and_none(
    make_daemon: Callable[[str], Daemon],
) -> None:
    d = make_daemon("home")
    d.init()
    d.start()
    # the console says what to do next, instead of scrolling it away in the log
    wait_until(lambda: "Next (shown until you have a friend):" in d.log(), "the next steps")
    assert "citizen invite" in d.log() and "key backup --sheet" in d.log()
    ok = d.cli("doctor", check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = d.json("doctor")
    assert {c["check"] for c in report["checks"]} >= {
        "clock",
        "disk",
        "reachability",
        "friends",
        "data",
        "config",
    }
    assert report["level"] in ("ok", "warn")
    human = d.cli("doctor", json_out=False).stdout
    assert "WARN  friends      no friends yet" in human
    assert "-> Pair with a friend's household: `citizen invite`" in human

    # a value out of range: the daemon runs on the config it read, the doctor fails
    d.configure(max_circuits=0)
    broken = d.cli("doctor", check=False)
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    failed = [c for c in report["checks"] if c["level"] == "fail"]
    assert [c["check"] for c in failed] == ["config"], failed
    assert "relay.max_circuits" in failed[0]["message"]

    d.stop()
    down = d.cli("doctor", json_out=False, check=False)
    assert down.returncode == 1
    assert down.stdout.startswith("FAIL  daemon       the daemon does not answer")
    assert "FAIL  config" in down.stdout
