"""Daemons and CLI calls as OS processes for the benchmarks: init, start, wait ready, stop.

The same idea as `tests/daemons.py` (real `citizen run` processes on 127.0.0.1,
driven through the CLI), plus what a benchmark needs on top: optional pinning
to one core with `taskset -c 0` (`--pi`), readiness polled in-process on the
Unix socket every 10 ms (so polling costs neither a process start nor much
resolution), and the OS process handle for RSS and CPU accounting.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from citizen.api.client import LocalClient
from citizen.errors import CitizenError

READY_TIMEOUT = 90.0
POLL = 0.01


def citizen_cmd() -> list[str]:
    """The `citizen` a user types: the console script next to this Python, else `-m citizen`."""
    script = Path(sys.executable).parent / "citizen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "citizen"]


def pin_prefix(pin: bool) -> list[str]:
    if not pin:
        return []
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("--pi needs `taskset` (util-linux) to pin daemons to one core")
    return [taskset, "-c", "0"]


def api_status(data_dir: Path, timeout: float = 2.0) -> dict[str, object] | None:
    """The daemon's status over its socket, or None while it is not answering yet."""
    try:
        data = LocalClient(data_dir, timeout=timeout).request("GET", "/v1/status")
    except (CitizenError, OSError, http.client.HTTPException, ValueError):
        return None
    return data if isinstance(data, dict) else None


class BenchDaemon:
    """One household device: a data dir, the CLI, and a `citizen run` process."""

    def __init__(self, root: Path, name: str, pin: bool = False) -> None:
        self.name = name
        self.data_dir = root / name
        self.log_path = root / f"{name}.log"
        self.pin = pin
        self.proc: subprocess.Popen[bytes] | None = None
        self.launched_at = 0.0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("CITIZEN_PASSPHRASE", None)
        env["CITIZEN_HOME"] = str(self.data_dir)
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `citizen --json ARGS` for this data dir (never pinned: it is the user's shell)."""
        result = subprocess.run(
            [*citizen_cmd(), "--json", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{self.name}: citizen {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.cli(*args).stdout)

    def init(self) -> None:
        self.json("init", "--name", self.name, "--device-name", f"{self.name}-pi")
        # benchmarks never multicast on, nor ask the router of, the machine's real
        # network: mDNS and port mapping (UPnP/NAT-PMP) off
        config = self.data_dir / "config.toml"
        text = config.read_text().replace("mdns = true", "mdns = false")
        text = text.replace("port_mapping = true", "port_mapping = false")
        assert "port_mapping = false" in text, "config.toml lost its port_mapping key"
        config.write_text(text)

    def launch(self, env: dict[str, str] | None = None) -> None:
        """Start `citizen run` without waiting; `wait_ready` measures from here."""
        assert self.proc is None, f"{self.name} already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process owns it
        self.launched_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [*pin_prefix(self.pin), *citizen_cmd(), "run", "--listen", "/ip4/127.0.0.1/tcp/0"],
            env=self.env() | (env or {}),
            stdout=log,
            stderr=log,
        )
        log.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Wait until the daemon answers status with its listen addresses; seconds since launch."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon {self.name} exited early:\n{self.log_tail()}")
            status = api_status(self.data_dir)
            if status is not None and (status.get("offline") or status.get("listen")):
                return time.perf_counter() - self.launched_at
            time.sleep(POLL)
        raise RuntimeError(
            f"daemon {self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}"
        )

    def start(self) -> float:
        self.launch()
        return self.wait_ready()

    @property
    def process(self) -> psutil.Process:
        assert self.proc is not None, f"{self.name} is not running"
        return psutil.Process(self.proc.pid)

    def stop(self) -> float:
        """SIGTERM and wait; seconds until the process has exited."""
        assert self.proc is not None
        began = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"daemon {self.name} ignored SIGTERM for 30 s") from None
        finally:
            self.proc = None
        return time.perf_counter() - began

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def init_all(daemons: Iterable[BenchDaemon]) -> None:
    """`citizen init` for many data dirs at once (each is a separate CLI process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(BenchDaemon.init, daemons))


def start_all(daemons: list[BenchDaemon]) -> list[float]:
    """Launch every daemon, then wait for each; their start-to-ready seconds."""
    for d in daemons:
        d.launch()
    return [d.wait_ready() for d in daemons]


def kill_all(daemons: Iterable[BenchDaemon]) -> None:
    for d in daemons:
        d.kill()


def timed_cli(daemon: BenchDaemon, *args: str) -> float:
    """Wall seconds of one `citizen --json ARGS`, process start and exit included."""
    began = time.perf_counter()
    daemon.cli(*args)
    return time.perf_counter() - began


def peak_rss_of(code: str) -> float:
    """Peak RSS in MB of a fresh `python -c CODE`.

    Read from VmHWM in /proc/self/status: `ru_maxrss` would report the parent's
    RSS at fork time when that is larger, since Linux keeps it across exec.
    """
    probe = (
        f"{code}\nimport re\n"
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return int(out.split()[-1]) * 1024 / 1e6  # kB in /proc are KiB
