"""`citizen service install|status|uninstall` into a throwaway root, and the daemon its unit starts.

systemd does not run here, so the test does what it would: checks the unit
(`systemd-analyze verify` where installed), then runs the unit's ExecStart
line as the unit's User= and asks the daemon for its status.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from citizen.cli.unit import UnitOptions, exec_start_of, unit_text, value_of

UNIT = "etc/systemd/system/citizen.service"
WANTS = "etc/systemd/system/multi-user.target.wants/citizen.service"


def test_the_unit_runs_the_daemon_confined_as_its_user() -> None:
    o = UnitOptions(command=("/opt/citizen/bin/citizen",))
    text = unit_text(o)
    want = {
        "User": "citizen",
        "Group": "citizen",
        "ExecStart": "/opt/citizen/bin/citizen --data-dir /var/lib/citizen run",
        "Restart": "on-failure",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/citizen",
        "StateDirectory": "citizen",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "MemoryMax": "512M",
        "StandardOutput": "journal",
        "WantedBy": "multi-user.target",
    }
    assert {key: value_of(text, key) for key in want} == want
    assert exec_start_of(text) == [
        "/opt/citizen/bin/citizen",
        "--data-dir",
        "/var/lib/citizen",
        "run",
    ]


def test_code_under_a_home_keeps_homes_readable_and_odd_paths_are_quoted() -> None:
    o = UnitOptions(
        command=("/home/pi/my venv/bin/python", "-m", "citizen"),
        user="pi",
        data_dir=PurePosixPath("/srv/citizen data"),
        code_paths=(PurePosixPath("/home/pi/my venv/bin/python"),),
    )
    text = unit_text(o)
    assert value_of(text, "ProtectHome") == "read-only"
    assert value_of(text, "StateDirectory") is None  # only for a dir under /var/lib
    in_home = UnitOptions(command=("/opt/c/bin/citizen",), data_dir=PurePosixPath("/home/pi/d"))
    assert value_of(unit_text(in_home), "ProtectHome") == "read-only"
    assert value_of(unit_text(in_home), "ReadWritePaths") == "/home/pi/d"
    assert exec_start_of(text) == [
        "/home/pi/my venv/bin/python",
        "-m",
        "citizen",
        "--data-dir",
        "/srv/citizen data",
        "run",
    ]


# -- a real install into a throwaway root ------------------------------------------------------


def _runs_as(user: str, python: str) -> bool:
    done = subprocess.run(
        ["runuser", "-u", user, "--", python, "-c", "import citizen.cli"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def python_for_nobody() -> Iterator[str]:
    """An interpreter with citizen on its path that the user nobody may run.

    The test venv's python may live where other users cannot go (a pyenv under
    /root); then a venv of the system python of the same version borrows this
    venv's site-packages.
    """
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("installing a service as another user needs root and runuser")
    if _runs_as("nobody", sys.executable):
        yield sys.executable
        return
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        pytest.skip(f"nobody cannot run {sys.executable} and there is no {system}")
    venv = Path(tempfile.mkdtemp(prefix="citizen-py-", dir="/tmp"))
    # an embedded node earlier in this process set umask 077 (Node.run): the venv must be
    # readable by nobody
    umask = os.umask(0o022)
    try:
        venv.chmod(0o755)
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
        ours = sysconfig.get_paths()["purelib"]
        theirs = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        (theirs / "site-packages" / "citizen-test.pth").write_text(
            f"import site; site.addsitedir({ours!r})\n"
        )
        python = str(venv / "bin" / "python")
        if not _runs_as("nobody", python):
            pytest.skip("nobody cannot import citizen even from a system-python venv")
        yield python
    finally:
        os.umask(umask)
        shutil.rmtree(venv)


@pytest.fixture
def root() -> Iterator[Path]:
    # under /tmp, not pytest's 0700 tmp_path: the unit's user must reach its data dir
    path = Path(tempfile.mkdtemp(prefix="citizen-root-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _citizen(python: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CITIZEN_HOME"}
    done = subprocess.run(
        [python, "-m", "citizen", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^Uid:\s+(\d+)", status, re.M)
    assert match, status
    return int(match.group(1))


def test_install_start_as_the_unit_user_status_and_uninstall(
    python_for_nobody: str, root: Path
) -> None:
    python = python_for_nobody
    dry = json.loads(
        _citizen(python, "--json", "service", "install", "--root", str(root), "--dry-run").stdout
    )
    assert dry["dry_run"] and list(root.iterdir()) == []  # a dry run changes nothing

    done = _citizen(
        python, "service", "install", "--root", str(root), "--user", "nobody", "--name", "Home"
    )
    assert "citizen invite" in done.stdout and "key backup" in done.stdout  # what to do next
    unit = (root / UNIT).read_text()
    assert value_of(unit, "User") == "nobody"
    assert value_of(unit, "Group") == grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    assert os.readlink(root / WANTS) == "/etc/systemd/system/citizen.service"
    data = root / "var/lib/citizen"
    assert (data / "keys").is_dir() and data.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert data.stat().st_mode & 0o777 == 0o700

    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(root / UNIT)], capture_output=True, text=True
        )
        assert verify.returncode == 0, verify.stderr
        assert "Unknown" not in verify.stderr, verify.stderr

    status = json.loads(_citizen(python, "--json", "service", "status", "--root", str(root)).stdout)
    assert (status["installed"], status["enabled"]) == (True, True)

    # start the daemon the way systemd would: the ExecStart line, as User=, off the real network
    config = data / "config.toml"
    text = config.read_text().replace("/ip4/0.0.0.0/tcp/4747", "/ip4/127.0.0.1/tcp/0")
    text = text.replace("mdns = true", "mdns = false").replace(
        "port_mapping = true", "port_mapping = false"
    )
    config.write_text(text.replace('listen = "0.0.0.0:8385"', 'listen = "127.0.0.1:0"'))
    argv = [a.replace("/var/lib/citizen", str(data)) for a in exec_start_of(unit)]
    proc = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60  # bounds a hang; the loop waits for the answer
        while True:
            asked = _citizen(python, "--json", "--data-dir", str(data), "status", check=False)
            if asked.returncode == 0:
                break
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, asked.stderr
            time.sleep(0.2)
        answer = json.loads(asked.stdout)
        assert answer["household_name"] == "Home"
        assert _uid_of(answer["pid"]) == pwd.getpwnam("nobody").pw_uid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    gone = json.loads(
        _citizen(python, "--json", "service", "uninstall", "--root", str(root)).stdout
    )
    assert len(gone["steps"]) == 2
    assert not (root / UNIT).exists() and not (root / WANTS).is_symlink()
    assert (data / "keys").is_dir()  # the household key stays


def test_logs_reads_the_units_journal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from citizen.cli import cli, service

    ran: list[list[str]] = []
    monkeypatch.setattr(service.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(service.os, "execvp", lambda _file, argv: ran.append(argv))
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "logs", "-f", "-n", "20"])
    assert result.exit_code == 0, result.output
    assert ran == [
        ["journalctl", "--unit", "citizen.service", "--lines", "20", "--no-pager", "--follow"]
    ]
    monkeypatch.setattr(service.shutil, "which", lambda _name: None)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "logs"])
    assert isinstance(result.exception, service.ServiceError)
    assert "citizen run" in result.exception.hint


def test_without_a_data_dir_of_its_own_the_cli_finds_the_services(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from citizen import config

    service = tmp_path / "var-lib-citizen"
    monkeypatch.setattr(config, "SERVICE_DATA_DIR", service)
    monkeypatch.delenv("CITIZEN_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home-data"))
    own = tmp_path / "home-data" / "citizen"
    assert config.default_data_dir() == own  # no service either: our own
    service.mkdir()
    (service / "config.toml").write_text("")
    assert config.default_data_dir() == service  # `sudo citizen status` asks the service
    own.mkdir(parents=True)
    assert config.default_data_dir() == own  # a data dir of our own wins
    monkeypatch.setenv("CITIZEN_HOME", str(tmp_path / "elsewhere"))
    assert config.default_data_dir() == tmp_path / "elsewhere"
