"""Daemon commands: `run` (the daemon itself) and `status` (asks it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from citizen.cli.output import Out

if TYPE_CHECKING:
    from citizen.node import NodeOptions


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
        from citizen.node import NodeOptions

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
        trio.run(_run_and_welcome, options, _prefix(out))

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
            f"Friends    {data['friends']} ({data['friends_online']} online)",
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


def _prefix(out: Out) -> str:
    """How the next steps spell the command: with --data-dir unless it is the default."""
    from citizen.config import default_data_dir

    same = out.data_dir == default_data_dir().absolute()
    return "citizen" if same else f"citizen --data-dir {out.data_dir}"


def welcome_text(cli: str) -> str:
    """What to do next, printed once the daemon is ready while the household has no friend."""
    return "\n".join(
        [
            "Citizen is running. Next (shown until you have a friend):",
            f"  - Pair with a friend's household: {cli} invite   (they run `citizen accept CODE`)",
            f"  - Or from a phone: {cli} web   (the page's address, QR code and a login code)",
            f"  - Back up the household key on paper: {cli} key backup --sheet recovery.txt",
            f"  - Check this Pi: {cli} doctor;  start it at boot: sudo citizen service install",
        ]
    )


async def _run_and_welcome(options: NodeOptions, cli: str) -> None:
    import trio

    from citizen.node import Node

    node = Node(options)

    async def welcome() -> None:
        await node.ready.wait()
        if node.friend_store is not None and node.friend_store.count() == 0:
            click.echo(welcome_text(cli), err=True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(welcome)
        await node.run()
        nursery.cancel_scope.cancel()


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
