"""The foundation through the real CLI: init, run, status, stop, and the refusals."""

from __future__ import annotations

import signal
import stat
from collections.abc import Callable

from tests.daemons import Daemon


def test_init_run_status_stop(make_daemon: Callable[[str], Daemon]) -> None:
    a = make_daemon("alpha")
    created = a.init()
    keys = a.data_dir / "keys"
    for name in ("household.key", "device.key", "device.cert"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
    assert "# Storage offered to each friend" in (a.data_dir / "config.toml").read_text()

    a.start()
    status = a.status()
    assert status["household"] == created["household"]
    assert status["device"] == created["device"]
    assert status["household_name"] == "alpha"
    assert status["listen"] and status["listen"][0].startswith("/ip4/127.0.0.1/tcp/")
    assert stat.S_IMODE((a.data_dir / "api.sock").stat().st_mode) == 0o600

    second = a.cli("run", "--listen", "/ip4/127.0.0.1/tcp/0", check=False)
    assert second.returncode != 0
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr

    before = sorted(p.name for p in keys.iterdir())
    assert a.stop(signal.SIGTERM) == 0
    assert sorted(p.name for p in keys.iterdir()) == before
    assert not (a.data_dir / "api.sock").exists()

    down = a.cli("status", check=False)
    assert down.returncode != 0
    assert "No citizen daemon is running" in down.stderr

    # it starts again on the same data dir with the same identity (offline: local API only)
    a.start("--offline")
    status = a.status()
    assert status["household"] == created["household"] and status["offline"] is True
    assert a.stop(signal.SIGINT) == 0


def test_init_twice_refuses_and_changes_nothing(make_daemon: Callable[[str], Daemon]) -> None:
    a = make_daemon("alpha")
    a.init()
    before = {p.name: p.read_bytes() for p in (a.data_dir / "keys").iterdir()}
    again = a.cli("init", "--name", "other", check=False)
    assert again.returncode == 1
    assert "already has an identity" in again.stderr
    assert {p.name: p.read_bytes() for p in (a.data_dir / "keys").iterdir()} == before


def test_passphrase_and_recovery(make_daemon: Callable[[str], Daemon]) -> None:
    a = make_daemon("alpha")
    created = a.json(
        "init", "--name", "alpha", "--passphrase", env={"CITIZEN_PASSPHRASE": "correct horse"}
    )
    assert created["sealed"] is True
    # without the passphrase, backup fails clearly
    no_pass = a.cli("key", "backup", check=False)
    assert no_pass.returncode == 1 and "passphrase" in no_pass.stderr.lower()
    assert "Traceback" not in no_pass.stderr
    wrong = a.cli("key", "backup", check=False, env={"CITIZEN_PASSPHRASE": "wrong horse"})
    assert wrong.returncode == 1 and "Wrong passphrase" in wrong.stderr
    phrase = a.json("key", "backup", env={"CITIZEN_PASSPHRASE": "correct horse"})["phrase"]
    assert len(phrase.split()) == 24

    b = make_daemon("restored")
    words = phrase.split()
    words[3], words[4] = words[4], words[3]
    if words == phrase.split():  # the two swapped words were equal: use another mistake
        words[0] = "zoo" if words[0] != "zoo" else "abandon"
    bad = b.cli("init", "--recover", input=" ".join(words) + "\n", check=False)
    assert bad.returncode == 1 and "phrase" in bad.stderr.lower()
    assert not (b.data_dir / "keys").exists()

    restored = b.json("init", "--recover", "--device-name", "new-pi", input=phrase + "\n")
    assert restored["household"] == created["household"]
    assert restored["device"] != created["device"]


def test_id_prints_checked_fingerprint(make_daemon: Callable[[str], Daemon]) -> None:
    a = make_daemon("alpha")
    created = a.init()
    text = a.cli("id", json_out=False).stdout.strip()
    assert text == created["household"]
    groups = text.split("-")
    assert len(groups) == 4 and all(len(g) == 9 for g in groups)


def test_tampered_key_file_is_a_clear_error(make_daemon: Callable[[str], Daemon]) -> None:
    a = make_daemon("alpha")
    a.init()
    key = a.data_dir / "keys" / "device.key"
    key.write_bytes(key.read_bytes()[:-5])
    result = a.cli("run", "--listen", "/ip4/127.0.0.1/tcp/0", check=False)
    assert result.returncode == 1
    assert "damaged" in result.stderr and "Traceback" not in result.stderr
