"""network.port_mapping in config.toml: documented default, switch, clear type errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from citizen.config import CONFIG_NAME, default_config_text, load_config
from citizen.errors import ConfigError


def test_on_by_default_and_documented_as_libp2p_only(tmp_path: Path) -> None:
    text = default_config_text("Home", "pi")
    assert "\nport_mapping = true\n" in text
    comment = text.split("port_mapping = true")[0].rsplit("mdns = true", 1)[1]
    assert "local API and mDNS are never" in comment
    (tmp_path / CONFIG_NAME).write_text(text)
    assert load_config(tmp_path).port_mapping is True
    (tmp_path / CONFIG_NAME).write_text("[network]\nmdns = false\n")
    assert load_config(tmp_path).port_mapping is True  # a missing key is the default


def test_can_be_switched_off(tmp_path: Path) -> None:
    text = default_config_text("Home", "pi").replace("port_mapping = true", "port_mapping = false")
    (tmp_path / CONFIG_NAME).write_text(text)
    cfg = load_config(tmp_path)
    assert cfg.port_mapping is False and cfg.mdns is True


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('"yes"', "network.port_mapping must be bool, not str"),
        ("1", "network.port_mapping must be bool, not int"),
        ('["upnp"]', "network.port_mapping must be bool, not list"),
    ],
)
def test_wrong_type_is_a_clear_error(tmp_path: Path, value: str, says: str) -> None:
    (tmp_path / CONFIG_NAME).write_text(f"[network]\nport_mapping = {value}\n")
    with pytest.raises(ConfigError, match=says) as info:
        load_config(tmp_path)
    assert "Fix config.toml" in str(info.value)
