"""Real daemons as separate processes on 127.0.0.1, driven through the CLI like a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from citizen.testing.datadir import configure, keep_off_real_network

READY_TIMEOUT = 60.0


class Daemon:
    """One household device: a data dir, the `citizen` CLI, and a `citizen run` process."""

    #: Ask the home router for port mappings. Only ever set for a daemon inside a
    #: test's own network namespaces (tests/e2e/test_portmap.py), never on the host.
    allow_port_mapping = False

    def __init__(self, data_dir: Path, name: str) -> None:
        self.data_dir = data_dir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("CITIZEN_PASSPHRASE", None)
        env["CITIZEN_HOME"] = str(self.data_dir)
        return env

    def cli(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        json_out: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "citizen", *(["--json"] if json_out else []), *args]
        result = subprocess.run(
            cmd,
            env=self.env() | (env or {}),
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.cli(*args, input=input, env=env).stdout)

    def init(self, *extra: str) -> Any:
        created = self.json("init", "--name", self.name, "--device-name", f"{self.name}-pi", *extra)
        self.keep_off_real_network()
        return created

    def keep_off_real_network(self) -> None:
        """Tests never multicast on, nor ask the router of, the machine's real network.

        mDNS off, and port mapping (UPnP/NAT-PMP) off unless `allow_port_mapping`
        (see `citizen.testing.datadir.keep_off_real_network`).
        """
        keep_off_real_network(self.data_dir, port_mapping=self.allow_port_mapping)

    no_mdns = keep_off_real_network  # the old name

    def configure(self, **values: object) -> None:
        """Set keys that appear once in config.toml (`k=1`, `circuit_mib=2`, `keepalive_s=2`)."""
        configure(self.data_dir, **values)

    def start(self, *extra: str, port: int = 0) -> None:
        assert self.proc is None
        self.keep_off_real_network()
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "citizen",
                "run",
                "--listen",
                f"/ip4/127.0.0.1/tcp/{port}",
                *extra,
            ],
            env=self.env(),
            stdout=log,
            stderr=log,
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon {self.name} exited early:\n{self.log()}")
            if self.cli("status", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"daemon {self.name} not ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self) -> Any:
        return self.json("status")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def wait_until(check: Any, what: str, timeout: float = 90.0) -> Any:
    """Poll `check()` until it returns something truthy; fail naming `what` after `timeout`.

    This waits for an event (a friend coming online), it does not measure time:
    the timeout only bounds a hung test.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def started(make: Any, *names: str) -> list[Daemon]:
    """Make, init and start one daemon per name (with the `make_daemon` fixture)."""
    out = []
    for name in names:
        d = make(name)
        d.init()
        d.start()
        out.append(d)
    return out


def pair(inviter: Daemon, acceptor: Daemon) -> Any:
    """Pair two running daemons through the CLI; returns the acceptor's result."""
    code = inviter.json("invite")["code"]
    return acceptor.json("accept", code)


def friend_named(d: Daemon, name: str) -> Any:
    for f in d.json("friends"):
        if f["name"] == name:
            return f
    return None
