"""`citizen web` without a daemon serving the page, and `citizen web passphrase`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from citizen.cli import cli
from citizen.testing.datadir import init_data_dir
from citizen.web.auth import check_passphrase


def test_web_says_when_no_daemon_serves_the_page(tmp_path: Path) -> None:
    init_data_dir(tmp_path / "home", "Home")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "home"), "web"])
    assert result.exit_code != 0
    assert "does not serve the web page" in str(result.exception)


def test_web_passphrase_sets_what_the_login_accepts(tmp_path: Path) -> None:
    data_dir = tmp_path / "home"
    init_data_dir(data_dir, "Home")
    runner = CliRunner()
    args = ["--data-dir", str(data_dir), "--json", "web", "passphrase"]
    short = runner.invoke(cli, args, input="short\nshort\n")
    assert short.exit_code != 0 and not (data_dir / "web" / "passphrase").exists()
    result = runner.invoke(cli, args, input="tea at five o'clock\ntea at five o'clock\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :]) == {"passphrase": True}
    assert (data_dir / "web" / "passphrase").stat().st_mode & 0o777 == 0o600
    assert check_passphrase(data_dir, "tea at five o'clock")
    assert not check_passphrase(data_dir, "tea at six o'clock")
