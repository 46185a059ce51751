"""The [relay] section of config.toml: defaults, small limits for tests, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from citizen.config import CONFIG_NAME, Config, default_config_text, load_config
from citizen.errors import ConfigError
from citizen.net.nat.reachability import RelayOptions


def _load(tmp_path: Path, relay: str) -> Config:
    (tmp_path / CONFIG_NAME).write_text(f"[relay]\n{relay}\n")
    return load_config(tmp_path)


def test_the_documented_defaults_are_relay_options_defaults(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text(default_config_text("Home", "pi"))
    cfg = load_config(tmp_path)
    assert cfg == Config(household_name="Home", device_name="pi")
    o = RelayOptions()
    assert (cfg.relay_serve, cfg.relay_reserve) == (o.serve, o.reserve)
    assert cfg.relay_max_reservations == o.max_reservations
    assert cfg.relay_max_circuits == o.max_circuits
    assert cfg.relay_circuit_minutes * 60 == o.circuit_duration
    assert cfg.relay_circuit_mib * 1024 * 1024 == o.circuit_bytes
    assert cfg.relay_reservation_minutes * 60 == o.reservation_ttl


def test_small_limits_and_switches(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "circuit_mib = 1\ncircuit_minutes = 2\nserve = false\nreserve = false")
    assert cfg.relay_circuit_mib == 1 and cfg.relay_circuit_minutes == 2
    assert not cfg.relay_serve and not cfg.relay_reserve


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("circuit_mib = 0", "relay.circuit_mib must be between 1"),
        ("circuit_minutes = -5", "relay.circuit_minutes must be between 1"),
        ("reservation_minutes = 2", "relay.reservation_minutes must be between 5"),
        ("max_circuits = 0", "relay.max_circuits must be between 1"),
        ("max_reservations = 100000", "relay.max_reservations must be between 1 and 4096"),
        ("circuit_mib = 1.5", "relay.circuit_mib must be int"),
        ("circuit_mib = true", "relay.circuit_mib must be an integer"),
        ('serve = "yes"', "relay.serve must be bool"),
    ],
)
def test_bad_values_say_which_key_and_what_to_do(tmp_path: Path, line: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, line)
    assert says in str(err.value)


def test_relay_must_be_a_table(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text('relay = "on"\n')
    with pytest.raises(ConfigError, match=r"\[relay\]"):
        load_config(tmp_path)
