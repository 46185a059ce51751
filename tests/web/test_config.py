"""The [web] section of config.toml: defaults, and wrong values refused with ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from citizen.config import CONFIG_NAME, default_config_text, read_config
from citizen.errors import ConfigError
from citizen.testing.datadir import keep_off_real_network


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / CONFIG_NAME).write_text(text)
    return tmp_path


def test_default_config_serves_the_lan_on_8385_and_announces_citizen_local(
    tmp_path: Path,
) -> None:
    report = read_config(_write(tmp_path, default_config_text("Home", "pi")))
    cfg = report.config
    assert report.unknown == ()
    assert cfg.web_enabled and cfg.web_address == ("0.0.0.0", 8385)
    assert cfg.web_mdns_name == "citizen" and not cfg.web_localhost_skips_login


def test_test_data_dirs_serve_the_page_on_loopback_and_a_free_port(tmp_path: Path) -> None:
    _write(tmp_path, default_config_text("Home", "pi"))
    keep_off_real_network(tmp_path)
    cfg = read_config(tmp_path).config
    assert cfg.web_address == ("127.0.0.1", 0) and not cfg.mdns


@pytest.mark.parametrize(
    ("text", "address"),
    [('listen = "127.0.0.1:0"', ("127.0.0.1", 0)), ('listen = "[::]:80"', ("::", 80))],
)
def test_listen_takes_an_ip_and_a_port(tmp_path: Path, text: str, address: tuple[str, int]) -> None:
    assert read_config(_write(tmp_path, f"[web]\n{text}\n")).config.web_address == address


@pytest.mark.parametrize(
    "line",
    [
        'listen = "citizen.local:8385"',
        'listen = "0.0.0.0"',
        'listen = "0.0.0.0:65536"',
        'listen = "0.0.0.0:-1"',
        "listen = 8385",
        'enabled = "yes"',
        'mdns_name = "Citizen Home"',
        'mdns_name = "a.b"',
        "localhost_skips_login = 1",
    ],
)
def test_wrong_values_are_a_config_error_with_a_hint(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(_write(tmp_path, f"[web]\n{line}\n"))
    assert caught.value.message
