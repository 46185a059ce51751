"""Machine facts the doctor gathers: config.toml typos, free space on a real tmpfs, SD writes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from citizen.config import Config, default_config_text
from citizen.health.checks import DiskFacts, check_config, check_disk
from citizen.health.system import config_facts, parse_diskstats, place


def _write(data_dir: Path, text: str) -> None:
    (data_dir / "config.toml").write_text(text)


def test_a_typo_in_config_toml_is_reported(tmp_path: Path) -> None:
    text = default_config_text("Home", "pi")
    _write(tmp_path, text.replace("mdns = true", "mdsn = true") + "\n[storag]\nk = 2\n")
    facts = config_facts(tmp_path, None)
    assert facts.unknown == ("network.mdsn", "[storag]")
    assert [v.level for v in check_config(facts)] == ["warn"]
    _write(tmp_path, text)
    assert [v.level for v in check_config(config_facts(tmp_path, None))] == ["ok"]


def test_an_out_of_range_value_fails_and_a_change_needs_a_restart(tmp_path: Path) -> None:
    _write(tmp_path, "[storage]\nk = 9\nn = 5\n")  # k > n
    verdicts = check_config(config_facts(tmp_path, None))
    assert [v.level for v in verdicts] == ["fail"] and "storage.k" in verdicts[0].message
    _write(tmp_path, "[network]\nkeepalive_s = 10\n")
    changed = config_facts(tmp_path, Config())
    assert changed.changed == ("network.keepalive_s",)
    assert [v.level for v in check_config(changed)] == ["warn"]
    _write(tmp_path, "[network]\nkeepalive_s = 30\n")
    assert config_facts(tmp_path, Config()).changed == ()


def test_sd_card_writes_per_day_from_diskstats() -> None:
    text = (
        "   8       0 sda 1 0 2 0 10 0 999999 0 0 0 0 0 0 0 0 0 0\n"
        " 179       0 mmcblk0 5 0 10 0 7 0 4194304 0 0 0 0 0 0 0 0 0 0\n"
        " 179       1 mmcblk0p1 5 0 10 0 7 0 2048 0 0 0 0 0 0 0 0 0 0\n"
    )
    # 4194304 sectors = 2 GiB in half a day: 4 GiB a day; sda and the partition are left out
    assert parse_diskstats(text, 43200) == {"mmcblk0": 4 * 1024**3}


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "shares"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN?)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_nearly_full_tmpfs_under_the_share_store_fails(small_tmpfs: Path) -> None:
    # the floors scaled down to the 8 MiB tmpfs: 1 MiB free fails, 2 MiB warns
    def level() -> list[str]:
        facts = DiskFacts(places=(place("share store", small_tmpfs),))
        return [v.level for v in check_disk(facts, fail_below=1 << 20, warn_below=2 << 20)]

    assert level() == ["ok"]
    with (small_tmpfs / "big").open("wb") as f:
        f.write(b"\0" * (7 << 20) + b"\0" * (512 << 10))
    assert level() == ["fail"]
