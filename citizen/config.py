"""The data dir and its TOML config: where things live and the documented defaults."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from citizen.errors import ConfigError

CONFIG_NAME = "config.toml"
SOCKET_NAME = "api.sock"
TOKEN_NAME = "api.token"
LOCK_NAME = "daemon.lock"
DB_NAME = "citizen.db"

log = logging.getLogger(__name__)


#: the data dir of the system service (`citizen service install`)
SERVICE_DATA_DIR = Path("/var/lib/citizen")


def default_data_dir() -> Path:
    """``$CITIZEN_HOME``, else the platform's user data dir (~/.local/share/citizen).

    When that does not exist but the system service's data dir is readable here
    (root, or the service's own user), the service's: `sudo citizen status`
    asks the daemon `citizen service install` set up.
    """
    env = os.environ.get("CITIZEN_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    own = Path(user_data_dir("citizen", appauthor=False))
    try:
        if not own.exists() and (SERVICE_DATA_DIR / CONFIG_NAME).is_file():
            return SERVICE_DATA_DIR
    except OSError:  # not ours to read: stay with our own
        pass
    return own


@dataclass(frozen=True, slots=True)
class Config:
    household_name: str = "citizen household"
    device_name: str = "citizen"
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/4747",)
    mdns: bool = True
    port_mapping: bool = True  # UPnP IGD / NAT-PMP, for the libp2p listen ports only
    keepalive_s: int = 30
    serve_rendezvous: bool = True
    rendezvous_points: tuple[str, ...] = ()
    api_tcp_port: int = 0
    k: int = 0  # 0 with n = 0: chosen from the number of friends (objects/encoding.py)
    n: int = 0
    survive_friends: int = -1  # -1: min(2, friends // 2)
    holder_grace_hours: int = 24
    happiness: int = 0  # unused since puts are local first; old configs still load
    segment_size: int = 1024 * 1024
    offer_mib: int = 10240
    log_level: str = "info"
    # [relay]: what this device offers friends as a relay (see RelayOptions in sync/reachability)
    relay_serve: bool = True
    relay_reserve: bool = True
    relay_max_reservations: int = 16
    relay_max_circuits: int = 8
    relay_circuit_minutes: int = 30
    relay_circuit_mib: int = 128
    relay_reservation_minutes: int = 60
    # [web]: the household's web page on the LAN (citizen/web)
    web_enabled: bool = True
    web_listen: str = "0.0.0.0:8385"
    web_mdns_name: str = "citizen"
    web_localhost_skips_login: bool = False
    # [metrics]: /metrics for a LAN Prometheus, with the read-only DATA_DIR/metrics.token
    metrics_listen: str = ""  # "" is off; "0.0.0.0:9464" serves the LAN

    @property
    def web_address(self) -> tuple[str, int]:
        """`web_listen` as (host, port); checked by `load_config`."""
        return parse_web_listen(self.web_listen)

    @property
    def effective_happiness(self) -> int:
        return self.happiness or self.k + 1


_MDNS_NAME = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$")


def parse_web_listen(text: str) -> tuple[str, int]:
    """``"0.0.0.0:8385"`` or ``"[::]:8385"`` as (host, port); port 0 picks a free one.

    Raises:
        ConfigError: not an IP address and a port.
    """
    host, sep, port = text.rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        number = int(port)
    except ValueError:
        number = -1
    if not sep or not port.isdigit() or not 0 <= number <= 65535:
        raise ConfigError(
            f"web.listen must be an IP address and a port, like 0.0.0.0:8385, not {text!r}.",
            "Fix config.toml: 0.0.0.0:8385 serves the LAN, 127.0.0.1:8385 this machine only.",
        )
    return bare, number


def _toml_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def default_config_text(household_name: str, device_name: str) -> str:
    template = resources.files("citizen").joinpath("config.default.toml").read_text("utf-8")
    return template.replace("{household}", _toml_string(household_name)).replace(
        "{name}", _toml_string(device_name)
    )


def _get(table: dict[str, object], key: str, kind: type, where: str) -> object:
    value = table[key]
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{where}.{key} must be an integer.")
    if not isinstance(value, kind):
        raise ConfigError(
            f"{where}.{key} must be {kind.__name__}, not {type(value).__name__}.",
            "Fix config.toml; the comments there show each default.",
        )
    return value


#: every key config.toml may hold: section -> key -> (Config attribute, TOML type)
SPEC: dict[str, dict[str, tuple[str, type]]] = {
    "household": {"name": ("household_name", str)},
    "device": {"name": ("device_name", str)},
    "network": {
        "listen": ("listen", list),
        "mdns": ("mdns", bool),
        "port_mapping": ("port_mapping", bool),
        "keepalive_s": ("keepalive_s", int),
        "serve_rendezvous": ("serve_rendezvous", bool),
        "rendezvous_points": ("rendezvous_points", list),
    },
    "api": {"tcp_port": ("api_tcp_port", int)},
    "storage": {
        "k": ("k", int),
        "n": ("n", int),
        "survive_friends": ("survive_friends", int),
        "holder_grace_hours": ("holder_grace_hours", int),
        "happiness": ("happiness", int),
        "segment_size": ("segment_size", int),
        "offer_mib": ("offer_mib", int),
    },
    "log": {"level": ("log_level", str)},
    "relay": {
        "serve": ("relay_serve", bool),
        "reserve": ("relay_reserve", bool),
        "max_reservations": ("relay_max_reservations", int),
        "max_circuits": ("relay_max_circuits", int),
        "circuit_minutes": ("relay_circuit_minutes", int),
        "circuit_mib": ("relay_circuit_mib", int),
        "reservation_minutes": ("relay_reservation_minutes", int),
    },
    "web": {
        "enabled": ("web_enabled", bool),
        "listen": ("web_listen", str),
        "mdns_name": ("web_mdns_name", str),
        "localhost_skips_login": ("web_localhost_skips_login", bool),
    },
    "metrics": {"listen": ("metrics_listen", str)},
}
#: Config attribute -> its "section.key" in config.toml
KEY_OF = {
    attr: f"{section}.{key}" for section, keys in SPEC.items() for key, (attr, _) in keys.items()
}


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """What config.toml says: the config, and the keys it holds that mean nothing (typos).

    `unknown` lists "section.key" for an unknown key in a known section and
    "[section]" for an unknown section; the daemon ignores both (and logs them).
    """

    config: Config
    unknown: tuple[str, ...] = ()


def load_config(data_dir: Path) -> Config:
    """Read DATA_DIR/config.toml; a missing file gives the defaults.

    Unknown keys are logged as warnings and otherwise ignored (see `read_config`).

    Raises:
        ConfigError: the file is not TOML or a value has the wrong type or range.
    """
    report = read_config(data_dir)
    for key in report.unknown:
        log.warning("config.toml: unknown key %s is ignored (a typo?)", key)
    return report.config


def changed_keys(old: Config, new: Config) -> tuple[str, ...]:
    """The config.toml keys whose values differ between two configs ("section.key").

    The daemon reads config.toml once, at start: every one of them needs a restart.
    """
    return tuple(
        KEY_OF[attr] for attr in Config.__slots__ if getattr(old, attr) != getattr(new, attr)
    )


def read_config(data_dir: Path) -> ConfigReport:
    """Read DATA_DIR/config.toml: the config and its unknown keys; a missing file: the defaults.

    Raises:
        ConfigError: the file is not TOML or a value has the wrong type or range.
    """
    path = data_dir / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return ConfigReport(Config())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.", "Fix or delete the file.") from exc
    values: dict[str, object] = {}
    unknown: list[str] = []
    for section, value in raw.items():
        if section not in SPEC:
            unknown.append(f"[{section}]")
        elif isinstance(value, dict):
            unknown.extend(f"{section}.{key}" for key in value if key not in SPEC[section])
    for section, keys in SPEC.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] in {path} must be a table.")
        for key, (attr, kind) in keys.items():
            if key in table:
                value = _get(table, key, kind, section)
                if isinstance(value, list):
                    if not all(isinstance(v, str) for v in value):
                        raise ConfigError(f"{section}.{key} must be a list of strings.")
                    value = tuple(value)
                values[attr] = value
    cfg = Config(**values)  # type: ignore[arg-type]
    if not (0 <= cfg.k <= cfg.n <= 32):
        raise ConfigError("storage.k and storage.n need 0 <= k <= n <= 32 (0: automatic).")
    if not 0 < cfg.holder_grace_hours <= 24 * 365:
        raise ConfigError(
            f"storage.holder_grace_hours must be 1 to {24 * 365}, not {cfg.holder_grace_hours}.",
            "Fix config.toml; 24 stops counting a friend unheard of for a day.",
        )
    if cfg.log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError("log.level must be debug, info, warning or error.")
    if not (0 <= cfg.api_tcp_port <= 65535):
        raise ConfigError("api.tcp_port must be 0 (off) or a port number.")
    if not (0 <= cfg.keepalive_s <= 3600):
        raise ConfigError(
            f"network.keepalive_s must be 0 (off) or 1 to 3600 seconds, not {cfg.keepalive_s}.",
            "Fix config.toml; 30 pings each friend connection every 30 s.",
        )
    _check_relay(cfg)
    _check_storage(cfg)
    parse_web_listen(cfg.web_listen)
    if cfg.metrics_listen:
        try:
            parse_web_listen(cfg.metrics_listen)
        except ConfigError as exc:
            raise ConfigError(
                exc.message.replace("web.listen", "metrics.listen").replace("8385", "9464"),
                'Fix config.toml: "" is off, 0.0.0.0:9464 serves the LAN.',
            ) from exc
    if not _MDNS_NAME.match(cfg.web_mdns_name):
        raise ConfigError(
            f"web.mdns_name must be one DNS label (a-z, 0-9, -), not {cfg.web_mdns_name!r}.",
            'Fix config.toml: "citizen" announces citizen.local; "" announces nothing.',
        )
    return ConfigReport(cfg, tuple(unknown))


def _check_storage(cfg: Config) -> None:
    if not 0 <= cfg.happiness <= 32:
        raise ConfigError(
            f"storage.happiness must be between 0 (k + 1) and 32, not {cfg.happiness}.",
            "Fix config.toml; 0 asks for k + 1 distinct friend households per put.",
        )
    if not 1 <= cfg.segment_size <= 64 * 1024 * 1024:
        raise ConfigError(
            f"storage.segment_size must be between 1 and 67108864 bytes, not {cfg.segment_size}.",
            "Fix config.toml; the default 1048576 (1 MiB) suits a Pi.",
        )
    if cfg.offer_mib < 0:
        raise ConfigError(
            f"storage.offer_mib must be 0 or more MiB, not {cfg.offer_mib}.",
            "Fix config.toml; 0 offers friends no storage.",
        )


def _check_relay(cfg: Config) -> None:
    # lowest and highest allowed; the highest keep the relay's wire limits in range
    ranges = {
        "max_reservations": (cfg.relay_max_reservations, 1, 4096),
        "max_circuits": (cfg.relay_max_circuits, 1, 4096),
        "circuit_minutes": (cfg.relay_circuit_minutes, 1, 1_000_000),
        "circuit_mib": (cfg.relay_circuit_mib, 1, 1 << 30),
        # a reservation is renewed 2 minutes before it ends: shorter ones would churn
        "reservation_minutes": (cfg.relay_reservation_minutes, 5, 1_000_000),
    }
    for key, (value, low, high) in ranges.items():
        if not low <= value <= high:
            raise ConfigError(
                f"relay.{key} must be between {low} and {high}, not {value}.",
                "Fix config.toml (its comments show each default); to stop relaying"
                " for friends, set relay.serve = false instead.",
            )
