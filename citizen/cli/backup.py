"""`citizen backup`: the household backup on friends (status, or back up now)."""

from __future__ import annotations

import click

from citizen.api.client import LocalClient
from citizen.cli.output import Out


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--now", is_flag=True, help="Seal and push a backup to friends right now.")
    @click.pass_obj
    def backup(out: Out, now: bool) -> None:
        """Show which friends hold the latest household backup."""
        client = LocalClient(out.data_dir)
        data = client.request("POST" if now else "GET", "/v1/backup")
        assert isinstance(data, dict)
        lines = [f"Backup version {data['version'] or 'none yet'}"]
        for f in data["friends"]:
            state = "current" if f["current"] else f"older ({f['version']})"
            lines.append(f"  {f['name']}  {state}")
        if data.get("recovering"):
            lines.append(f"Recovering from friends... {data.get('recovery_error') or ''}")
        out.emit(data, "\n".join(lines))
