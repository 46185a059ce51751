"""Daemon commands: `run` (the daemon itself) and `status` (asks it)."""

from __future__ import annotations

from typing import Any

import click

from citizen.cli.output import Out


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option(
        "--listen", multiple=True, help="Multiaddr to listen on (repeatable; overrides config)."
    )
    @click.option("--offline", is_flag=True, help="No network at all: local API only.")
    @click.pass_obj
    def run(out: Out, listen: tuple[str, ...], offline: bool) -> None:
        """Run the daemon in the foreground (SIGINT/SIGTERM stop it cleanly)."""
        import os

        import trio

        from citizen.config import load_config
        from citizen.identity.keystore import Keystore
        from citizen.logs import setup_logging
        from citizen.node import NodeOptions, run_node

        if not Keystore(out.data_dir).exists():
            from citizen.errors import IdentityError

            raise IdentityError(
                f"{out.data_dir} has no identity yet.", "Run `citizen init --name NAME` first."
            )
        setup_logging(load_config(out.data_dir).log_level)
        options = NodeOptions(
            data_dir=out.data_dir,
            listen=listen or None,
            offline=offline,
            passphrase=os.environ.get("CITIZEN_PASSPHRASE"),
        )
        trio.run(run_node, options)

    @cli.command()
    @click.pass_obj
    def status(out: Out) -> None:
        """Ask the running daemon how it is."""
        from citizen.api.client import LocalClient

        data = LocalClient(out.data_dir, timeout=10).request("GET", "/v1/status")
        assert isinstance(data, dict)
        lines = [
            f"Household  {data['household']} ({data['household_name']})",
            f"Device     {data['device']} ({data['device_name']})",
            f"Listening  {', '.join(data['listen']) or 'offline'}",
            f"Uptime     {data['uptime_s']:.0f} s",
            f"Friends    {data['friends']}",
            *_object_lines(data),
            *_network_lines(data),
        ]
        out.emit(data, "\n".join(lines))


def _object_lines(data: dict[str, Any]) -> list[str]:
    """Objects per protection state (`citizen ls` shows each one)."""
    counts = data.get("objects")
    if not counts:
        return []
    shown = ", ".join(f"{counts[k]} {k}" for k in ("protected", "spreading", "local only"))
    return [f"Objects    {shown}"]


def _network_lines(data: dict[str, Any]) -> list[str]:
    """How friends reach this device: reachability, relays, router mapping, hole punches."""
    state = data.get("reachability")
    if state in (None, "offline"):
        return []
    observed = ", ".join(data.get("observed_addrs") or [])
    seen = f"friends see {observed}" if observed else "no friend has said yet"
    label = {"public": "public", "behind_nat": "behind a NAT", "unknown": "unknown"}
    lines = [f"Reachable  {label.get(state, str(state))} ({seen})"]
    relays = data.get("relay_addrs") or []
    if relays:
        lines.append(f"Relayed at {len(relays)} friend(s): {', '.join(relays)}")
    mapping = data.get("port_mapping") or {}
    if mapping.get("external_addrs"):
        method = mapping.get("method") or "router"
        lines.append(f"Router     {', '.join(mapping['external_addrs'])} ({method})")
    elif mapping.get("enabled"):
        lines.append(f"Router     no port mapping ({mapping.get('error') or 'none yet'})")
    punch = data.get("hole_punch") or {}
    if punch.get("upgraded") or punch.get("failed"):
        lines.append(
            f"Hole punch {punch.get('upgraded', 0)} upgraded to direct, "
            f"{punch.get('failed', 0)} stayed relayed"
        )
    return lines
