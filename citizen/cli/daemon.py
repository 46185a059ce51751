"""Daemon commands: `run` (the daemon itself) and `status` (asks it)."""

from __future__ import annotations

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
        ]
        out.emit(data, "\n".join(lines))
