"""What `citizen status` prints about how friends reach the device."""

from __future__ import annotations

from citizen.cli.daemon import _network_lines


def test_offline_daemon_prints_no_network_lines() -> None:
    assert _network_lines({"reachability": "offline"}) == []
    assert _network_lines({}) == []


def test_behind_nat_with_relay_mapping_error_and_punches() -> None:
    lines = _network_lines(
        {
            "reachability": "behind_nat",
            "observed_addrs": ["/ip4/198.51.100.2/tcp/50000"],
            "relay_addrs": ["/ip4/198.51.100.1/tcp/4747/p2p/RELAY/p2p-circuit"],
            "port_mapping": {"enabled": True, "external_addrs": [], "error": "no gateway"},
            "hole_punch": {"upgraded": 2, "failed": 1},
        }
    )
    assert lines == [
        "Reachable  behind a NAT (friends see /ip4/198.51.100.2/tcp/50000)",
        "Relayed at 1 friend(s): /ip4/198.51.100.1/tcp/4747/p2p/RELAY/p2p-circuit",
        "Router     no port mapping (no gateway)",
        "Hole punch 2 upgraded to direct, 1 stayed relayed",
    ]


def test_public_by_mapping_and_unknown() -> None:
    mapped = {"enabled": True, "method": "upnp", "external_addrs": ["/ip4/1.2.3.4/tcp/4747"]}
    lines = _network_lines({"reachability": "public", "port_mapping": mapped})
    assert lines == [
        "Reachable  public (no friend has said yet)",
        "Router     /ip4/1.2.3.4/tcp/4747 (upnp)",
    ]
    assert _network_lines({"reachability": "unknown", "port_mapping": {"enabled": False}}) == [
        "Reachable  unknown (no friend has said yet)"
    ]
